"""The committee's pages (commune/ward and province): a start page per unit where the signed-in
account is an editor or admin, the feedback queue with its statistics, and the monthly compliance
dashboard with a drill-down to each cell. Publishing documents and bulletins is publish.py.

Which units the pages offer is gateway.web.staff's (the roles in the session's access token);
every service checks the caller's roles itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

import grpc
from flask import Response, abort, redirect, request, url_for

from gateway import clients
from gateway.routes.meetings import meetings
from gateway.routes.notifications import svc as notifications
from gateway.routes.reports import svc as reports
from gateway.web import staff
from gateway.web.auth import form_error
from gateway.web.base import PAGE, TIMEZONE, bp, login_required, page_token, render
from gateway.web.feedback import STATUSES
from gateway.web.i18n import N_, _
from gateway.web.meetings import form_key, given_key
from gateway.web.messages import REASONS
from sotay.identity.v1 import identity_pb2 as ipb
from sotay.meetings.v1 import meetings_pb2 as mpb
from sotay.notifications.v1 import notifications_pb2 as npb
from sotay.reports.v1 import reports_pb2 as rpb

log = logging.getLogger("sotay.gateway.web")

ID_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
MONTH_RE = re.compile(r"20\d\d-(0[1-9]|1[0-2])")

# What the committee's services answer, in words (added to the shared table of reasons).
REASONS.update({
    "number_taken": N_("This number is already registered by this unit."),
    "invalid_number": N_("The number must be written like 28-QC/TU or 123-QĐ/ĐU."),
    "number_required": N_("Please enter the document's number."),
    "unknown_doc_type": N_("Unknown document type in the number."),
    "doc_type_mismatch": N_("The chosen type does not match the number's type."),
    "title_required": N_("Please enter the title."),
    "invalid_category": N_("Please choose a category."),
    "invalid_date": N_("The date is not valid."),
    "classified_document": N_("Classified documents must never be stored on this platform."),
    "corrupt_file": N_("The file is damaged or not what its name says."),
    "encrypted_file": N_("The file is protected by a password; please upload it without one."),
    "unsupported_file_type": N_("This file type is not accepted (PDF, DOCX, ODT, text or an image)."),
    "file_too_large": N_("The file is too large."),
    "empty_file": N_("The file is empty."),
    "not_a_draft": N_("Only a draft can be changed."),
    "in_review": N_("A document in review cannot change; return it to draft first."),
    "invalid_transition": N_("The document is not at the stage for this."),
    "note_required": N_("Please say what must change."),
    "document_withdrawn": N_("This document has been withdrawn."),
    "audience_outside_unit": N_("Every chosen unit must be under the publishing unit."),
    "body_too_long": N_("The text is too long."),
    "title_too_long": N_("The title is too long."),
    "bulletin_withdrawn": N_("This bulletin has been withdrawn and cannot change."),
    "expires_before_publish": N_("The end of display must come after the publication."),
    "feedback_not_open": N_("This feedback is no longer open."),
    "no_unit_above": N_("This feedback is already with the top unit."),
    "assignee_without_role": N_("Feedback can be assigned only to someone holding a role on this unit."),
    "not_handler": N_("Only the handlers of this unit can do this."),
    "answer_required": N_("Please write the answer."),
    "feedback_closed": N_("This feedback is closed."),
    "invalid_month": N_("The month must be written as YYYY-MM."),
    "not_allowed": N_("You do not have permission to do this."),
})


@dataclass(frozen=True)
class Place:
    unit: ipb.Unit
    units: list[ipb.Unit]  # every unit the account may work for, the chosen one among them

    @property
    def id(self) -> str:
        return str(self.unit.id)


def place() -> Place:
    """The committee unit the page is for (`unit` of the query or form; else the first granted)."""
    granted = staff.committee_units()
    if not granted:
        abort(403)
    stub = clients.identity()
    calls = [stub.GetUnit.future(ipb.GetUnitRequest(id=u)) for u in granted[:20]]
    units = [c.result().unit for c in calls]
    wanted = request.values.get("unit", "")
    chosen = next((u for u in units if u.id == wanted), units[0])
    return Place(chosen, units)


def children(unit_id: str) -> list[ipb.Unit]:
    reply = clients.identity().ListUnits(ipb.ListUnitsRequest(parent_id=unit_id, page_size=500))
    return list(reply.units)


def back_to(endpoint: str, **values: Any) -> Response:
    return redirect(url_for(endpoint, **values), code=303)  # type: ignore[return-value]


@bp.route("/committee")
@login_required
def committee() -> Response:
    where = place()
    return render("committee.html", place=where)


# ---------- feedback queue ----------

FEEDBACK_FILTERS = {
    "open": N_("Open"),
    "received": N_("Received"),
    "in_progress": N_("Being handled"),
    "answered": N_("Answered"),
    "closed": N_("Closed"),
}
ACTIONS = {
    "received": N_("received"),
    "in_progress": N_("taken up"),
    "answered": N_("answered"),
    "closed": N_("closed"),
    "escalated": N_("sent to the unit above"),
    "assigned": N_("assigned"),
}
FILTER_STATUS = {
    "received": npb.FEEDBACK_STATUS_RECEIVED,
    "in_progress": npb.FEEDBACK_STATUS_IN_PROGRESS,
    "answered": npb.FEEDBACK_STATUS_ANSWERED,
    "closed": npb.FEEDBACK_STATUS_CLOSED,
}


def duration(seconds: float) -> str:
    """A time to answer in words: minutes, hours or days."""
    if seconds <= 0:
        return "—"
    if seconds < 3600:
        return _("%(n)d min") % {"n": max(1, round(seconds / 60))}
    if seconds < 2 * 86400:
        return _("%(n).1f h") % {"n": seconds / 3600}
    return _("%(n).1f days") % {"n": seconds / 86400}


@bp.route("/committee/feedback")
@login_required
def committee_feedback() -> Response:
    where = place()
    shown = request.args.get("show", "open")
    shown = shown if shown in FEEDBACK_FILTERS else "open"
    stub = notifications()
    stats = stub.GetFeedbackStats.future(npb.GetFeedbackStatsRequest(unit_id=where.id))
    if shown == "open":
        lists = [
            stub.ListFeedback(npb.ListFeedbackRequest(unit_id=where.id, status=s, page_size=100))
            for s in (npb.FEEDBACK_STATUS_RECEIVED, npb.FEEDBACK_STATUS_IN_PROGRESS)
        ]
        items = sorted([i for r in lists for i in r.items], key=lambda f: f.due_at.seconds)
        next_page = ""
    else:
        reply = stub.ListFeedback(npb.ListFeedbackRequest(
            unit_id=where.id, status=FILTER_STATUS[shown], page_size=PAGE, page_token=page_token()))
        items, next_page = list(reply.items), reply.next_page_token
    names = {u.id: u.name for u in where.units}
    return render("committee_feedback.html", place=where, items=items, stats=stats.result(), shown=shown,
                  filters=FEEDBACK_FILTERS, statuses=STATUSES, next_page=next_page, duration=duration,
                  names=names, now=dt.datetime.now(TIMEZONE).timestamp())


def role_holders(unit_id: str) -> list[tuple[str, str]]:
    """(account id, name) of those holding a role on the unit itself: who feedback may be assigned to."""
    stub = clients.identity()
    grants = stub.ListRoles(ipb.ListRolesRequest(unit_id=unit_id, page_size=200)).grants
    accounts = list(dict.fromkeys(g.account_id for g in grants if g.unit_id == unit_id))
    if not accounts:
        return []
    names: dict[str, str] = {}
    roster = stub.ListRoster(ipb.ListRosterRequest(unit_id=unit_id, subtree=True, page_size=5000))
    for entry in roster.entries:
        if entry.account_id in accounts:
            names[entry.account_id] = entry.full_name
    return [(a, names.get(a, a[:8])) for a in accounts]


def _feedback_page(feedback_id: str, where: Place, status: int = 200, error: str = "", answer: str = "") -> Response:
    reply = notifications().GetFeedback(npb.GetFeedbackRequest(id=feedback_id))
    item = reply.feedback
    try:
        holders = role_holders(item.unit_id)
    except grpc.RpcError:
        holders = []  # listing roles is for admins; the others still answer and escalate
    names = dict(holders)
    return render("committee_feedback_item.html", status=status, place=where, f=item, history=reply.history,
                  statuses=STATUSES, actions=ACTIONS, holders=holders, names=names, error=error, answer=answer,
                  key=form_key(),
                  is_open=item.status in (npb.FEEDBACK_STATUS_RECEIVED, npb.FEEDBACK_STATUS_IN_PROGRESS),
                  done=request.args.get("done", ""))


@bp.route("/committee/feedback/<feedback_id>", methods=["GET", "POST"])
@login_required
def committee_feedback_item(feedback_id: str) -> Response:
    if not ID_RE.fullmatch(feedback_id):
        abort(404)
    where = place()
    if request.method == "GET":
        return _feedback_page(feedback_id, where)
    action = request.form.get("action", "")
    note = request.form.get("note", "").strip()[:1000]
    answer = request.form.get("answer", "").strip()[:10000]
    stub = notifications()
    try:
        if action == "take":
            stub.UpdateFeedbackStatus(npb.UpdateFeedbackStatusRequest(
                id=feedback_id, status=npb.FEEDBACK_STATUS_IN_PROGRESS))
        elif action == "assign":
            stub.AssignFeedback(npb.AssignFeedbackRequest(
                id=feedback_id, account_id=request.form.get("account_id", "")[:64], note=note))
        elif action == "escalate":
            stub.EscalateFeedback(npb.EscalateFeedbackRequest(id=feedback_id, note=note))
        elif action == "answer":
            if not answer:
                return _feedback_page(feedback_id, where, 400, _("Please write the answer."))
            stub.AnswerFeedback(npb.AnswerFeedbackRequest(
                id=feedback_id, answer=answer, idempotency_key=given_key()))
        elif action == "close":
            stub.UpdateFeedbackStatus(npb.UpdateFeedbackStatusRequest(
                id=feedback_id, status=npb.FEEDBACK_STATUS_CLOSED, note=note))
        else:
            abort(400)
    except grpc.RpcError as exc:
        shown = form_error(exc)
        if shown is None and exc.code() != grpc.StatusCode.PERMISSION_DENIED:  # type: ignore[attr-defined]
            raise
        status, text = shown or (403, _("You do not have permission to do this."))
        return _feedback_page(feedback_id, where, status, text, answer)
    if action == "escalate":
        return back_to("web.committee_feedback", unit=where.id, done="escalated")
    return back_to("web.committee_feedback_item", feedback_id=feedback_id, unit=where.id, done=action)


# ---------- compliance ----------


def this_month() -> str:
    return dt.datetime.now(TIMEZONE).strftime("%Y-%m")


def shift_month(month: str, by: int) -> str:
    year, number = int(month[:4]), int(month[5:]) + by
    year, number = year + (number - 1) // 12, (number - 1) % 12 + 1
    return f"{year:04d}-{number:02d}"


@dataclass(frozen=True)
class Counted:
    """The month's totals with the cells exempt from the rollout left out, as the review report
    counts them (services/reports/figures.py: MeetingsSummary): `rollout_cells` is the denominator."""

    totals: mpb.ComplianceTotals  # the exempt cells taken out of every count but `cells`
    exempt: int

    @property
    def rollout_cells(self) -> int:
        return self.totals.cells - self.exempt

    def percent(self, n: int) -> int | None:
        return round(100 * n / self.rollout_cells) if self.rollout_cells else None


def without_exempt(t: mpb.ComplianceTotals, exempt: list[mpb.CellCompliance]) -> Counted:
    """The subtree's totals less the exempt cells' own rows (each counted once)."""
    rows = list({c.cell_unit_id: c for c in exempt}.values())
    return Counted(mpb.ComplianceTotals(
        cells=t.cells,
        cells_using_platform=t.cells_using_platform - sum(1 for c in rows if c.meetings),
        cells_part1=t.cells_part1 - sum(1 for c in rows if c.part1_documents),
        cells_part2=t.cells_part2 - sum(1 for c in rows if c.part2_meeting),
        cells_part3=t.cells_part3 - sum(1 for c in rows if c.part3_follow_up),
        cells_all_three_parts=t.cells_all_three_parts - sum(1 for c in rows if c.all_three_parts),
        meetings=t.meetings - sum(c.meetings for c in rows),
    ), len(rows))


MAX_EXEMPTIONS = 500


def exemptions(unit_id: str) -> list[rpb.CellExemption] | None:
    """The cells of the subtree exempt from the rollout (reports service); None when it cannot answer."""
    found: list[rpb.CellExemption] = []
    token = ""
    try:
        while len(found) < MAX_EXEMPTIONS:
            reply = reports().ListCellExemptions(
                rpb.ListCellExemptionsRequest(unit_id=unit_id, page_size=100, page_token=token))
            found += reply.exemptions
            token = reply.next_page_token
            if not token:
                return found
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:  # type: ignore[attr-defined]
            raise
        log.warning("exemptions failed", extra={"fields": {"code": exc.code().name}})  # type: ignore[attr-defined]
        return None
    return None  # more than the page can weigh: say so rather than count some


def exempt_rows(listed: list[rpb.CellExemption], page: list[mpb.CellCompliance],
                month: str) -> list[mpb.CellCompliance]:
    """Each exempt cell's compliance row: from this page, else asked of the meetings service."""
    on_page = {c.cell_unit_id: c for c in page}
    asked = [meetings().GetComplianceReport.future(mpb.GetComplianceReportRequest(unit_id=e.unit_id, month=month))
             for e in listed if e.unit_id not in on_page]
    found = {c.cell_unit_id: c for call in asked for c in call.result().cells}
    rows = [on_page.get(e.unit_id) or found.get(e.unit_id) for e in listed]
    return [r for r in rows if r is not None]


@bp.route("/committee/compliance")
@login_required
def committee_compliance() -> Response:
    where = place()
    month = request.args.get("month", "")
    month = month if MONTH_RE.fullmatch(month) else this_month()
    cell = request.args.get("cell", "")
    cell = cell if ID_RE.fullmatch(cell) else ""
    reply = meetings().GetComplianceReport(mpb.GetComplianceReportRequest(
        unit_id=cell or where.id, month=month, page_size=200, page_token=page_token()))
    listed = exemptions(cell or where.id)
    rows = exempt_rows(listed or [], list(reply.cells), month)
    reasons = {e.unit_id: e.reason for e in listed or []}
    return render("committee_compliance.html", place=where, month=month, report=reply, cell=cell,
                  counted=without_exempt(reply.totals, rows), exempt=rows, reasons=reasons,
                  exemptions_failed=listed is None,
                  open_cells=[c for c in reply.cells if c.cell_unit_id not in reasons],
                  previous=shift_month(month, -1), following=shift_month(month, 1),
                  is_current=month >= this_month(), kinds={mpb.MEETING_KIND_REGULAR: N_("Regular"),
                                                             mpb.MEETING_KIND_THEMATIC: N_("Thematic")})
