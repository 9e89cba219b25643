"""The cell secretary's meeting workspace: create (regular, thematic, or a combined session as two
linked records), edit, attach documents from the library, announce, start; the attendance sheet
on one screen (everyone present, then the exceptions with reasons: one request however many
members); opinions said in the room; polls with the room's show of hands beside the app votes;
close; resolution and tasks; the quality score; minutes preview and download.

The meetings service decides who may run a cell's meetings and what each state allows; these
pages only hide the links from others (gateway.web.staff) and show the service's refusals.
With JavaScript on, static/meeting.js refreshes the live parts (tally, totals) without reload.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
from flask import Response, redirect, request, url_for
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp

from gateway import clients
from gateway import errors as api_errors
from gateway.errors import ApiError
from gateway.routes.documents import documents
from gateway.routes.meetings import meetings, minutes_response
from gateway.web import session
from gateway.web.base import TIMEZONE, bp, error_page, login_required, render
from gateway.web.i18n import N_, _
from gateway.web.meetings import ATTENDANCE, KINDS, MODES, STATES, arithmetic, form_key, given_key
from gateway.web.messages import REASONS, reason_message
from gateway.web.publish import file_requests, number_taken, proposed_number
from services.core.errors import error_info
from services.documents.numbers import DOC_TYPES
from sotay.documents.v1 import documents_pb2 as dpb
from sotay.identity.v1 import identity_pb2 as ipb
from sotay.meetings.v1 import meetings_pb2 as mpb

MODE_VALUES = {"in_person": mpb.MEETING_MODE_IN_PERSON, "online": mpb.MEETING_MODE_ONLINE,
               "hybrid": mpb.MEETING_MODE_HYBRID}
# The attendance sheet's choices per member: attendance, or a status for the whole session.
SHEET = {
    "present": N_("Present in the room"),
    "online": N_("Present online"),
    "excused": N_("Absent with a reason"),
    "unexcused": N_("Absent without a reason"),
    "session_excused": N_("Excused for the whole session"),
    "transferred": N_("Transferred elsewhere for now"),
}
SESSION_LABELS = {
    mpb.SESSION_STATUS_TRANSFERRED: N_("transferred for now"),
    mpb.SESSION_STATUS_SUSPENDED: N_("suspended, prosecuted or detained"),
    mpb.SESSION_STATUS_EXCUSED: N_("excused for the session"),
}
RULES = {
    "attendance_ratio": N_("attendance above 85%%"),  # %% : templates %-format every text
    "no_unexcused_absence": N_("no absence without a reason, everyone recorded"),
    "documents_before": N_("documents sent with the announcement before the meeting"),
    "resolution_voted": N_("the resolution put to a vote"),
    "resolution_published": N_("the resolution published"),
}
POSITIONS = {"secretary": N_("cell secretary"), "deputy_secretary": N_("deputy secretary"),
             "committee_member": N_("cell committee member")}
EXEMPT_REASON = N_("Exempt from Party work and meetings")
BALLOTS = {"open": mpb.BALLOT_TYPE_OPEN, "secret": mpb.BALLOT_TYPE_SECRET}
POLL_KINDS = {"resolution": mpb.POLL_KIND_RESOLUTION_ADOPTION, "question": mpb.POLL_KIND_QUESTION}
# What the secretary's forms may be refused for, beyond the members' reasons (messages.py).
MANAGE_REASONS = {
    "reason_required": N_("An absence needs a reason."),
    "session_reason_required": N_("A session status needs a reason."),
    "poll_open": N_("Close the open vote first: who may vote cannot change while a vote is open."),
    "session_previous_not_closed": N_("Close the first meeting of the session before starting the second."),
    "empty_roster": N_("The cell has no members to summon."),
    "score_contradicts_record": N_("The score gives more than the record allows for a criterion the system "
                                   "computes (attendance, absences, documents, vote, resolution)."),
    "room_count_too_large": N_("The show of hands and the app votes together exceed the members who may vote."),
    "polls_open": N_("Close every vote before closing the meeting."),
    "attendance_sheet_refused": N_("Some lines of the attendance sheet were refused; check the reasons."),
    "idempotency_key_reused": N_("This form was already sent with other contents; please reload the page."),
    "document_not_available": N_("This document cannot be attached to the cell's meeting."),
    "started_at_in_future": N_("The time the meeting began cannot be in the future."),
    "started_before_schedule": N_("The meeting cannot begin more than a day before its scheduled time; "
                                  "correct the scheduled time first."),
    "started_before_previous_closed": N_("The second meeting of the session begins after the first one closed."),
    "closed_at_in_future": N_("The time the meeting ended cannot be in the future."),
    "closed_before_start": N_("The meeting ends after it began."),
    "meeting_too_long": N_("A meeting ends less than a day after it began."),
}
FORM_CODES = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
              grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.OUT_OF_RANGE)


def the_cell() -> str:
    """The cell whose meetings are run here: ?cell=, else the secretary's own unit."""
    wanted = request.args.get("cell", "") or request.form.get("cell", "")
    return wanted[:64] if wanted else session.current().unit_id


def local_input(ts: Timestamp) -> str:
    if not ts.seconds:
        return ""
    return dt.datetime.fromtimestamp(ts.seconds, TIMEZONE).strftime("%Y-%m-%dT%H:%M")


def parse_local(raw: str) -> Timestamp | None:
    try:
        when = dt.datetime.strptime(raw.strip()[:16], "%Y-%m-%dT%H:%M").replace(tzinfo=TIMEZONE)
        utc = when.astimezone(dt.UTC)  # year 1 in Vietnam is before the first UTC day: OverflowError
    except (ValueError, OverflowError):
        return None
    ts = Timestamp()
    ts.FromDatetime(utc)
    return ts


def shown(exc: grpc.RpcError) -> tuple[int, str] | None:
    """A refusal to show beside the form (status, text); None for what the error page handles."""
    code: grpc.StatusCode = exc.code()  # type: ignore[attr-defined]
    if code not in FORM_CODES:
        return None
    reason, _meta = error_info(exc)
    text = _(MANAGE_REASONS[reason]) if reason in MANAGE_REASONS else reason_message(reason)
    if reason not in MANAGE_REASONS and reason not in REASONS and code != grpc.StatusCode.PERMISSION_DENIED:
        text = f"{text} ({exc.details()})"  # type: ignore[attr-defined]
    return api_errors.http_status(code), text


def fields_from_form(creating: bool) -> tuple[mpb.MeetingFields, list[str], str]:
    """MeetingFields from the form, the paths given, and an error text ('' when fine)."""
    f = request.form
    starts = parse_local(f.get("starts_at", ""))
    if starts is None:
        return mpb.MeetingFields(), [], _("Please give the date and time.")
    minutes = f.get("duration", "90")
    duration = int(minutes) if minutes.isdigit() and 0 < int(minutes) <= 600 else 90
    ends = Timestamp(seconds=starts.seconds + duration * 60)
    agenda = [mpb.AgendaItem(title=line.strip()[:500]) for line in f.get("agenda", "").splitlines() if line.strip()]
    fields = mpb.MeetingFields(
        title=f.get("title", "").strip()[:300], starts_at=starts, ends_at=ends, place=f.get("place", "").strip()[:300],
        mode=MODE_VALUES.get(f.get("mode", ""), mpb.MEETING_MODE_IN_PERSON), agenda=agenda[:100],
    )
    return fields, ["title", "starts_at", "ends_at", "place", "mode", "agenda"], ""


# ---------- the cell's meetings ----------


@bp.route("/manage/meetings")
@login_required
def manage_meetings(status: int = 200, error: str = "") -> Response:
    cell = the_cell()
    reply = meetings().ListMeetings(mpb.ListMeetingsRequest(cell_unit_id=cell, page_size=50))
    now = dt.datetime.now(TIMEZONE).replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=7)
    return render("manage_meetings.html", status=status, error=error, found=reply.meetings, cell=cell,
                  states=STATES, kinds=KINDS, default_start=now.strftime("%Y-%m-%dT19:30"), form=request.form)


@bp.route("/manage/meetings", methods=["POST"])
@login_required
def create_meeting() -> Response:
    cell = the_cell()
    kind = request.form.get("kind", "regular")
    fields, _paths, problem = fields_from_form(creating=True)
    if not problem and not fields.title:
        problem = _("Please give the meeting a title.")
    theme = request.form.get("theme", "").strip()[:300]
    if not problem and kind == "combined" and not theme:
        problem = _("A combined session needs the thematic meeting's topic.")
    if problem:
        return manage_meetings(status=400, error=problem)
    stub = meetings()
    try:
        first = stub.CreateMeeting(mpb.CreateMeetingRequest(
            cell_unit_id=cell, kind=mpb.MEETING_KIND_THEMATIC if kind == "thematic" else mpb.MEETING_KIND_REGULAR,
            fields=fields)).meeting
        if kind == "combined":
            second = mpb.MeetingFields()
            second.CopyFrom(fields)
            length = fields.ends_at.seconds - fields.starts_at.seconds
            second.title = theme
            second.starts_at.seconds = fields.ends_at.seconds
            second.ends_at.seconds = fields.ends_at.seconds + length
            del second.agenda[:]
            stub.CreateMeeting(mpb.CreateMeetingRequest(cell_unit_id=cell, kind=mpb.MEETING_KIND_THEMATIC,
                                                        fields=second, follows_meeting_id=first.id))
    except grpc.RpcError as exc:
        refused = shown(exc)
        if refused is None:
            raise
        return manage_meetings(status=refused[0], error=refused[1])
    return redirect(url_for("web.manage_meeting", meeting_id=first.id, done="created"), code=303)  # type: ignore[return-value]


# ---------- one meeting ----------

DONE = {
    "created": N_("The meeting is created as a draft."), "saved": N_("Saved."),
    "attached": N_("The document is attached."), "detached": N_("The document is removed."),
    "announced": N_("The meeting is announced: members are notified."), "started": N_("The meeting has started."),
    "attendance": N_("Attendance is recorded."), "opinion": N_("The opinion is recorded."),
    "poll": N_("The vote is open."), "room": N_("The show of hands is recorded."),
    "closed_poll": N_("The vote is closed."),
    "closed": N_("The meeting is closed."), "resolution": N_("The resolution is published."),
    "task": N_("The task is assigned."), "evaluated": N_("The official score is recorded."),
    "uploaded": N_("The cell's document is published to the cell's members and attached."),
    "uploaded_held": N_("The cell's document is uploaded. It is a scan: once its text is recognised it is "
                        "published to the cell; then attach it from the library below."),
}


def notice() -> str:
    done = DONE.get(request.args.get("done", ""))
    return _(done) if done else ""


def workspace(meeting_id: str, status: int = 200, error: str = "") -> Response:
    """The meeting, then every other call of the page at once (each is one round trip)."""
    stub = meetings()
    meeting = stub.GetMeeting(mpb.GetMeetingRequest(meeting_id=meeting_id)).meeting
    calls: dict[str, Any] = {}
    if meeting.state != mpb.MEETING_STATE_DRAFT:
        calls.update(
            sheet=stub.ListAttendance.future(mpb.ListAttendanceRequest(meeting_id=meeting.id, page_size=500)),
            polls=stub.ListPolls.future(mpb.ListPollsRequest(meeting_id=meeting.id, page_size=50)),
            opinions=stub.ListOpinions.future(mpb.ListOpinionsRequest(meeting_id=meeting.id, page_size=200)),
            tasks=stub.ListTasks.future(mpb.ListTasksRequest(meeting_id=meeting.id, page_size=100)),
        )
    if meeting.state == mpb.MEETING_STATE_ANNOUNCED and meeting.documents:
        calls["opens"] = stub.ListDocumentOpens.future(opens_request(meeting.id))
    query = request.args.get("q", "").strip()[:200]
    if meeting.state in (mpb.MEETING_STATE_DRAFT, mpb.MEETING_STATE_ANNOUNCED):
        calls["library"] = (
            documents().SearchDocuments.future(dpb.SearchDocumentsRequest(query=query, page_size=10)) if query
            else documents().ListDocuments.future(dpb.ListDocumentsRequest(
                status=dpb.DOCUMENT_STATUS_PUBLISHED, page_size=10)))
    others = [mid for mid in meeting.session_meeting_ids if mid != meeting.id]
    if others:
        calls["linked"] = stub.GetMeeting.future(mpb.GetMeetingRequest(meeting_id=others[0]))
    context: dict[str, Any] = {}
    if "sheet" in calls:
        sheet = calls["sheet"].result()
        context.update(attendees=sheet.attendees, totals=sheet.totals, polls=calls["polls"].result().polls,
                       opinions=calls["opinions"].result().opinions, tasks=calls["tasks"].result().tasks)
    if "opens" in calls:
        context["opened"] = opened_by(meeting.id, calls["opens"].result())
    if "library" in calls:
        found = calls["library"].result()
        context["library"] = ([(h.id, h.title, h.number) for h in found.hits] if query
                              else [(d.id, d.metadata.title, d.metadata.number) for d in found.documents])
        context["q"] = query
    if "linked" in calls:
        context["linked"] = calls["linked"].result().meeting
    live = meeting.state in (mpb.MEETING_STATE_ANNOUNCED, mpb.MEETING_STATE_IN_PROGRESS)
    return render(
        "manage_meeting.html", status=status, m=meeting, error=error, notice=notice(),
        states=STATES, kinds=KINDS, modes=MODES, attendance=ATTENDANCE, sheet_choices=SHEET,
        session_labels=SESSION_LABELS, positions=POSITIONS, exempt_reason=_(EXEMPT_REASON), key=form_key(), mpb=mpb,
        arithmetic=arithmetic, live=live, local_input=local_input, choice_of=choice_of, cell_types=CELL_TYPES,
        doc_types=DOC_TYPES, **context,
    )


def opens_request(meeting_id: str, token: str = "") -> mpb.ListDocumentOpensRequest:
    return mpb.ListDocumentOpensRequest(meeting_id=meeting_id, page_size=500, page_token=token)


def opened_by(meeting_id: str, first: mpb.ListDocumentOpensResponse) -> dict[str, set[str]]:
    """Who has opened each of the meeting's documents so far (document id -> member ids), from the
    first page and the pages after it."""
    found: dict[str, set[str]] = {}
    reply = first
    for _page in range(20):  # 10,000 opens: more than a cell's members times its documents
        for o in reply.opens:
            found.setdefault(o.document_id, set()).add(o.member_id)
        if not reply.next_page_token:
            break
        reply = meetings().ListDocumentOpens(opens_request(meeting_id, reply.next_page_token))
    return found


def choice_of(a: mpb.Attendee) -> str:
    """The sheet's choice for a member as recorded (not recorded: present, exempt members absent)."""
    if a.session_status == mpb.SESSION_STATUS_TRANSFERRED:
        return "transferred"
    if a.session_status == mpb.SESSION_STATUS_EXCUSED:
        return "session_excused"
    if a.attendance == mpb.ATTENDANCE_STATUS_PRESENT:
        return "online" if a.mode == mpb.ATTENDANCE_MODE_ONLINE else "present"
    if a.attendance == mpb.ATTENDANCE_STATUS_ABSENT_EXCUSED:
        return "excused"
    if a.attendance == mpb.ATTENDANCE_STATUS_ABSENT_UNEXCUSED:
        return "unexcused"
    return "excused" if a.exempt else "present"


@bp.route("/manage/meetings/<meeting_id>")
@login_required
def manage_meeting(meeting_id: str) -> Response:
    return workspace(meeting_id)


def act(meeting_id: str, done: str, call: Any, anchor: str = "") -> Response:
    """Run a form's RPC: back to the workspace with a notice, or the workspace with the refusal."""
    try:
        call()
    except grpc.RpcError as exc:
        refused = shown(exc)
        if refused is None:
            raise
        return workspace(meeting_id, status=refused[0], error=refused[1])
    target = url_for("web.manage_meeting", meeting_id=meeting_id, done=done) + (f"#{anchor}" if anchor else "")
    return redirect(target, code=303)  # type: ignore[return-value]


@bp.route("/manage/meetings/<meeting_id>/edit", methods=["POST"])
@login_required
def edit_meeting(meeting_id: str) -> Response:
    fields, paths, problem = fields_from_form(creating=False)
    if problem:
        return workspace(meeting_id, status=400, error=problem)
    return act(meeting_id, "saved", lambda: meetings().UpdateMeeting(mpb.UpdateMeetingRequest(
        meeting_id=meeting_id, fields=fields, update_mask=FieldMask(paths=paths))))


@bp.route("/manage/meetings/<meeting_id>/documents", methods=["POST"])
@login_required
def attach(meeting_id: str) -> Response:
    document_id = request.form.get("document_id", "")[:64]
    return act(meeting_id, "attached", lambda: meetings().AttachDocument(mpb.AttachDocumentRequest(
        meeting_id=meeting_id, document_id=document_id)), "documents")


@bp.route("/manage/meetings/<meeting_id>/documents/<document_id>/detach", methods=["POST"])
@login_required
def detach(meeting_id: str, document_id: str) -> Response:
    return act(meeting_id, "detached", lambda: meetings().DetachDocument(mpb.DetachDocumentRequest(
        meeting_id=meeting_id, document_id=document_id)), "documents")


# The cell's own documents: the types a cell issues (its resolution, plan, report, minutes, programme, notice).
CELL_TYPES = ("NQ", "KH", "BC", "BB", "CTr", "TB")


def cell_document(m: mpb.Meeting, doc_type: str, title: str, key: str) -> dpb.Document:
    """The form's file published to the meeting's cell (the cell's next free number of the type
    unless one is given): the documents service checks the caller may publish for the cell (its
    secretary or deputy, an editor or admin above it)."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError(400, "file_required", _("Please choose the document's file."))
    if doc_type not in CELL_TYPES:
        raise ApiError(400, "unknown_doc_type", _("Please choose the document's type."))
    if not title:
        raise ApiError(400, "title_required", _("Please enter the document's title."))
    number = request.form.get("number", "").strip()[:40]
    if not number:
        number = proposed_number(m.cell_unit_id, ipb.UNIT_KIND_CELL, doc_type).next_number
    cell = clients.identity().GetUnit(ipb.GetUnitRequest(id=m.cell_unit_id)).unit
    header = dpb.UploadHeader(
        idempotency_key=key,
        metadata=dpb.DocumentMetadata(
            title=title, number=number, category="van-kien-tu-lieu", issuing_body=cell.name,
            issued_on=dt.datetime.now(TIMEZONE).date().isoformat(),
        ),
        unit_id=m.cell_unit_id,
        publish=True,
        filename=upload.filename,
        content_type=upload.mimetype or "",
    )
    return documents(long=True).UploadDocument(file_requests(header, upload)).document


def upload_refused(meeting_id: str, exc: grpc.RpcError | ApiError) -> Response:
    """The workspace with why the cell's document was not taken (the file must be chosen again)."""
    if isinstance(exc, ApiError):
        status, text = exc.code, exc.message
    else:
        reason, meta = error_info(exc)
        refused = (409, number_taken(meta, "")) if reason == "number_taken" else shown(exc)
        if refused is None:
            raise exc
        status, text = refused
    return workspace(meeting_id, status=status, error=f"{text} {_('Please choose the file again.')}")


@bp.route("/manage/meetings/<meeting_id>/documents/upload", methods=["POST"])
@login_required
def upload_for_meeting(meeting_id: str) -> Response:
    m = meetings().GetMeeting(mpb.GetMeetingRequest(meeting_id=meeting_id)).meeting
    if m.state not in (mpb.MEETING_STATE_DRAFT, mpb.MEETING_STATE_ANNOUNCED):  # before the file is kept
        return workspace(meeting_id, status=400, error=reason_message("wrong_state"))
    title = " ".join(request.form.get("title", "").split())[:500]
    try:
        doc = cell_document(m, request.form.get("doc_type", "")[:5], title, given_key())
    except (grpc.RpcError, ApiError) as exc:
        return upload_refused(meeting_id, exc)
    if doc.status != dpb.DOCUMENT_STATUS_PUBLISHED:  # a scan: published once OCR has read it
        return redirect(url_for("web.manage_meeting", meeting_id=meeting_id, done="uploaded_held") + "#documents",
                        code=303)  # type: ignore[return-value]
    return act(meeting_id, "uploaded", lambda: meetings().AttachDocument(mpb.AttachDocumentRequest(
        meeting_id=meeting_id, document_id=doc.id)), "documents")


@bp.route("/manage/meetings/<meeting_id>/announce", methods=["POST"])
@login_required
def announce(meeting_id: str) -> Response:
    return act(meeting_id, "announced", lambda: meetings().AnnounceMeeting(
        mpb.AnnounceMeetingRequest(meeting_id=meeting_id)))


@bp.route("/manage/meetings/<meeting_id>/start", methods=["POST"])
@login_required
def start(meeting_id: str) -> Response:
    began, problem = held_time("started_at")
    if problem:
        return workspace(meeting_id, status=400, error=problem)
    return act(meeting_id, "started", lambda: meetings().StartMeeting(mpb.StartMeetingRequest(
        meeting_id=meeting_id, chair_member_id=request.form.get("chair", "")[:64],
        minutes_secretary_member_id=request.form.get("minutes_secretary", "")[:64], started_at=began)))


def held_time(name: str) -> tuple[Timestamp | None, str]:
    """The optional time a meeting entered after it was held began or ended (None: now), or an error text."""
    raw = request.form.get(name, "").strip()
    if not raw:
        return None, ""
    when = parse_local(raw)
    return when, "" if when is not None else _("Please give the date and time.")


def sheet_marks() -> list[mpb.AttendanceMark]:
    """The attendance sheet's lines as marks: each member's choice (a-<id>), reason (r-<id>) and
    session status as the page showed it (s-<id>)."""
    marks = []
    for name, choice in request.form.items():
        if not name.startswith("a-") or choice not in SHEET:
            continue
        member_id = name[2:66]
        reason = request.form.get(f"r-{member_id}", "").strip()[:500]
        was = request.form.get(f"s-{member_id}", "")
        mark = mpb.AttendanceMark(member_id=member_id)
        if choice in ("session_excused", "transferred"):
            mark.session_status = (mpb.SESSION_STATUS_EXCUSED if choice == "session_excused"
                                   else mpb.SESSION_STATUS_TRANSFERRED)
            mark.session_reason = reason
        else:
            if was in ("transferred", "excused"):
                mark.session_status = mpb.SESSION_STATUS_NORMAL
            if choice in ("present", "online"):
                mark.attendance = mpb.ATTENDANCE_STATUS_PRESENT
                mark.mode = mpb.ATTENDANCE_MODE_ONLINE if choice == "online" else mpb.ATTENDANCE_MODE_IN_PERSON
            else:
                mark.attendance = (mpb.ATTENDANCE_STATUS_ABSENT_EXCUSED if choice == "excused"
                                   else mpb.ATTENDANCE_STATUS_ABSENT_UNEXCUSED)
                mark.reason = reason or (_("No reason given") if choice == "unexcused" else "")
        marks.append(mark)
    return marks


@bp.route("/manage/meetings/<meeting_id>/attendance", methods=["POST"])
@login_required
def attendance_sheet(meeting_id: str) -> Response:
    """The whole sheet in one request (marks from the form; everyone not on it present), or the
    other record of the combined session carried over."""
    req = mpb.RecordAttendanceBulkRequest(meeting_id=meeting_id, idempotency_key=given_key(),
                                          copy_from_meeting_id=request.form.get("copy_from", "")[:64],
                                          marks=sheet_marks(), rest_present=request.form.get("rest") == "1")
    return act(meeting_id, "attendance", lambda: meetings().RecordAttendanceBulk(req),
               "sheet")


@bp.route("/manage/meetings/<meeting_id>/opinions", methods=["POST"])
@login_required
def spoken_opinion(meeting_id: str) -> Response:
    text = request.form.get("text", "").strip()[:5000]
    speaker = request.form.get("speaker", "")[:64]
    if not text or not speaker:
        return workspace(meeting_id, status=400, error=_("Please choose who spoke and write what was said."))
    return act(meeting_id, "opinion", lambda: meetings().AddOpinion(mpb.AddOpinionRequest(
        meeting_id=meeting_id, text=text, speaker_member_id=speaker, idempotency_key=given_key())), "opinions")


@bp.route("/manage/meetings/<meeting_id>/polls", methods=["POST"])
@login_required
def open_poll(meeting_id: str) -> Response:
    question = request.form.get("question", "").strip()[:1000]
    if not question:
        return workspace(meeting_id, status=400, error=_("Please write the question put to the vote."))
    return act(meeting_id, "poll", lambda: meetings().OpenPoll(mpb.OpenPollRequest(
        meeting_id=meeting_id, question=question,
        kind=POLL_KINDS.get(request.form.get("kind", ""), mpb.POLL_KIND_RESOLUTION_ADOPTION),
        ballot=BALLOTS.get(request.form.get("ballot", ""), mpb.BALLOT_TYPE_OPEN))), "tally")


def count(name: str) -> int | None:
    raw = request.form.get(name, "0").strip() or "0"
    return int(raw) if raw.isdigit() and len(raw) < 6 else None


@bp.route("/manage/meetings/<meeting_id>/polls/<poll_id>/room", methods=["POST"])
@login_required
def room_count(meeting_id: str, poll_id: str) -> Response:
    counts = [count(n) for n in ("approve", "reject", "abstain")]
    if any(c is None for c in counts):
        return workspace(meeting_id, status=400, error=_("A show-of-hands count is a whole number."))
    approve, reject, abstain = (c or 0 for c in counts)
    return act(meeting_id, "room", lambda: meetings().RecordRoomCount(mpb.RecordRoomCountRequest(
        poll_id=poll_id, counts=mpb.Counts(approve=approve, reject=reject, abstain=abstain))), "tally")


@bp.route("/manage/meetings/<meeting_id>/polls/<poll_id>/close", methods=["POST"])
@login_required
def close_poll(meeting_id: str, poll_id: str) -> Response:
    return act(meeting_id, "closed_poll", lambda: meetings().ClosePoll(
        mpb.ClosePollRequest(poll_id=poll_id)), "tally")


@bp.route("/manage/meetings/<meeting_id>/close", methods=["POST"])
@login_required
def close_meeting(meeting_id: str) -> Response:
    conclusion = request.form.get("conclusion", "").strip()[:20000]
    ended, problem = held_time("closed_at")
    if problem:
        return workspace(meeting_id, status=400, error=problem)
    return act(meeting_id, "closed", lambda: meetings().CloseMeeting(
        mpb.CloseMeetingRequest(meeting_id=meeting_id, conclusion=conclusion, closed_at=ended)))


@bp.route("/manage/meetings/<meeting_id>/resolution", methods=["POST"])
@login_required
def publish_resolution(meeting_id: str) -> Response:
    text = request.form.get("text", "").strip()[:20000]
    if not text:
        return workspace(meeting_id, status=400, error=_("Please write the resolution."))
    signed = ""  # the signed copy, when its file is given: a resolution (NQ) of the cell
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        m = meetings().GetMeeting(mpb.GetMeetingRequest(meeting_id=meeting_id)).meeting
        if m.state != mpb.MEETING_STATE_CLOSED:  # before the file is stored as the cell's document
            return workspace(meeting_id, status=400, error=reason_message("wrong_state"))
        try:
            signed = cell_document(m, "NQ", _("Resolution: %(meeting)s") % {"meeting": m.title}, given_key()).id
        except (grpc.RpcError, ApiError) as exc:
            return upload_refused(meeting_id, exc)
    return act(meeting_id, "resolution", lambda: meetings().PublishResolution(
        mpb.PublishResolutionRequest(meeting_id=meeting_id, text=text, document_id=signed)))


@bp.route("/manage/meetings/<meeting_id>/tasks", methods=["POST"])
@login_required
def assign_task(meeting_id: str) -> Response:
    title = request.form.get("title", "").strip()[:500]
    assignees = [m[:64] for m in request.form.getlist("assignee")][:100]
    due = request.form.get("due_on", "").strip()[:10]
    if not title or not assignees:
        return workspace(meeting_id, status=400, error=_("A task needs a title and at least one member."))
    return act(meeting_id, "task", lambda: meetings().AssignTask(mpb.AssignTaskRequest(
        meeting_id=meeting_id, title=title, description=request.form.get("description", "").strip()[:5000],
        assignee_member_ids=assignees, due_on=due, idempotency_key=given_key())), "tasks")


@bp.route("/manage/meetings/<meeting_id>/minutes.pdf")
@login_required
def minutes_preview(meeting_id: str) -> Response:
    """The minutes as a PDF shown in the browser (the download links are the members' ones)."""
    try:
        response = minutes_response(meeting_id, "pdf")
    except ApiError:
        return error_page(503)
    response.headers["Content-Disposition"] = response.headers["Content-Disposition"].replace(
        "attachment", "inline", 1)
    return response


# ---------- quality evaluation ----------


def evaluation_page(meeting_id: str, status: int = 200, error: str = "") -> Response:
    stub = meetings()
    meeting = stub.GetMeeting.future(mpb.GetMeetingRequest(meeting_id=meeting_id))
    found = stub.GetEvaluation(mpb.GetEvaluationRequest(meeting_id=meeting_id))
    given = {s.criterion_id: s.points for s in found.official.scores} if found.HasField("official") else {}
    computed = {c.criterion_id: c for c in found.computed}
    return render("manage_meeting_evaluation.html", status=status, error=error, m=meeting.result().meeting,
                  rubric=found.rubric, official=found.official if found.HasField("official") else None,
                  given=given, computed=computed, ev=found, notice=notice(), states=STATES, rules=RULES)


@bp.route("/manage/meetings/<meeting_id>/evaluation")
@login_required
def evaluation(meeting_id: str) -> Response:
    return evaluation_page(meeting_id)


@bp.route("/manage/meetings/<meeting_id>/evaluation", methods=["POST"])
@login_required
def submit_evaluation(meeting_id: str) -> Response:
    scores = []
    for name, raw in request.form.items():
        if name.startswith("c-") and raw.strip():
            value = raw.strip()
            if not value.isdigit() or len(value) > 4:
                return evaluation_page(meeting_id, status=400, error=_("Points are whole numbers."))
            scores.append(mpb.CriterionScore(criterion_id=name[2:80], points=int(value)))
    try:
        meetings().SubmitEvaluation(mpb.SubmitEvaluationRequest(
            meeting_id=meeting_id, scores=scores, comment=request.form.get("comment", "").strip()[:2000],
            official=True))
    except grpc.RpcError as exc:
        refused = shown(exc)
        if refused is None:
            raise
        return evaluation_page(meeting_id, status=refused[0], error=refused[1])
    return redirect(url_for("web.evaluation", meeting_id=meeting_id, done="evaluated"), code=303)  # type: ignore[return-value]
