"""The MeetingsService gRPC servicer: authorise, run one transaction, convert.

Calls to identity (a cell's ancestry for committee access, the roster at the announcement) are
made outside write transactions, so a slow identity never holds the database's write lock.
Nothing here logs a member id together with a vote (see ballots.py).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core import idempotency
from services.core.auth import Principal
from services.core.db import Database
from services.core.documents_client import DocumentsClient
from services.core.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unavailable
from services.core.identity_client import IdentityClient
from services.core.ids import require_id
from services.core.interceptors import current_principal
from services.core.paging import next_token, page_window
from services.core.timestamps import given_seconds, timestamp
from services.meetings import (
    compliance,
    evaluation,
    live,
    meetings,
    opinions,
    roster,
    states,
    tasks,
    voting,
)
from services.meetings.access import Access, document_for_cell
from services.meetings.ballots import BallotBox
from services.meetings.charter import Rubric, Tally
from services.meetings.convert import (
    assessment_msg,
    attendee_msg,
    enum_str,
    fields_from,
    live_poll_msg,
    meeting_msg,
    opinion_msg,
    poll_msg,
    rubric_msg,
    str_enum,
    task_msg,
    totals_msg,
)
from services.meetings.minutes import record, to_docx, to_pdf
from sotay.meetings.v1 import meetings_pb2 as pb
from sotay.meetings.v1 import meetings_pb2_grpc

CHUNK = 64 * 1024
log = logging.getLogger("sotay.meetings")
MEDIA = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}


class MeetingsServicer(meetings_pb2_grpc.MeetingsServiceServicer):
    def __init__(
        self, db: Database, identity: IdentityClient, box: BallotBox, rubric: Rubric, documents: DocumentsClient
    ) -> None:
        self.db = db
        self.identity = identity
        self.documents = documents
        self.access = Access(identity)
        self.box = box
        self.rubric = rubric

    # ---------- helpers ----------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction; a database that is busy or away is UNAVAILABLE (retryable), not INTERNAL."""
        try:
            with self.db.write() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            log.warning("database unavailable", extra={"fields": {"error": type(exc.orig).__name__}})
            raise Unavailable("database_unavailable", "the database is busy; try again") from None

    def _meeting_msg(self, conn: Connection, meeting_id: str) -> pb.Meeting:
        m = meetings.get(conn, meeting_id)
        return meeting_msg(
            m,
            meetings.agenda(conn, m.id),
            meetings.documents(conn, m.id),
            [s.id for s in meetings.session_meetings(conn, m.session_id)],
        )

    def _as_runner(self, meeting_id: str) -> tuple[Principal, Row[Any]]:
        """The caller runs this meeting's cell (checked before the write transaction)."""
        me = current_principal()
        with self.db.read() as conn:
            m = meetings.get(conn, meeting_id)
        self.access.require_runner(me, m.cell_unit_id)
        return me, m

    def _as_reader(self, conn: Connection, meeting_id: str) -> tuple[Principal, Row[Any]]:
        me = current_principal()
        m = meetings.get(conn, meeting_id)
        self.access.require_read(conn, me, m.cell_unit_id, m.id)
        return me, m

    def _poll_reader(self, conn: Connection, poll_id: str) -> tuple[Principal, Row[Any]]:
        poll = voting.get(conn, poll_id)
        me, _ = self._as_reader(conn, poll.meeting_id)
        return me, poll

    def _roster_name(self, conn: Connection, meeting_id: str, member_id: str) -> str:
        try:
            return str(meetings.require_roster_member(conn, meeting_id, member_id, "member_id").full_name)
        except NotFound:
            return ""

    # ---------- part 1: before ----------

    def CreateMeeting(
        self, request: pb.CreateMeetingRequest, context: grpc.ServicerContext
    ) -> pb.CreateMeetingResponse:
        me = current_principal()
        cell_id = require_id(request.cell_unit_id, "cell_unit_id")
        kind = enum_str(pb.MeetingKind, request.kind, "MEETING_KIND_", "kind")
        if not kind:
            raise InvalidArgument("kind_required", "kind is required (regular or thematic)", field="kind")
        fields = fields_from(request.fields, None)
        follows = (
            require_id(request.follows_meeting_id, "follows_meeting_id", "meeting")
            if request.follows_meeting_id
            else ""
        )
        cell = self.identity.unit(cell_id, "cell_unit_id")
        if not cell.is_cell:
            raise InvalidArgument("not_a_cell", "meetings are held by cells (chi bộ)", field="cell_unit_id")
        self.access.require_runner(me, cell_id)
        with self._write() as conn:
            meeting_id = meetings.create(conn, cell.id, cell.name, kind, fields, me.account_id, follows)
            return pb.CreateMeetingResponse(meeting=self._meeting_msg(conn, meeting_id))

    def GetMeeting(self, request: pb.GetMeetingRequest, context: grpc.ServicerContext) -> pb.GetMeetingResponse:
        with self.db.read() as conn:
            _, m = self._as_reader(conn, request.meeting_id)
            return pb.GetMeetingResponse(meeting=self._meeting_msg(conn, m.id))

    def ListMeetings(self, request: pb.ListMeetingsRequest, context: grpc.ServicerContext) -> pb.ListMeetingsResponse:
        me = current_principal()
        size, offset = page_window(request)
        cell_id = require_id(request.cell_unit_id, "cell_unit_id")
        state = enum_str(pb.MeetingState, request.state, "MEETING_STATE_", "state")
        with self.db.read() as conn:
            self.access.require_read(conn, me, cell_id)
            found, total = meetings.list_meetings(conn, cell_id, request.month, state, offset, size)
            out = [self._meeting_msg(conn, m.id) for m in found]
        return pb.ListMeetingsResponse(
            meetings=out, next_page_token=next_token(offset, size, len(found), total), total_size=total
        )

    def UpdateMeeting(
        self, request: pb.UpdateMeetingRequest, context: grpc.ServicerContext
    ) -> pb.UpdateMeetingResponse:
        paths = list(request.update_mask.paths)
        if not paths:
            raise InvalidArgument(
                "update_mask_required", "name the fields to change in update_mask", field="update_mask"
            )
        fields = fields_from(request.fields, paths)
        _, m = self._as_runner(request.meeting_id)
        with self._write() as conn:
            m = meetings.get(conn, m.id, lock=True)
            meetings.update(conn, m, fields)
            return pb.UpdateMeetingResponse(meeting=self._meeting_msg(conn, m.id))

    def DeleteMeeting(
        self, request: pb.DeleteMeetingRequest, context: grpc.ServicerContext
    ) -> pb.DeleteMeetingResponse:
        _, m = self._as_runner(request.meeting_id)
        with self._write() as conn:
            meetings.delete(conn, meetings.get(conn, m.id, lock=True))
        return pb.DeleteMeetingResponse()

    def AttachDocument(
        self, request: pb.AttachDocumentRequest, context: grpc.ServicerContext
    ) -> pb.AttachDocumentResponse:
        _, m = self._as_runner(request.meeting_id)
        states.require(m.state, "documents")
        document_id = require_id(request.document_id, "document_id", "document")
        title = document_for_cell(self.documents.document(document_id), self.identity.chain(m.cell_unit_id))
        with self._write() as conn:
            meetings.attach_document(
                conn, meetings.get(conn, m.id, lock=True), document_id, request.title.strip() or title
            )
            return pb.AttachDocumentResponse(meeting=self._meeting_msg(conn, m.id))

    def DetachDocument(
        self, request: pb.DetachDocumentRequest, context: grpc.ServicerContext
    ) -> pb.DetachDocumentResponse:
        _, m = self._as_runner(request.meeting_id)
        with self._write() as conn:
            meetings.detach_document(conn, meetings.get(conn, m.id, lock=True), request.document_id)
            return pb.DetachDocumentResponse(meeting=self._meeting_msg(conn, m.id))

    def AnnounceMeeting(
        self, request: pb.AnnounceMeetingRequest, context: grpc.ServicerContext
    ) -> pb.AnnounceMeetingResponse:
        _, m = self._as_runner(request.meeting_id)
        states.require(m.state, "announce")
        entries = roster.summoned(self.identity.roster(m.cell_unit_id))  # with the secretary's forwarded token
        with self._write() as conn:
            roster.snapshot(conn, meetings.get(conn, m.id, lock=True), entries)
            return pb.AnnounceMeetingResponse(meeting=self._meeting_msg(conn, m.id))

    def RecordDocumentOpened(
        self, request: pb.RecordDocumentOpenedRequest, context: grpc.ServicerContext
    ) -> pb.RecordDocumentOpenedResponse:
        me = current_principal()
        with self._write() as conn:
            m = meetings.get(conn, request.meeting_id)
            self.access.require_participant(conn, me, m.id)
            first = meetings.record_document_opened(conn, m, request.document_id, me.member_id)
        return pb.RecordDocumentOpenedResponse(first_opened_at=timestamp(first))

    def ListDocumentOpens(
        self, request: pb.ListDocumentOpensRequest, context: grpc.ServicerContext
    ) -> pb.ListDocumentOpensResponse:
        size, offset = page_window(request)
        with self.db.read() as conn:
            me, m = self._as_reader(conn, request.meeting_id)
            rights = self.access.rights(conn, me, m.cell_unit_id, m.id)
            if not (rights.runner or rights.reader):
                raise PermissionDenied("not_cell_officer", "who opened the documents is for the cell's officers")
            found, total = meetings.list_document_opens(conn, m.id, offset, size)
        return pb.ListDocumentOpensResponse(
            opens=[
                pb.DocumentOpen(
                    document_id=o.document_id,
                    member_id=o.member_id,
                    full_name=o.full_name,
                    first_opened_at=timestamp(o.first_opened_at),
                    times=o.times,
                )
                for o in found
            ],
            next_page_token=next_token(offset, size, len(found), total),
            total_size=total,
        )

    # ---------- part 2: during ----------

    def StartMeeting(self, request: pb.StartMeetingRequest, context: grpc.ServicerContext) -> pb.StartMeetingResponse:
        me, m = self._as_runner(request.meeting_id)
        with self._write() as conn:
            m = meetings.get(conn, m.id, lock=True)
            chair = request.chair_member_id
            if not chair and me.member_id and self._roster_name(conn, m.id, me.member_id):
                chair = me.member_id
            meetings.start(conn, m, chair, request.minutes_secretary_member_id, given_seconds(request, "started_at"))
            return pb.StartMeetingResponse(meeting=self._meeting_msg(conn, m.id))

    def SetSessionStatus(
        self, request: pb.SetSessionStatusRequest, context: grpc.ServicerContext
    ) -> pb.SetSessionStatusResponse:
        status = enum_str(pb.SessionStatus, request.status, "SESSION_STATUS_", "status")
        if not status:
            raise InvalidArgument("status_required", "status is required", field="status")
        _, m = self._as_runner(request.meeting_id)
        with self._write() as conn:
            row = roster.set_session_status(
                conn, meetings.get(conn, m.id, lock=True), request.member_id, status, request.reason
            )
        return pb.SetSessionStatusResponse(attendee=attendee_msg(row))

    def CheckIn(self, request: pb.CheckInRequest, context: grpc.ServicerContext) -> pb.CheckInResponse:
        me = current_principal()
        mode = enum_str(pb.AttendanceMode, request.mode, "ATTENDANCE_MODE_", "mode")
        key = idempotency.check(request.idempotency_key)
        with self._write() as conn:
            m = meetings.get(conn, request.meeting_id, lock=True)
            self.access.require_participant(conn, me, m.id)
            scope = f"checkin:{m.id}:{me.member_id}"
            if key and idempotency.seen(conn, scope, key) is not None:
                row = meetings.require_roster_member(conn, m.id, me.member_id, "member_id")
            else:
                row = roster.check_in(conn, m, me.member_id, mode)
                if key:
                    idempotency.remember(conn, scope, key, me.member_id)
        return pb.CheckInResponse(attendee=attendee_msg(row))

    def RecordAttendance(
        self, request: pb.RecordAttendanceRequest, context: grpc.ServicerContext
    ) -> pb.RecordAttendanceResponse:
        attendance = enum_str(pb.AttendanceStatus, request.attendance, "ATTENDANCE_STATUS_", "attendance")
        mode = enum_str(pb.AttendanceMode, request.mode, "ATTENDANCE_MODE_", "mode")
        _, m = self._as_runner(request.meeting_id)
        with self._write() as conn:
            row = roster.record(
                conn, meetings.get(conn, m.id, lock=True), request.member_id, attendance, mode, request.reason
            )
        return pb.RecordAttendanceResponse(attendee=attendee_msg(row))

    def RecordAttendanceBulk(
        self, request: pb.RecordAttendanceBulkRequest, context: grpc.ServicerContext
    ) -> pb.RecordAttendanceBulkResponse:
        key = idempotency.check(request.idempotency_key, required=True)
        if len(request.marks) > roster.MAX_MARKS:
            raise InvalidArgument("too_many_marks", f"at most {roster.MAX_MARKS} marks", field="marks")
        marks = [
            roster.Mark(
                member_id=mark.member_id,
                attendance=enum_str(pb.AttendanceStatus, mark.attendance, "ATTENDANCE_STATUS_", "attendance"),
                mode=enum_str(pb.AttendanceMode, mark.mode, "ATTENDANCE_MODE_", "mode"),
                reason=mark.reason,
                session_status=enum_str(pb.SessionStatus, mark.session_status, "SESSION_STATUS_", "session_status"),
                session_reason=mark.session_reason,
            )
            for mark in request.marks
        ]
        source = (
            require_id(request.copy_from_meeting_id, "copy_from_meeting_id", "meeting")
            if request.copy_from_meeting_id
            else ""
        )
        body = request.__deepcopy__()
        body.idempotency_key = ""
        digest = hashlib.sha256(body.SerializeToString(deterministic=True)).hexdigest()
        _, m = self._as_runner(request.meeting_id)
        with self._write() as conn:
            m = meetings.get(conn, m.id, lock=True)
            scope = f"attendance-sheet:{m.id}"
            earlier = idempotency.seen(conn, scope, key)
            if earlier is not None and earlier != digest:
                raise FailedPrecondition(
                    "idempotency_key_reused", "this idempotency_key was used for another attendance sheet"
                )
            changed = 0
            if earlier is None:
                changed = roster.bulk(conn, m, marks, request.rest_present, source)
                idempotency.remember(conn, scope, key, digest)
            rows = roster.all_rows(conn, m.id)
            totals = live.totals(conn, m.id)
        return pb.RecordAttendanceBulkResponse(
            attendees=[attendee_msg(r) for r in rows],
            totals=totals_msg(totals),
            changed=changed,
            replayed=earlier is not None,
        )

    def ListAttendance(
        self, request: pb.ListAttendanceRequest, context: grpc.ServicerContext
    ) -> pb.ListAttendanceResponse:
        size, offset = page_window(request)
        with self.db.read() as conn:
            _, m = self._as_reader(conn, request.meeting_id)
            found, total = roster.list_roster(conn, m.id, offset, size)
            totals = live.totals(conn, m.id)
        return pb.ListAttendanceResponse(
            attendees=[attendee_msg(r) for r in found],
            totals=totals_msg(totals),
            next_page_token=next_token(offset, size, len(found), total),
            total_size=total,
        )

    def AddOpinion(self, request: pb.AddOpinionRequest, context: grpc.ServicerContext) -> pb.AddOpinionResponse:
        me = current_principal()
        key = idempotency.check(request.idempotency_key)
        spoken = bool(request.speaker_member_id)
        with self.db.read() as conn:
            m = meetings.get(conn, request.meeting_id)
        if spoken:
            self.access.require_runner(me, m.cell_unit_id)
        with self._write() as conn:
            m = meetings.get(conn, m.id, lock=True)
            if not spoken:
                self.access.require_participant(conn, me, m.id)
            scope = f"opinion:{me.account_id}"
            earlier = idempotency.seen(conn, scope, key) if key else None
            if earlier is not None:
                return pb.AddOpinionResponse(opinion=opinion_msg(opinions.get(conn, earlier)))
            opinion_id = opinions.add(
                conn,
                m,
                request.agenda_item_id,
                request.speaker_member_id or me.member_id,
                "spoken" if spoken else "typed",
                request.text,
                me.member_id,
            )
            if key:
                idempotency.remember(conn, scope, key, opinion_id)
            return pb.AddOpinionResponse(opinion=opinion_msg(opinions.get(conn, opinion_id)))

    def ListOpinions(self, request: pb.ListOpinionsRequest, context: grpc.ServicerContext) -> pb.ListOpinionsResponse:
        size, offset = page_window(request)
        with self.db.read() as conn:
            _, m = self._as_reader(conn, request.meeting_id)
            found, total = opinions.list_opinions(conn, m.id, request.agenda_item_id, offset, size)
        return pb.ListOpinionsResponse(
            opinions=[opinion_msg(o) for o in found],
            next_page_token=next_token(offset, size, len(found), total),
            total_size=total,
        )

    def OpenPoll(self, request: pb.OpenPollRequest, context: grpc.ServicerContext) -> pb.OpenPollResponse:
        kind = enum_str(pb.PollKind, request.kind, "POLL_KIND_", "kind") or "question"
        ballot = enum_str(pb.BallotType, request.ballot, "BALLOT_TYPE_", "ballot") or "open"
        _, m = self._as_runner(request.meeting_id)
        with self._write() as conn:
            poll_id = voting.open_poll(
                conn,
                meetings.get(conn, m.id, lock=True),
                request.question,
                kind,
                ballot,
                request.agenda_item_id,
                self.box,
            )
            return pb.OpenPollResponse(poll=poll_msg(voting.get(conn, poll_id)))

    def CastVote(self, request: pb.CastVoteRequest, context: grpc.ServicerContext) -> pb.CastVoteResponse:
        me = current_principal()
        choice = enum_str(pb.VoteChoice, request.choice, "VOTE_CHOICE_", "choice")
        if not choice:
            raise InvalidArgument("choice_required", "choice is required", field="choice")
        idempotency.check(request.idempotency_key, required=True)
        member_id = me.require_member("only members vote")
        with self._write() as conn:
            outcome = voting.cast(conn, request.poll_id, member_id, choice, request.idempotency_key, self.box)
        return pb.CastVoteResponse(replayed=outcome.replayed, votes_cast=outcome.votes_cast)

    def RecordRoomCount(
        self, request: pb.RecordRoomCountRequest, context: grpc.ServicerContext
    ) -> pb.RecordRoomCountResponse:
        counts = request.counts
        with self.db.read() as conn:
            poll = voting.get(conn, request.poll_id)
        self._as_runner(poll.meeting_id)
        with self._write() as conn:
            row = voting.record_room_count(conn, poll.id, Tally(counts.approve, counts.reject, counts.abstain))
        return pb.RecordRoomCountResponse(poll=poll_msg(row))

    def ClosePoll(self, request: pb.ClosePollRequest, context: grpc.ServicerContext) -> pb.ClosePollResponse:
        with self.db.read() as conn:
            poll = voting.get(conn, request.poll_id)
        self._as_runner(poll.meeting_id)
        with self._write() as conn:
            row = voting.close_poll(conn, poll.id, self.box)
        return pb.ClosePollResponse(poll=poll_msg(row))

    def GetPoll(self, request: pb.GetPollRequest, context: grpc.ServicerContext) -> pb.GetPollResponse:
        with self.db.read() as conn:
            me, poll = self._poll_reader(conn, request.poll_id)
            return pb.GetPollResponse(poll=poll_msg(poll, voting.has_voted(conn, poll.id, me.member_id)))

    def ListPolls(self, request: pb.ListPollsRequest, context: grpc.ServicerContext) -> pb.ListPollsResponse:
        size, offset = page_window(request)
        with self.db.read() as conn:
            me, m = self._as_reader(conn, request.meeting_id)
            found, total = voting.list_polls(conn, m.id, offset, size)
            out = [poll_msg(p, voting.has_voted(conn, p.id, me.member_id)) for p in found]
        return pb.ListPollsResponse(
            polls=out, next_page_token=next_token(offset, size, len(found), total), total_size=total
        )

    def ListPollVotes(
        self, request: pb.ListPollVotesRequest, context: grpc.ServicerContext
    ) -> pb.ListPollVotesResponse:
        size, offset = page_window(request)
        with self.db.read() as conn:
            _, poll = self._poll_reader(conn, request.poll_id)
            found, total = voting.named_votes(conn, poll, offset, size)
        return pb.ListPollVotesResponse(
            votes=[
                pb.NamedVote(
                    member_id=v.member_id,
                    full_name=v.full_name,
                    choice=str_enum(pb.VoteChoice, v.choice, "VOTE_CHOICE_"),
                )
                for v in found
            ],
            next_page_token=next_token(offset, size, len(found), total),
            total_size=total,
        )

    def GetRubric(self, request: pb.GetRubricRequest, context: grpc.ServicerContext) -> pb.GetRubricResponse:
        current_principal()
        return pb.GetRubricResponse(rubric=rubric_msg(self.rubric))

    def SubmitEvaluation(
        self, request: pb.SubmitEvaluationRequest, context: grpc.ServicerContext
    ) -> pb.SubmitEvaluationResponse:
        me = current_principal()
        scores: dict[str, int] = {}
        for s in request.scores:
            if s.criterion_id in scores:
                raise InvalidArgument("invalid_scores", f"{s.criterion_id} is scored twice", field="scores")
            scores[s.criterion_id] = s.points
        with self.db.read() as conn:
            m = meetings.get(conn, request.meeting_id)
        if request.official:
            self.access.require_runner(me, m.cell_unit_id)
        with self._write() as conn:
            m = meetings.get(conn, m.id, lock=True)
            if not request.official:
                self.access.require_participant(conn, me, m.id)
            row = evaluation.submit(
                conn,
                m,
                self.rubric,
                me.member_id or me.account_id,
                self._roster_name(conn, m.id, me.member_id),
                scores,
                request.comment,
                request.official,
            )
        return pb.SubmitEvaluationResponse(assessment=assessment_msg(row))

    def GetEvaluation(
        self, request: pb.GetEvaluationRequest, context: grpc.ServicerContext
    ) -> pb.GetEvaluationResponse:
        with self.db.read() as conn:
            _, m = self._as_reader(conn, request.meeting_id)
            summary = evaluation.summary(conn, m.id, self.rubric)
            found = evaluation.record_facts(conn, m.id)
        return pb.GetEvaluationResponse(
            computed=[
                pb.ComputedScore(
                    criterion_id=c.id,
                    points=c.max_points if found[c.computed].holds else 0,
                    rule=c.computed,
                    holds=found[c.computed].holds,
                    detail=found[c.computed].detail,
                )
                for c in self.rubric.criteria
                if c.computed
            ],
            rubric=rubric_msg(self.rubric),
            official=assessment_msg(summary.official) if summary.official is not None else None,
            member_assessments=summary.count,
            member_average_points=summary.average,
            member_average_rating_code=summary.average_rating,
            member_ratings=summary.ratings,
        )

    def CloseMeeting(self, request: pb.CloseMeetingRequest, context: grpc.ServicerContext) -> pb.CloseMeetingResponse:
        _, m = self._as_runner(request.meeting_id)
        with self._write() as conn:
            meetings.close(conn, meetings.get(conn, m.id, lock=True), request.conclusion,
                           given_seconds(request, "closed_at"))
            return pb.CloseMeetingResponse(meeting=self._meeting_msg(conn, m.id))

    def GetLiveState(self, request: pb.GetLiveStateRequest, context: grpc.ServicerContext) -> pb.GetLiveStateResponse:
        me = current_principal()
        if request.since_version < 0:
            raise InvalidArgument("invalid_since_version", "since_version must not be negative", field="since_version")
        with self.db.read() as conn:
            head = live.head(conn, request.meeting_id)
            self.access.require_read(conn, me, head.cell_unit_id, head.id)
            if request.since_version == head.live_version:
                return pb.GetLiveStateResponse(version=head.live_version, not_modified=True)
            totals = live.totals(conn, head.id)
            polls = live.polls(conn, head.id)
        return pb.GetLiveStateResponse(
            version=head.live_version,
            state=str_enum(pb.MeetingState, head.state, "MEETING_STATE_"),
            attendance=totals_msg(totals),
            polls=[live_poll_msg(p) for p in polls],
        )

    # ---------- part 3: after ----------

    def PublishResolution(
        self, request: pb.PublishResolutionRequest, context: grpc.ServicerContext
    ) -> pb.PublishResolutionResponse:
        _, m = self._as_runner(request.meeting_id)
        with self._write() as conn:
            meetings.publish_resolution(conn, meetings.get(conn, m.id, lock=True), request.text, request.document_id)
            return pb.PublishResolutionResponse(meeting=self._meeting_msg(conn, m.id))

    def _task_msg(self, conn: Connection, task_id: str) -> pb.Task:
        return task_msg(tasks.get(conn, task_id), tasks.assignees(conn, task_id), tasks.reports(conn, task_id))

    def AssignTask(self, request: pb.AssignTaskRequest, context: grpc.ServicerContext) -> pb.AssignTaskResponse:
        me, m = self._as_runner(request.meeting_id)
        key = idempotency.check(request.idempotency_key)
        with self._write() as conn:
            m = meetings.get(conn, m.id, lock=True)
            scope = f"task:{me.account_id}"
            earlier = idempotency.seen(conn, scope, key) if key else None
            if earlier is None:
                earlier = tasks.assign(
                    conn, m, request.title, request.description, list(request.assignee_member_ids), request.due_on
                )
                if key:
                    idempotency.remember(conn, scope, key, earlier)
            return pb.AssignTaskResponse(task=self._task_msg(conn, earlier))

    def ReportTaskProgress(
        self, request: pb.ReportTaskProgressRequest, context: grpc.ServicerContext
    ) -> pb.ReportTaskProgressResponse:
        me = current_principal()
        status = enum_str(pb.TaskStatus, request.status, "TASK_STATUS_", "status")
        key = idempotency.check(request.idempotency_key)
        with self.db.read() as conn:
            task = tasks.get(conn, request.task_id)
            assigned = me.member_id in tasks.assignees(conn, task.id)
        if not assigned:
            self.access.require_runner(me, task.cell_unit_id)
        with self._write() as conn:
            meetings.get(conn, task.meeting_id, lock=True)
            scope = f"task-report:{me.account_id}"
            if not (key and idempotency.seen(conn, scope, key) is not None):
                tasks.report(
                    conn,
                    tasks.get(conn, task.id),
                    me.member_id or me.account_id,
                    request.progress_percent,
                    request.note,
                    status,
                )
                if key:
                    idempotency.remember(conn, scope, key, task.id)
            return pb.ReportTaskProgressResponse(task=self._task_msg(conn, task.id))

    def ListTasks(self, request: pb.ListTasksRequest, context: grpc.ServicerContext) -> pb.ListTasksResponse:
        me = current_principal()
        size, offset = page_window(request)
        status = enum_str(pb.TaskStatus, request.status, "TASK_STATUS_", "status")
        if bool(request.meeting_id) == bool(request.cell_unit_id):
            raise InvalidArgument(
                "scope_required", "give exactly one of meeting_id and cell_unit_id", field="meeting_id"
            )
        with self.db.read() as conn:
            if request.meeting_id:
                _, m = self._as_reader(conn, request.meeting_id)
                found, total = tasks.list_tasks(conn, m.id, "", status, offset, size)
            else:
                cell_id = require_id(request.cell_unit_id, "cell_unit_id")
                self.access.require_read(conn, me, cell_id)
                found, total = tasks.list_tasks(conn, "", cell_id, status, offset, size)
            out = [self._task_msg(conn, t.id) for t in found]
        return pb.ListTasksResponse(
            tasks=out, next_page_token=next_token(offset, size, len(found), total), total_size=total
        )

    # ---------- record and statistics ----------

    def GetMinutes(
        self, request: pb.GetMinutesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.GetMinutesResponse]:
        fmt = enum_str(pb.MinutesFormat, request.format, "MINUTES_FORMAT_", "format") or "pdf"
        with self.db.read() as conn:
            _, m = self._as_reader(conn, request.meeting_id)
            if m.state in (states.DRAFT, states.ANNOUNCED):
                raise_wrong_state(m.state)
            m, blocks = record.build(conn, m.id, self.rubric)
        title = f"Biên bản {m.title}"
        data = to_docx.render(blocks, title) if fmt == "docx" else to_pdf.render(blocks, title)
        filename = f"bien-ban-{_date(m.starts_at)}-{m.kind}-{m.id[:8]}.{fmt}"
        for i in range(0, max(len(data), 1), CHUNK):
            first = i == 0
            yield pb.GetMinutesResponse(
                filename=filename if first else "",
                content_type=MEDIA[fmt] if first else "",
                size=len(data) if first else 0,
                chunk=data[i : i + CHUNK],
            )

    def GetComplianceReport(
        self, request: pb.GetComplianceReportRequest, context: grpc.ServicerContext
    ) -> pb.GetComplianceReportResponse:
        me = current_principal()
        unit_id = require_id(request.unit_id, "unit_id")
        month = meetings.check_month(request.month)
        size, offset = page_window(request)
        self.access.require_committee(me, unit_id)
        cells = [(c.id, c.name) for c in self.identity.subtree_cells(unit_id)]
        with self.db.read() as conn:
            report = compliance.report(conn, cells, month)
        t = compliance.totals(report)
        page = report[offset : offset + size]
        return pb.GetComplianceReportResponse(
            totals=pb.ComplianceTotals(
                cells=t.cells,
                cells_using_platform=t.using,
                cells_part1=t.part1,
                cells_part2=t.part2,
                cells_part3=t.part3,
                cells_all_three_parts=t.all_three,
                meetings=t.meetings,
            ),
            cells=[
                pb.CellCompliance(
                    cell_unit_id=c.cell_id,
                    cell_name=c.cell_name,
                    meetings=len(c.meetings),
                    regular_meetings=sum(1 for x in c.meetings if x.row.kind == "regular"),
                    thematic_meetings=sum(1 for x in c.meetings if x.row.kind == "thematic"),
                    part1_documents=c.part1,
                    part2_meeting=c.part2,
                    part3_follow_up=c.part3,
                    all_three_parts=c.all_three,
                    meeting_parts=[
                        pb.MeetingCompliance(
                            meeting_id=x.row.id,
                            kind=str_enum(pb.MeetingKind, x.row.kind, "MEETING_KIND_"),
                            state=str_enum(pb.MeetingState, x.row.state, "MEETING_STATE_"),
                            starts_at=timestamp(x.row.starts_at),
                            part1_documents=x.part1,
                            part2_meeting=x.part2,
                            part3_follow_up=x.part3,
                            documents_opened_by=x.opened_by,
                        )
                        for x in c.meetings
                    ],
                )
                for c in page
            ],
            next_page_token=next_token(offset, size, len(page), len(report)),
            total_size=len(report),
        )


def raise_wrong_state(state: str) -> None:
    raise FailedPrecondition("wrong_state", "minutes exist once the meeting has started", state=state)


def _date(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts + meetings.VN_OFFSET))
