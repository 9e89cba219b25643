"""The province's measure (the seed's "3 of 12 cells did all three parts") and task reminders."""

from __future__ import annotations

import datetime as dt
import json

import grpc
import sqlalchemy as sa

from services.meetings.tasks import VN, remind_due
from sotay.identity.v1 import identity_pb2 as ipb
from sotay.meetings.v1 import meetings_pb2 as pb
from tests.unit.meetings.conftest import Cell, World, expect_error, new_meeting, started, vote

PAIR = [("Bí thư", "official", False), ("Đảng viên", "official", False)]


def scores(w: World) -> list[pb.CriterionScore]:
    rubric = w.stub.GetRubric(pb.GetRubricRequest(), metadata=w.admin).rubric
    # Criteria the record decides are left out: the service fills them in from the record.
    return [pb.CriterionScore(criterion_id=c.id, points=c.max_points) for c in rubric.criteria if not c.computed]


def hold(w: World, cell: Cell, documents: bool, vote_and_score: bool, follow_up: bool) -> str:
    sec = cell.secretary.auth
    if documents:
        m = started(w, cell)
    else:
        m = new_meeting(w, cell)
        w.stub.AnnounceMeeting(pb.AnnounceMeetingRequest(meeting_id=m.id), metadata=sec)
        w.stub.StartMeeting(pb.StartMeetingRequest(meeting_id=m.id), metadata=sec)
        for p in cell.people:
            w.stub.CheckIn(pb.CheckInRequest(meeting_id=m.id), metadata=p.auth)
    if vote_and_score:
        poll = w.stub.OpenPoll(
            pb.OpenPollRequest(meeting_id=m.id, question="Thông qua nghị quyết", kind=pb.POLL_KIND_RESOLUTION_ADOPTION),
            metadata=sec,
        ).poll
        for p in cell.people:
            vote(w, poll.id, p, pb.VOTE_CHOICE_APPROVE)
        w.stub.ClosePoll(pb.ClosePollRequest(poll_id=poll.id), metadata=sec)
        w.stub.SubmitEvaluation(
            pb.SubmitEvaluationRequest(meeting_id=m.id, scores=scores(w), official=True), metadata=sec
        )
    w.stub.CloseMeeting(pb.CloseMeetingRequest(meeting_id=m.id), metadata=sec)
    if follow_up:
        w.stub.PublishResolution(pb.PublishResolutionRequest(meeting_id=m.id, text="Nghị quyết"), metadata=sec)
        w.stub.AssignTask(
            pb.AssignTaskRequest(
                meeting_id=m.id, title="Việc", due_on="2026-04-05", assignee_member_ids=[cell.people[1].member_id]
            ),
            metadata=sec,
        )
    return m.id


def test_three_of_twelve_cells_did_all_three_parts(world: World) -> None:
    w = world
    town = w.unit("Đảng ủy thị trấn Đồng Đăng", ipb.UNIT_KIND_COMMUNE, w.identity.root_id)
    other = w.unit("Đảng ủy xã khác", ipb.UNIT_KIND_COMMUNE, w.identity.root_id)
    cells = [w.cell(f"Chi bộ {i + 1:02d}", town, PAIR) for i in range(13)]
    w.cell("Chi bộ xã khác", other, PAIR)
    for i, cell in enumerate(cells[:12]):  # the 13th (police) does not use the platform
        full = i < 3
        hold(w, cell, documents=full or i % 3 == 0, vote_and_score=full or i % 3 == 1, follow_up=full or i == 11)
    report = w.stub.GetComplianceReport(
        pb.GetComplianceReportRequest(unit_id=town, month="2026-03", page_size=5), metadata=w.admin
    )
    t = report.totals
    assert (t.cells, t.cells_using_platform, t.cells_all_three_parts, t.meetings) == (13, 12, 3, 12)
    assert (t.cells_part1, t.cells_part2, t.cells_part3) == (3 + 3, 3 + 3, 3 + 1)
    assert report.total_size == 13 and len(report.cells) == 5 and report.next_page_token
    rest = w.stub.GetComplianceReport(
        pb.GetComplianceReportRequest(unit_id=town, month="2026-03", page_size=50, page_token=report.next_page_token),
        metadata=w.admin,
    )
    by_name = {c.cell_name: c for c in [*report.cells, *rest.cells]}
    assert [n for n, c in sorted(by_name.items()) if c.all_three_parts] == ["Chi bộ 01", "Chi bộ 02", "Chi bộ 03"]
    assert by_name["Chi bộ 13"].meetings == 0 and not by_name["Chi bộ 13"].part1_documents
    assert (
        w.stub.GetComplianceReport(
            pb.GetComplianceReportRequest(unit_id=town, month="2026-04"), metadata=w.admin
        ).totals.meetings
        == 0
    )
    # A cell secretary may see their own cell's line, not the commune's; a member sees neither.
    mine = w.stub.GetComplianceReport(
        pb.GetComplianceReportRequest(unit_id=cells[0].id, month="2026-03"), metadata=cells[0].secretary.auth
    )
    assert mine.totals.cells_all_three_parts == 1
    expect_error(
        grpc.StatusCode.PERMISSION_DENIED,
        "not_allowed",
        w.stub.GetComplianceReport,
        pb.GetComplianceReportRequest(unit_id=town, month="2026-03"),
        metadata=cells[0].secretary.auth,
    )
    expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid_month",
        w.stub.GetComplianceReport,
        pb.GetComplianceReportRequest(unit_id=town, month="2026-13"),
        metadata=w.admin,
    )


def test_reminders_once_per_task_and_due_date(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Nhắc việc", w.identity.root_id, PAIR)
    m = hold(w, cell, documents=True, vote_and_score=True, follow_up=True)  # a task due 2026-04-05
    sec = cell.secretary.auth
    later = w.stub.AssignTask(
        pb.AssignTaskRequest(
            meeting_id=m, title="Việc xa", due_on="2026-06-30", assignee_member_ids=[cell.people[1].member_id]
        ),
        metadata=sec,
    ).task
    done = w.stub.AssignTask(
        pb.AssignTaskRequest(
            meeting_id=m, title="Việc xong", due_on="2026-04-04", assignee_member_ids=[cell.people[1].member_id]
        ),
        metadata=sec,
    ).task
    w.stub.ReportTaskProgress(
        pb.ReportTaskProgressRequest(task_id=done.id, status=pb.TASK_STATUS_DONE), metadata=cell.people[1].auth
    )
    today = dt.date(2026, 4, 3)
    assert remind_due(w.db, today=today, within_days=2) == 1
    assert remind_due(w.db, today=today, within_days=2) == 0
    assert remind_due(w.db, today=dt.date(2026, 6, 29), within_days=2) == 1
    with w.db.read() as conn:
        events = conn.execute(sa.text("SELECT key, payload FROM outbox WHERE topic = 'meetings.task.due_soon'")).all()
    assert len(events) == 2 and later.id in {e.key for e in events}
    assert cell.people[1].member_id in events[0].payload
    with w.db.read() as conn:  # the reports' tasks done on time: a snapshot per assignment and status change
        states = [json.loads(r.payload) for r in conn.execute(sa.text(
            "SELECT payload FROM outbox WHERE topic = 'meetings.task.state' AND key = :k ORDER BY seq, created_at"),
            {"k": done.id})]
    assert [(s["status"], s["due_on"], s["cell_unit_id"]) for s in states] == [
        ("open", "2026-04-04", cell.id), ("done", "2026-04-04", cell.id)]
    assert states[0]["done_on"] == "" and states[1]["done_on"] == dt.datetime.now(VN).date().isoformat()
