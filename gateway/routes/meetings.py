"""Cell meetings in three parts: before (agenda, documents, announcement), during (attendance,
opinions, polls, evaluation, live state), after (resolution, tasks), minutes and compliance.

Every view is a thin translation: JSON in, one meetings RPC with the caller's token, JSON out.
Authorisation, state rules and the Charter's arithmetic are the meetings service's.

Live state: `GET /meetings/<id>/live` is a conditional GET. The ETag is the meeting's live
version; a client polling every second with `If-None-Match` gets `304 Not Modified` (one
primary-key read behind it) until something changes, so changes reach every open client within
~1 s while the gateway's sync workers are never held by a stream (see services/meetings/live.py).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, jsonify, request

from gateway import clients
from gateway.api import Routes, relay_chunks
from gateway.convert import from_json, to_json, to_json_all
from gateway.errors import ApiError
from gateway.schemas.common import PageQuery
from gateway.schemas.meetings import (
    Assessment,
    AssignTaskBody,
    AttachDocumentBody,
    AttendanceBody,
    AttendancePage,
    AttendanceSheet,
    AttendanceSheetBody,
    Attendee,
    CheckInBody,
    CloseMeetingBody,
    ComplianceQuery,
    ComplianceReport,
    CreateMeetingBody,
    DocumentOpened,
    DocumentOpenPage,
    Evaluation,
    EvaluationBody,
    ListMeetingsQuery,
    ListOpinionsQuery,
    ListTasksQuery,
    LiveQuery,
    LiveState,
    Meeting,
    MeetingFieldsBody,
    MeetingPage,
    MeetingTasksQuery,
    MinutesQuery,
    NamedVotePage,
    OpenPollBody,
    Opinion,
    OpinionBody,
    OpinionPage,
    Poll,
    PollPage,
    ResolutionBody,
    RoomCountBody,
    Rubric,
    SessionStatusBody,
    StartMeetingBody,
    Task,
    TaskPage,
    TaskProgressBody,
    VoteBody,
    VoteReceipt,
)
from sotay.meetings.v1 import meetings_pb2 as pb
from sotay.meetings.v1 import meetings_pb2_grpc

MEETINGS = clients.Backend("meetings", pb.DESCRIPTOR.services_by_name["MeetingsService"])
MINUTES_FORMATS = {"pdf": pb.MINUTES_FORMAT_PDF, "docx": pb.MINUTES_FORMAT_DOCX}
ETAG = re.compile(r'^(?:W/)?"v(\d{1,18})"$')  # an int64 (since_version); any other tag never matches

routes = Routes("meetings", "Cell meetings: documents before, attendance, opinions and votes during, "
                            "resolution and tasks after; minutes and compliance")


def meetings(*, long: bool = False) -> meetings_pb2_grpc.MeetingsServiceStub:
    return clients.stub(MEETINGS, meetings_pb2_grpc.MeetingsServiceStub, long=long)


def page(items: list[dict[str, Any]], reply: Any) -> dict[str, Any]:
    return {"items": items, "next_page_token": reply.next_page_token, "total_size": reply.total_size}


def meeting_fields(body: MeetingFieldsBody, exclude: set[str] | None = None) -> tuple[pb.MeetingFields, list[str]]:
    """The MeetingFields message and the names given (PATCH: the update mask)."""
    given = body.model_dump(mode="json", exclude_none=True, exclude=exclude)
    return from_json(pb.MeetingFields, given), sorted(given)


# ---------- part 1: before ----------


@routes.route("/meetings", "POST", body=CreateMeetingBody, response=Meeting, status=201,
              summary="Create a meeting of a cell (a draft)")
def create_meeting(body: CreateMeetingBody) -> dict[str, Any]:
    fields, _ = meeting_fields(body, exclude={"cell_unit_id", "kind", "follows_meeting_id"})
    req = from_json(pb.CreateMeetingRequest, body.model_dump(include={"cell_unit_id", "kind", "follows_meeting_id"}))
    req.fields.CopyFrom(fields)
    return to_json(meetings().CreateMeeting(req).meeting)


@routes.route("/meetings", "GET", query=ListMeetingsQuery, response=MeetingPage,
              summary="List a cell's meetings (optionally of a month, or in a state)")
def list_meetings(query: ListMeetingsQuery) -> dict[str, Any]:
    req = from_json(pb.ListMeetingsRequest, query.model_dump(exclude_none=True))
    reply = meetings().ListMeetings(req)
    return page(to_json_all(reply.meetings), reply)


@routes.route("/meetings/<meeting_id>", "GET", response=Meeting, summary="Read a meeting")
def get_meeting(meeting_id: str) -> dict[str, Any]:
    return to_json(meetings().GetMeeting(pb.GetMeetingRequest(meeting_id=meeting_id)).meeting)


@routes.route("/meetings/<meeting_id>", "PATCH", body=MeetingFieldsBody, response=Meeting,
              summary="Change a meeting (what may change depends on its state)")
def update_meeting(meeting_id: str, body: MeetingFieldsBody) -> dict[str, Any]:
    fields, mask = meeting_fields(body)
    req = pb.UpdateMeetingRequest(meeting_id=meeting_id, fields=fields)
    req.update_mask.paths.extend(mask)
    return to_json(meetings().UpdateMeeting(req).meeting)


@routes.route("/meetings/<meeting_id>", "DELETE", status=204, summary="Delete a draft meeting")
def delete_meeting(meeting_id: str) -> None:
    meetings().DeleteMeeting(pb.DeleteMeetingRequest(meeting_id=meeting_id))


@routes.route("/meetings/<meeting_id>/documents", "POST", body=AttachDocumentBody, response=Meeting,
              summary="Attach a document (from the documents service) for members to read before")
def attach_document(meeting_id: str, body: AttachDocumentBody) -> dict[str, Any]:
    req = pb.AttachDocumentRequest(meeting_id=meeting_id, document_id=body.document_id, title=body.title)
    return to_json(meetings().AttachDocument(req).meeting)


@routes.route("/meetings/<meeting_id>/documents/<document_id>", "DELETE", response=Meeting,
              summary="Detach a document")
def detach_document(meeting_id: str, document_id: str) -> dict[str, Any]:
    req = pb.DetachDocumentRequest(meeting_id=meeting_id, document_id=document_id)
    return to_json(meetings().DetachDocument(req).meeting)


@routes.route("/meetings/<meeting_id>/announce", "POST", response=Meeting,
              summary="Announce: snapshot the roster and notify the members")
def announce_meeting(meeting_id: str) -> dict[str, Any]:
    req = pb.AnnounceMeetingRequest(meeting_id=meeting_id)
    return to_json(meetings().AnnounceMeeting(req).meeting)


@routes.route("/meetings/<meeting_id>/documents/<document_id>/opened", "POST", response=DocumentOpened,
              summary="Record that the caller opened a meeting document")
def document_opened(meeting_id: str, document_id: str) -> dict[str, Any]:
    req = pb.RecordDocumentOpenedRequest(meeting_id=meeting_id, document_id=document_id)
    return to_json(meetings().RecordDocumentOpened(req))


@routes.route("/meetings/<meeting_id>/document-opens", "GET", query=PageQuery, response=DocumentOpenPage,
              summary="Who opened the meeting's documents, and when first")
def list_document_opens(meeting_id: str, query: PageQuery) -> dict[str, Any]:
    req = from_json(pb.ListDocumentOpensRequest, {"meeting_id": meeting_id, **query.model_dump()})
    reply = meetings().ListDocumentOpens(req)
    return page(to_json_all(reply.opens), reply)


# ---------- part 2: during ----------


@routes.route("/meetings/<meeting_id>/start", "POST", body=StartMeetingBody, response=Meeting,
              summary="Open the meeting (chair and meeting secretary from the roster)")
def start_meeting(meeting_id: str, body: StartMeetingBody) -> dict[str, Any]:
    req = from_json(pb.StartMeetingRequest, {"meeting_id": meeting_id, **body.model_dump()})
    return to_json(meetings().StartMeeting(req).meeting)


@routes.route("/meetings/<meeting_id>/session-statuses/<member_id>", "PUT", body=SessionStatusBody,
              response=Attendee, summary="Mark a member transferred, suspended or excused for this session")
def set_session_status(meeting_id: str, member_id: str, body: SessionStatusBody) -> dict[str, Any]:
    req = from_json(pb.SetSessionStatusRequest, {"meeting_id": meeting_id, "member_id": member_id,
                                                 **body.model_dump()})
    return to_json(meetings().SetSessionStatus(req).attendee)


@routes.route("/meetings/<meeting_id>/check-in", "POST", body=CheckInBody, response=Attendee,
              summary="Check in to the meeting (the caller)")
def check_in(meeting_id: str, body: CheckInBody) -> dict[str, Any]:
    data = body.model_dump(exclude_none=True)
    data["idempotency_key"] = data.get("idempotency_key") or request.headers.get("Idempotency-Key", "")
    req = from_json(pb.CheckInRequest, {"meeting_id": meeting_id, **data})
    return to_json(meetings().CheckIn(req).attendee)


@routes.route("/meetings/<meeting_id>/attendance/<member_id>", "PUT", body=AttendanceBody, response=Attendee,
              summary="Record a member present (in the room) or absent with a reason")
def record_attendance(meeting_id: str, member_id: str, body: AttendanceBody) -> dict[str, Any]:
    req = from_json(pb.RecordAttendanceRequest, {"meeting_id": meeting_id, "member_id": member_id,
                                                 **body.model_dump(exclude_none=True)})
    return to_json(meetings().RecordAttendance(req).attendee)


@routes.route("/meetings/<meeting_id>/attendance", "POST", body=AttendanceSheetBody, response=AttendanceSheet,
              summary="The whole attendance sheet in one request: marks, everyone else present, carried over "
                      "from the combined session's other meeting; all or nothing, idempotent")
def record_attendance_sheet(meeting_id: str, body: AttendanceSheetBody) -> dict[str, Any]:
    data = body.model_dump(exclude_none=True)
    data["idempotency_key"] = data.get("idempotency_key") or request.headers.get("Idempotency-Key", "")
    req = from_json(pb.RecordAttendanceBulkRequest, {"meeting_id": meeting_id, **data})
    return to_json(meetings().RecordAttendanceBulk(req))


@routes.route("/meetings/<meeting_id>/attendance", "GET", query=PageQuery, response=AttendancePage,
              summary="The roster with attendance and session statuses, and the totals")
def list_attendance(meeting_id: str, query: PageQuery) -> dict[str, Any]:
    req = from_json(pb.ListAttendanceRequest, {"meeting_id": meeting_id, **query.model_dump()})
    reply = meetings().ListAttendance(req)
    return {**page(to_json_all(reply.attendees), reply), "totals": to_json(reply.totals)}


@routes.route("/meetings/<meeting_id>/opinions", "POST", body=OpinionBody, response=Opinion, status=201,
              summary="Give an opinion, or (secretary) record what someone said in the room")
def add_opinion(meeting_id: str, body: OpinionBody) -> dict[str, Any]:
    req = pb.AddOpinionRequest(meeting_id=meeting_id, **body.model_dump())
    return to_json(meetings().AddOpinion(req).opinion)


@routes.route("/meetings/<meeting_id>/opinions", "GET", query=ListOpinionsQuery, response=OpinionPage,
              summary="The opinions given, in order")
def list_opinions(meeting_id: str, query: ListOpinionsQuery) -> dict[str, Any]:
    req = from_json(pb.ListOpinionsRequest, {"meeting_id": meeting_id, **query.model_dump()})
    reply = meetings().ListOpinions(req)
    return page(to_json_all(reply.opinions), reply)


@routes.route("/meetings/<meeting_id>/polls", "POST", body=OpenPollBody, response=Poll, status=201,
              summary="Open a poll (open or secret ballot)")
def open_poll(meeting_id: str, body: OpenPollBody) -> dict[str, Any]:
    req = from_json(pb.OpenPollRequest, {"meeting_id": meeting_id, **body.model_dump()})
    return to_json(meetings().OpenPoll(req).poll)


@routes.route("/meetings/<meeting_id>/polls", "GET", query=PageQuery, response=PollPage,
              summary="The meeting's polls and their results")
def list_polls(meeting_id: str, query: PageQuery) -> dict[str, Any]:
    req = from_json(pb.ListPollsRequest, {"meeting_id": meeting_id, **query.model_dump()})
    reply = meetings().ListPolls(req)
    return page(to_json_all(reply.polls), reply)


@routes.route("/meetings/polls/<poll_id>", "GET", response=Poll, summary="Read a poll")
def get_poll(poll_id: str) -> dict[str, Any]:
    return to_json(meetings().GetPoll(pb.GetPollRequest(poll_id=poll_id)).poll)


@routes.route("/meetings/polls/<poll_id>/votes", "POST", body=VoteBody, response=VoteReceipt,
              summary="Vote (one member, one vote; a retry with the same idempotency_key is a replay)")
def cast_vote(poll_id: str, body: VoteBody) -> dict[str, Any]:
    req = from_json(pb.CastVoteRequest, {"poll_id": poll_id, **body.model_dump()})
    return to_json(meetings().CastVote(req))


@routes.route("/meetings/polls/<poll_id>/votes", "GET", query=PageQuery, response=NamedVotePage,
              summary="Who voted what in an open (named) ballot")
def list_poll_votes(poll_id: str, query: PageQuery) -> dict[str, Any]:
    req = from_json(pb.ListPollVotesRequest, {"poll_id": poll_id, **query.model_dump()})
    reply = meetings().ListPollVotes(req)
    return page(to_json_all(reply.votes), reply)


@routes.route("/meetings/polls/<poll_id>/room-count", "PUT", body=RoomCountBody, response=Poll,
              summary="Set the show-of-hands counts taken in the room")
def record_room_count(poll_id: str, body: RoomCountBody) -> dict[str, Any]:
    req = pb.RecordRoomCountRequest(poll_id=poll_id, counts=pb.Counts(**body.model_dump()))
    return to_json(meetings().RecordRoomCount(req).poll)


@routes.route("/meetings/polls/<poll_id>/close", "POST", response=Poll,
              summary="Close a poll: the result by the Charter, with its arithmetic")
def close_poll(poll_id: str) -> dict[str, Any]:
    return to_json(meetings().ClosePoll(pb.ClosePollRequest(poll_id=poll_id)).poll)


@routes.route("/meetings/rubric", "GET", response=Rubric, summary="The meeting-quality rubric in force")
def get_rubric() -> dict[str, Any]:
    return to_json(meetings().GetRubric(pb.GetRubricRequest()).rubric)


@routes.route("/meetings/<meeting_id>/evaluations", "POST", body=EvaluationBody, response=Assessment,
              status=201, summary="Assess the meeting (or, secretary, give its official score)")
def submit_evaluation(meeting_id: str, body: EvaluationBody) -> dict[str, Any]:
    req = pb.SubmitEvaluationRequest(
        meeting_id=meeting_id, comment=body.comment, official=body.official,
        scores=[pb.CriterionScore(criterion_id=k, points=v) for k, v in body.scores.items()],
    )
    return to_json(meetings().SubmitEvaluation(req).assessment)


@routes.route("/meetings/<meeting_id>/evaluation", "GET", response=Evaluation,
              summary="The official score and the members' assessments")
def get_evaluation(meeting_id: str) -> dict[str, Any]:
    return to_json(meetings().GetEvaluation(pb.GetEvaluationRequest(meeting_id=meeting_id)))


@routes.route("/meetings/<meeting_id>/close", "POST", body=CloseMeetingBody, response=Meeting,
              summary="Close the meeting (every poll closed first)")
def close_meeting(meeting_id: str, body: CloseMeetingBody) -> dict[str, Any]:
    req = from_json(pb.CloseMeetingRequest, {"meeting_id": meeting_id, **body.model_dump()})
    return to_json(meetings().CloseMeeting(req).meeting)


@routes.route("/meetings/<meeting_id>/live", "GET", query=LiveQuery, response=LiveState,
              summary="Live state (attendance, polls, results): a conditional GET, ETag = version")
def live_state(meeting_id: str, query: LiveQuery) -> Response | dict[str, Any]:
    """Send `If-None-Match` with the last ETag (or `since_version`): 304 while nothing changed."""
    since = query.since_version
    match = ETAG.match(request.headers.get("If-None-Match", "").strip())
    if match:
        since = int(match.group(1))
    reply = meetings().GetLiveState(pb.GetLiveStateRequest(meeting_id=meeting_id, since_version=since))
    etag = f'"v{reply.version}"'
    response = Response(status=304) if reply.not_modified else jsonify(to_json(reply))
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "private, no-cache"
    return response


# ---------- part 3: after ----------


@routes.route("/meetings/<meeting_id>/resolution", "POST", body=ResolutionBody, response=Meeting,
              summary="Publish the resolution (text and/or a document id)")
def publish_resolution(meeting_id: str, body: ResolutionBody) -> dict[str, Any]:
    req = pb.PublishResolutionRequest(meeting_id=meeting_id, **body.model_dump())
    return to_json(meetings().PublishResolution(req).meeting)


@routes.route("/meetings/<meeting_id>/tasks", "POST", body=AssignTaskBody, response=Task, status=201,
              summary="Assign a task decided at the meeting")
def assign_task(meeting_id: str, body: AssignTaskBody) -> dict[str, Any]:
    req = from_json(pb.AssignTaskRequest, {"meeting_id": meeting_id, **body.model_dump(mode="json")})
    return to_json(meetings().AssignTask(req).task)


@routes.route("/meetings/<meeting_id>/tasks", "GET", query=MeetingTasksQuery, response=TaskPage,
              summary="The tasks assigned at a meeting")
def list_meeting_tasks(meeting_id: str, query: MeetingTasksQuery) -> dict[str, Any]:
    req = from_json(pb.ListTasksRequest, {"meeting_id": meeting_id, **query.model_dump(exclude_none=True)})
    reply = meetings().ListTasks(req)
    return page(to_json_all(reply.tasks), reply)


@routes.route("/meetings/tasks", "GET", query=ListTasksQuery, response=TaskPage, summary="A cell's tasks")
def list_cell_tasks(query: ListTasksQuery) -> dict[str, Any]:
    req = from_json(pb.ListTasksRequest, query.model_dump(exclude_none=True))
    reply = meetings().ListTasks(req)
    return page(to_json_all(reply.tasks), reply)


@routes.route("/meetings/tasks/<task_id>/progress", "POST", body=TaskProgressBody, response=Task,
              summary="Report progress on a task (assignees, or the secretary)")
def report_task_progress(task_id: str, body: TaskProgressBody) -> dict[str, Any]:
    req = from_json(pb.ReportTaskProgressRequest, {"task_id": task_id, **body.model_dump(exclude_none=True)})
    return to_json(meetings().ReportTaskProgress(req).task)


# ---------- minutes and compliance ----------


@routes.route("/meetings/<meeting_id>/minutes", "GET", query=MinutesQuery,
              produces=("application/pdf",
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
              summary="Download the minutes (biên bản) generated from the record, as PDF or DOCX")
def download_minutes(meeting_id: str, query: MinutesQuery) -> Response:
    return minutes_response(meeting_id, query.format)


def minutes_response(meeting_id: str, fmt: str) -> Response:
    """The minutes file relayed from the meetings service (the API's and the web page's download)."""
    call = meetings(long=True).GetMinutes(
        pb.GetMinutesRequest(meeting_id=meeting_id, format=MINUTES_FORMATS[fmt])
    )
    first, body = relay_chunks(call, "minutes download")  # wrong state etc. arrive here, before any header
    if first is None:
        raise ApiError(502, "minutes_empty", "the meetings service sent no minutes")
    response = Response(body, content_type=first.content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{first.filename}"'
    if first.size:
        response.headers["Content-Length"] = str(first.size)
    return response


@routes.route("/meetings/compliance", "GET", query=ComplianceQuery, response=ComplianceReport,
              summary="Which of the three parts each cell under a unit did in a month, with totals")
def compliance_report(query: ComplianceQuery) -> dict[str, Any]:
    req = from_json(pb.GetComplianceReportRequest, query.model_dump())
    return to_json(meetings().GetComplianceReport(req))
