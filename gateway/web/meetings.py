"""The cell's meetings for a member: the list, and a meeting's page — announcement, documents
to read before, check-in, opinions, voting (open or secret, one tap, a double submit counted
once), the result with the Charter's arithmetic, the resolution, minutes download, my tasks.

Every action is a plain form; the meetings service decides what the state of the meeting allows
and who may do it, and its refusals come back beside the form as text.

With JavaScript on, static/meeting.js asks /meetings/<id>/live (the service's cheap version check)
every few seconds and, when the meeting changed, swaps the page's live parts (state, check-in,
votes, minutes) from a fresh render; without it the page has a "refresh" link."""

from __future__ import annotations

import secrets
from typing import Any

import grpc
from flask import Response, jsonify, redirect, request, url_for

from gateway import errors as api_errors
from gateway.errors import ApiError
from gateway.routes.meetings import MINUTES_FORMATS, meetings, minutes_response
from gateway.web import session
from gateway.web.auth import form_error
from gateway.web.base import PAGE, bp, error_page, login_required, page_token, render
from gateway.web.i18n import N_, _
from gateway.web.messages import REASONS, reason_message
from services.core.errors import error_info
from sotay.meetings.v1 import meetings_pb2 as mpb

STATES = {
    mpb.MEETING_STATE_DRAFT: N_("Draft"),
    mpb.MEETING_STATE_ANNOUNCED: N_("Announced"),
    mpb.MEETING_STATE_IN_PROGRESS: N_("In progress"),
    mpb.MEETING_STATE_CLOSED: N_("Closed"),
    mpb.MEETING_STATE_RESOLUTION_PUBLISHED: N_("Resolution published"),
}
KINDS = {mpb.MEETING_KIND_REGULAR: N_("Regular meeting"), mpb.MEETING_KIND_THEMATIC: N_("Thematic meeting")}
MODES = {mpb.MEETING_MODE_IN_PERSON: N_("In person"), mpb.MEETING_MODE_ONLINE: N_("Online"),
         mpb.MEETING_MODE_HYBRID: N_("In person and online")}
CHOICES = {"approve": mpb.VOTE_CHOICE_APPROVE, "reject": mpb.VOTE_CHOICE_REJECT, "abstain": mpb.VOTE_CHOICE_ABSTAIN}
CHECK_IN_MODES = {"in_person": mpb.ATTENDANCE_MODE_IN_PERSON, "online": mpb.ATTENDANCE_MODE_ONLINE}
ATTENDANCE = {
    mpb.ATTENDANCE_STATUS_PRESENT: N_("Present"),
    mpb.ATTENDANCE_STATUS_ABSENT_EXCUSED: N_("Absent with leave"),
    mpb.ATTENDANCE_STATUS_ABSENT_UNEXCUSED: N_("Absent"),
}
FINISHED = (mpb.MEETING_STATE_CLOSED, mpb.MEETING_STATE_RESOLUTION_PUBLISHED)
LIVE = (mpb.MEETING_STATE_ANNOUNCED, mpb.MEETING_STATE_IN_PROGRESS)
EXCLUDED = (
    ("excluded_transferred", N_("transferred for now")),
    ("excluded_suspended", N_("suspended, prosecuted or detained")),
    ("excluded_excused", N_("excused for the session")),
    ("excluded_absent_exempt", N_("exempt and absent")),
)
DONE = {"checked_in": N_("You are checked in."), "voted": N_("Your vote is recorded."),
        "opinion": N_("Your opinion is recorded."), "progress": N_("Your progress is recorded.")}


def arithmetic(result: mpb.PollResult) -> list[str]:
    """The Charter's computation in the members' words: who counts in the denominator, and
    whether the approvals are more than half of it."""
    parts = [_("%(n)d official members", n=result.official_members)]
    parts += [f"{getattr(result, name)} {_(label)}" for name, label in EXCLUDED if getattr(result, name)]
    denominator = _("Counted: %(parts)s = %(denominator)d.", parts=" − ".join(parts), denominator=result.denominator)
    verdict = _("%(approve)d approvals %(relation)s %(denominator)d/2: %(verdict)s; at least %(needed)d needed.",
                approve=result.total.approve, relation=">" if result.passed else "≤",
                denominator=result.denominator, verdict=_("passed") if result.passed else _("not passed"),
                needed=result.needed)
    return [denominator, verdict]


def form_key() -> str:
    """The idempotency key a form carries: resending the same form (a double tap, a retry after a
    lost answer) repeats one request, and the service counts it once."""
    return secrets.token_urlsafe(18)


def given_key() -> str:
    """The key the form was rendered with (form_key); a form sent without one is not idempotent,
    and one with a broken key is refused by the service."""
    return request.form.get("idempotency_key", "")


@bp.route("/meetings")
@login_required
def meetings_list() -> Response:
    me = session.current()
    reply = None
    if me.unit_id and me.member_id:
        reply = meetings().ListMeetings(mpb.ListMeetingsRequest(
            cell_unit_id=me.unit_id, page_size=PAGE, page_token=page_token()))
    found = list(reply.meetings) if reply else []  # newest first; drafts are not announced yet
    upcoming = sorted((m for m in found if m.state in LIVE), key=lambda m: m.starts_at.seconds)
    past = [m for m in found if m.state in FINISHED]
    return render("meetings.html", reply=reply, upcoming=upcoming, past=past, states=STATES)


def meeting_page(meeting_id: str, status: int = 200, error: str = "") -> Response:
    me = session.current()
    stub = meetings()
    polls = stub.ListPolls.future(mpb.ListPollsRequest(meeting_id=meeting_id, page_size=50))
    opinions = stub.ListOpinions.future(mpb.ListOpinionsRequest(meeting_id=meeting_id, page_size=100))
    roster = stub.ListAttendance.future(mpb.ListAttendanceRequest(meeting_id=meeting_id, page_size=500))
    tasks = stub.ListTasks.future(mpb.ListTasksRequest(meeting_id=meeting_id, page_size=100))
    meeting = stub.GetMeeting(mpb.GetMeetingRequest(meeting_id=meeting_id)).meeting
    attendees = roster.result()
    mine = next((a for a in attendees.attendees if a.member_id == me.member_id), None)
    done = DONE.get(request.args.get("done", ""))
    return render(
        "meeting.html", status=status, m=meeting, polls=polls.result().polls, opinions=opinions.result().opinions,
        me_attendee=mine, totals=attendees.totals,
        my_tasks=[t for t in tasks.result().tasks if me.member_id in t.assignee_member_ids],
        states=STATES, kinds=KINDS, modes=MODES, attendance=ATTENDANCE, key=form_key(), error=error,
        notice=_(done) if done else "", finished=meeting.state in FINISHED, mpb=mpb, arithmetic=arithmetic,
        live=meeting.state in LIVE, refresh=secrets.token_hex(3),
    )


@bp.route("/meetings/<meeting_id>")
@login_required
def meeting(meeting_id: str) -> Response:
    return meeting_page(meeting_id)


def refusal(exc: grpc.RpcError) -> tuple[int, str] | None:
    """A refusal by rights or by an earlier act (a probationary member voting, a second vote),
    with the service's reason in words."""
    code: grpc.StatusCode = exc.code()  # type: ignore[attr-defined]
    if code not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.ALREADY_EXISTS):
        return None
    reason, _meta = error_info(exc)
    if reason in REASONS:
        return api_errors.http_status(code), reason_message(reason)
    return 403, _("Only members summoned to this meeting, with the right to it, may do this.")


def act(meeting_id: str, done: str, call: Any) -> Response:
    """Run a form's RPC; back to the meeting with a notice, or the page with the service's refusal."""
    try:
        call()
    except grpc.RpcError as exc:
        shown = form_error(exc) or refusal(exc)
        if shown is None:
            raise
        return meeting_page(meeting_id, status=shown[0], error=shown[1])
    target = url_for("web.meeting", meeting_id=meeting_id, done=done) + f"#{done}"
    return redirect(target, code=303)  # type: ignore[return-value]


@bp.route("/meetings/<meeting_id>/check-in", methods=["POST"])
@login_required
def check_in(meeting_id: str) -> Response:
    mode = CHECK_IN_MODES.get(request.form.get("mode", ""), mpb.ATTENDANCE_MODE_IN_PERSON)
    return act(meeting_id, "checked_in", lambda: meetings().CheckIn(
        mpb.CheckInRequest(meeting_id=meeting_id, mode=mode, idempotency_key=given_key())))


@bp.route("/meetings/<meeting_id>/opinions", methods=["POST"])
@login_required
def add_opinion(meeting_id: str) -> Response:
    text = request.form.get("text", "").strip()[:5000]
    if not text:
        return meeting_page(meeting_id, status=400, error=_("Please write your opinion first."))
    return act(meeting_id, "opinion", lambda: meetings().AddOpinion(
        mpb.AddOpinionRequest(meeting_id=meeting_id, text=text, idempotency_key=given_key())))


@bp.route("/meetings/<meeting_id>/polls/<poll_id>/vote", methods=["POST"])
@login_required
def vote(meeting_id: str, poll_id: str) -> Response:
    choice = CHOICES.get(request.form.get("choice", ""))
    if choice is None:
        return meeting_page(meeting_id, status=400, error=_("Please choose one of the answers."))
    return act(meeting_id, "voted", lambda: meetings().CastVote(
        mpb.CastVoteRequest(poll_id=poll_id, choice=choice, idempotency_key=given_key())))


@bp.route("/meetings/<meeting_id>/tasks/<task_id>", methods=["POST"])
@login_required
def task_progress(meeting_id: str, task_id: str) -> Response:
    raw = request.form.get("progress_percent", "")
    if not raw.isdigit() or int(raw) > 100:
        return meeting_page(meeting_id, status=400, error=_("Progress is a number from 0 to 100."))
    note = request.form.get("note", "").strip()[:2000]
    return act(meeting_id, "progress", lambda: meetings().ReportTaskProgress(mpb.ReportTaskProgressRequest(
        task_id=task_id, progress_percent=int(raw), note=note, idempotency_key=given_key())))


@bp.route("/meetings/<meeting_id>/documents/<document_id>")
@login_required
def meeting_document(meeting_id: str, document_id: str) -> Response:
    """A document of the meeting, opened from its page: the secretary sees who read it before."""
    meetings().RecordDocumentOpened(
        mpb.RecordDocumentOpenedRequest(meeting_id=meeting_id, document_id=document_id))
    return redirect(url_for("web.document", document_id=document_id), code=303)  # type: ignore[return-value]


@bp.route("/meetings/<meeting_id>/minutes.<fmt>")
@login_required
def minutes(meeting_id: str, fmt: str) -> Response:
    if fmt not in MINUTES_FORMATS:
        return error_page(404)
    try:
        return minutes_response(meeting_id, fmt)
    except ApiError:  # the service sent an empty file
        return error_page(503)


@bp.route("/meetings/<meeting_id>/live")
@login_required
def live(meeting_id: str) -> Response:
    """For meeting.js: 204 while the meeting's live version is still `since`, else the new version."""
    since = request.args.get("since", "")
    version = int(since) if since.isdigit() and len(since) < 19 else 0
    reply = meetings().GetLiveState(mpb.GetLiveStateRequest(meeting_id=meeting_id, since_version=version))
    if reply.not_modified:
        return Response(status=204)
    return jsonify(version=reply.version)
