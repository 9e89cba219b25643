"""The ReportsService gRPC servicer: authorise over the reports' own units tree, compute, convert."""

from __future__ import annotations

import time
from typing import Any, TypeAlias

import grpc
import sqlalchemy as sa

from services.core.auth import ROLE_ADMIN, ROLE_CELL_COMMITTEE, ROLE_CELL_DEPUTY, ROLE_CELL_SECRETARY, ROLE_EDITOR
from services.core.db import Database
from services.core.errors import PermissionDenied
from services.core.ids import require_id
from services.core.interceptors import current_principal
from services.core.paging import next_token, page_window
from services.core.timestamps import timestamp
from services.reports import consumers, exemptions, figures, periods, review, workbook
from sotay.reports.v1 import reports_pb2 as pb
from sotay.reports.v1 import reports_pb2_grpc

Ctx: TypeAlias = grpc.ServicerContext
READERS = (ROLE_ADMIN, ROLE_EDITOR, ROLE_CELL_SECRETARY, ROLE_CELL_DEPUTY, ROLE_CELL_COMMITTEE)
PUBLIC_METHODS: set[str] = set()


def _unit_for(conn: Any, unit_id: str, roles: tuple[str, ...]) -> figures.Unit:
    uid = require_id(unit_id, "unit_id", "unit")
    found = figures.unit(conn, uid)
    if not current_principal().has_role_over(figures.chain(found), *roles):
        raise PermissionDenied("not_allowed", "you may not see or change the reports of this unit", unit_id=uid)
    return found


def membership_msg(m: figures.Membership) -> pb.Membership:
    return pb.Membership(**{name: getattr(m, name) for name in m.__dataclass_fields__})


def adoption_msg(a: figures.Adoption) -> pb.Adoption:
    return pb.Adoption(
        members=a.members, activated=a.activated, active=a.active,
        activated_percent=a.activated_percent, active_percent=a.active_percent,
    )


def meetings_fields(m: figures.MeetingCounts) -> dict[str, Any]:
    """The fields of a pb.MeetingCounts (a message field takes them as they are)."""
    return {
        "held": m.held, "part1": m.part1, "part2": m.part2, "part3": m.part3, "all_three": m.all_three,
        "attended": m.attended, "expected": m.expected, "attendance_percent": m.attendance_percent,
        "ratings": m.ratings,
    }


def meetings_msg(m: figures.MeetingCounts) -> pb.MeetingCounts:
    return pb.MeetingCounts(**meetings_fields(m))


def feedback_msg(f: figures.FeedbackCounts) -> pb.FeedbackCounts:
    return pb.FeedbackCounts(received=f.received, answered=f.answered, escalated=f.escalated)


def bulletins_msg(b: figures.BulletinCounts) -> pb.BulletinCounts:
    return pb.BulletinCounts(bulletins=b.bulletins, expected=b.expected, read=b.read, read_percent=b.read_percent)


def tasks_msg(t: figures.TaskCounts) -> pb.TaskCounts:
    return pb.TaskCounts(due=t.due, on_time=t.on_time, late=t.late, overdue=t.overdue, pending=t.pending,
                         on_time_percent=t.on_time_percent)


def report_msg(r: figures.Report, omit_cell_months: bool = False, max_cells: int = 0) -> pb.GetReportResponse:
    s = r.meetings
    msg = pb.GetReportResponse(
        period=pb.Period(label=r.period.label, from_date=r.period.first.isoformat(), to_date=r.period.last.isoformat()),
        unit_id=r.unit_id,
        unit_name=r.unit_name,
        membership=membership_msg(r.membership),
        adoption=adoption_msg(r.adoption),
        meetings=pb.MeetingsSummary(
            cells=s.cells, rollout_exempt_cells=s.rollout_exempt_cells, rollout_cells=s.rollout_cells,
            cells_using=s.cells_using, cells_part1=s.cells_part1, cells_part2=s.cells_part2,
            cells_part3=s.cells_part3, cells_all_three=s.cells_all_three, meetings=meetings_msg(s.meetings),
        ),
        documents_posted=r.documents_posted,
        documents_by_unit=[pb.UnitDocuments(unit_id=u, name=n, documents_posted=c) for u, n, c in r.documents_by_unit],
        study=[
            pb.CategoryRow(category=c.category, documents_posted=c.documents_posted, study_marks=c.study_marks,
                           studied_members=c.studied_members, study_percent=c.study_percent)
            for c in r.categories
        ],
        studied_members=r.studied_members,
        study_percent=r.study_percent,
        feedback=feedback_msg(r.feedback),
        months=[pb.MonthCounts(month=m, meetings=meetings_msg(c)) for m, c in r.months],
        computed_at=timestamp(time.time()),
        bulletins=bulletins_msg(r.bulletins),
        bulletin_kinds=[pb.BulletinKind(kind=k, counts=bulletins_msg(b)) for k, b in r.bulletin_kinds],
        tasks=tasks_msg(r.tasks),
    )
    # The long lists item by item, each built in place (a message given to a list is copied).
    add_cell = msg.cells.add
    for c in r.cells[:max_cells] if max_cells > 0 else r.cells:
        add_cell(
            unit_id=c.unit_id, name=c.name, parent_name=c.parent_name, rollout_exempt=c.rollout_exempt,
            rollout_exempt_reason=c.exempt_reason or "", membership=membership_msg(c.membership),
            adoption=adoption_msg(c.adoption), meetings=meetings_msg(c.meetings),
            did_part1=c.did("part1"), did_part2=c.did("part2"), did_part3=c.did("part3"),
            did_all_three=c.did("all_three"), studied_members=c.studied_members,
            feedback=feedback_msg(c.feedback), bulletins=bulletins_msg(c.bulletins), tasks=tasks_msg(c.tasks),
        )
    if not omit_cell_months:
        add_month = msg.cell_months.add
        for u, month, counts in r.cell_months:
            add_month(unit_id=u, month=month, meetings=meetings_fields(counts))
    return msg


def exemption_msg(row: Any) -> pb.CellExemption:
    return pb.CellExemption(
        unit_id=row.unit_id, name=row.name, reason=row.reason, set_by_account_id=row.set_by_account_id,
        set_at=timestamp(row.set_at),
    )


class ReportsServicer(reports_pb2_grpc.ReportsServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    def _report(self, request: pb.GetReportRequest, with_cell_months: bool = True) -> figures.Report:
        period = periods.parse(request.period, request.from_date, request.to_date)
        with self.db.read() as conn:
            root = _unit_for(conn, request.unit_id, READERS)
            return figures.build(conn, root, period, with_cell_months=with_cell_months, db=self.db)

    def GetReport(self, request: pb.GetReportRequest, context: Ctx) -> pb.GetReportResponse:
        report = self._report(request, with_cell_months=not request.omit_cell_months)
        return report_msg(report, request.omit_cell_months, request.max_cells)

    def ExportReport(self, request: pb.ExportReportRequest, context: Ctx) -> pb.ExportReportResponse:
        report = self._report(request.report)
        p = report.period
        return pb.ExportReportResponse(
            filename=f"bao-cao-{p.first.isoformat()}-{p.last.isoformat()}.xlsx",
            content_type=workbook.MEDIA_TYPE,
            content=workbook.render(report),
        )

    def ExportReview(self, request: pb.ExportReviewRequest, context: Ctx) -> pb.ExportReviewResponse:
        heading = review.Heading(request.committee, request.number, request.place)
        heading.check()
        report = self._report(request.report, with_cell_months=False)
        p = report.period
        return pb.ExportReviewResponse(
            filename=f"so-ket-{p.first.isoformat()}-{p.last.isoformat()}.docx",
            content_type=review.MEDIA_TYPE,
            content=review.render(report, heading),
        )

    def SetCellExemption(self, request: pb.SetCellExemptionRequest, context: Ctx) -> pb.SetCellExemptionResponse:
        with self.db.write() as conn:
            cell = _unit_for(conn, request.unit_id, (ROLE_ADMIN,))
            row = exemptions.set_exemption(conn, cell, request.exempt, request.reason, current_principal().account_id)
        return pb.SetCellExemptionResponse(exemption=exemption_msg(row) if row is not None else None)

    def GetStatus(self, request: pb.GetStatusRequest, context: Ctx) -> pb.GetStatusResponse:
        current_principal()  # signed in
        with self.db.read() as conn:
            cursors = {r.source: r.seq for r in conn.execute(sa.text("SELECT source, seq FROM event_cursors"))}
        return pb.GetStatusResponse(
            sources=[pb.SourceStatus(source=s, applied_seq=int(cursors.get(s, 0))) for s in consumers.TOPICS]
        )

    def ListCellExemptions(
        self, request: pb.ListCellExemptionsRequest, context: Ctx
    ) -> pb.ListCellExemptionsResponse:
        size, offset = page_window(request)
        with self.db.read() as conn:
            root = _unit_for(conn, request.unit_id, READERS)
            rows, total = exemptions.listed(conn, root, offset, size)
        return pb.ListCellExemptionsResponse(
            exemptions=[exemption_msg(r) for r in rows], next_page_token=next_token(offset, size, len(rows), total)
        )
