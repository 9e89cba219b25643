"""Cell meetings: agenda, attendance, opinions, polls, evaluation, resolution, tasks, minutes (meetings service)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field

from gateway.schemas.common import (
    Body,
    Count,
    IdempotencyKey,
    Int32,
    Int64Version,
    Page,
    PageQuery,
    ProtoEnum,
    Query,
    Reply,
)
from sotay.meetings.v1 import meetings_pb2 as pb

MeetingKind = Annotated[str, ProtoEnum(pb.MeetingKind)]
MeetingMode = Annotated[str, ProtoEnum(pb.MeetingMode)]
MeetingState = Annotated[str, ProtoEnum(pb.MeetingState)]
MemberStatus = Annotated[str, ProtoEnum(pb.MemberStatus)]
SessionStatus = Annotated[str, ProtoEnum(pb.SessionStatus)]
AttendanceStatus = Annotated[str, ProtoEnum(pb.AttendanceStatus)]
AttendanceMode = Annotated[str, ProtoEnum(pb.AttendanceMode)]
OpinionSource = Annotated[str, ProtoEnum(pb.OpinionSource)]
PollKind = Annotated[str, ProtoEnum(pb.PollKind)]
BallotType = Annotated[str, ProtoEnum(pb.BallotType)]
PollState = Annotated[str, ProtoEnum(pb.PollState)]
VoteChoice = Annotated[str, ProtoEnum(pb.VoteChoice)]
TaskStatus = Annotated[str, ProtoEnum(pb.TaskStatus)]
Id = Annotated[str, Field(min_length=1, max_length=100)]
RequiredIdempotencyKey = Annotated[IdempotencyKey, Field(min_length=1)]
Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]

# ---------- responses ----------


class AgendaItem(Reply):
    id: str
    title: str
    description: str
    position: int


class MeetingDocument(Reply):
    document_id: str
    title: str
    attached_at: dt.datetime | None
    opened_by: int = Field(description="members who opened it")


class Resolution(Reply):
    text: str
    document_id: str
    published_at: dt.datetime | None


class Meeting(Reply):
    id: str
    cell_unit_id: str
    cell_name: str
    kind: MeetingKind | None
    title: str
    state: MeetingState | None
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    place: str
    mode: MeetingMode | None
    agenda: list[AgendaItem]
    documents: list[MeetingDocument]
    session_id: str = Field(description="shared by the two meetings of a combined session")
    session_order: int
    session_meeting_ids: list[str]
    chair_member_id: str
    minutes_secretary_member_id: str
    conclusion: str
    resolution: Resolution | None
    announced_at: dt.datetime | None
    started_at: dt.datetime | None
    closed_at: dt.datetime | None
    created_at: dt.datetime | None
    live_version: int
    roster_size: int


class MeetingPage(Page[Meeting]):
    pass


class DocumentOpened(Reply):
    first_opened_at: dt.datetime | None


class DocumentOpen(Reply):
    document_id: str
    member_id: str
    full_name: str
    first_opened_at: dt.datetime | None
    times: int


class DocumentOpenPage(Page[DocumentOpen]):
    pass


class Attendee(Reply):
    member_id: str
    full_name: str
    status: MemberStatus | None
    exempt: bool
    position: str
    session_status: SessionStatus | None
    session_reason: str
    attendance: AttendanceStatus | None = Field(description="null: not recorded yet")
    mode: AttendanceMode | None
    reason: str
    self_checked_in: bool
    may_vote: bool


class AttendanceTotals(Reply):
    roster: int
    official: int
    probationary: int
    exempt: int
    present: int
    present_in_person: int
    present_online: int
    absent_excused: int
    absent_unexcused: int
    not_recorded: int
    eligible_voters: int
    denominator: int = Field(description="the Charter's denominator (official members less exclusions)")
    attendance_percent: float


class AttendancePage(Page[Attendee]):
    totals: AttendanceTotals


class AttendanceSheet(Reply):
    attendees: list[Attendee]
    totals: AttendanceTotals
    changed: int = Field(description="members whose record this request changed (0 on a replay)")
    replayed: bool = Field(description="the same idempotency key and body were sent before")


class Opinion(Reply):
    id: str
    meeting_id: str
    agenda_item_id: str
    speaker_member_id: str
    speaker_name: str
    source: OpinionSource | None
    text: str
    recorded_by_member_id: str
    created_at: dt.datetime | None


class OpinionPage(Page[Opinion]):
    pass


class Counts(Reply):
    approve: int
    reject: int
    abstain: int


class PollResult(Reply):
    app: Counts | None
    room: Counts | None
    total: Counts | None
    eligible_voters: int
    official_members: int
    excluded_transferred: int
    excluded_suspended: int
    excluded_excused: int
    excluded_absent_exempt: int
    denominator: int
    needed: int
    passed: bool
    arithmetic: str


class Poll(Reply):
    id: str
    meeting_id: str
    agenda_item_id: str
    question: str
    kind: PollKind | None
    ballot: BallotType | None
    state: PollState | None
    votes_cast: int
    room: Counts | None
    room_recorded: bool
    result: PollResult | None = Field(description="set once the poll is closed")
    opened_at: dt.datetime | None
    closed_at: dt.datetime | None
    voted: bool = Field(description="whether the caller has voted")


class PollPage(Page[Poll]):
    pass


class VoteReceipt(Reply):
    replayed: bool = Field(description="true when this repeated an earlier request with the same key")
    votes_cast: int


class NamedVote(Reply):
    member_id: str
    full_name: str
    choice: VoteChoice | None


class NamedVotePage(Page[NamedVote]):
    pass


class RubricCriterion(Reply):
    id: str
    group: str
    title: str
    max_points: int
    computed: str = Field(description="set when the record decides this criterion (filled in by the system; "
                                      "an official score may not give more)")


class RubricRating(Reply):
    code: str
    label: str
    min_points: int


class Rubric(Reply):
    id: str
    title: str
    criteria: list[RubricCriterion]
    ratings: list[RubricRating]
    max_points: int


class CriterionScore(Reply):
    criterion_id: str
    points: int


class Assessment(Reply):
    member_id: str
    full_name: str
    official: bool
    scores: list[CriterionScore]
    total: int
    rating_code: str
    rating_label: str
    comment: str


class ComputedScore(Reply):
    criterion_id: str
    points: int = Field(description="the most points the record allows")
    rule: str
    holds: bool
    detail: str


class Evaluation(Reply):
    rubric: Rubric | None
    official: Assessment | None
    member_assessments: int
    member_average_points: float
    member_average_rating_code: str
    member_ratings: dict[str, int]
    computed: list[ComputedScore] = Field(description="what the record allows for each computed criterion now")


class LivePoll(Reply):
    poll_id: str
    question: str
    kind: PollKind | None
    ballot: BallotType | None
    state: PollState | None
    votes_cast: int
    result: PollResult | None


class LiveState(Reply):
    version: int = Field(description="also the ETag; monotonically increasing")
    not_modified: bool
    state: MeetingState | None
    attendance: AttendanceTotals | None
    polls: list[LivePoll]


class TaskReport(Reply):
    member_id: str
    progress_percent: int
    note: str
    status: TaskStatus | None
    at: dt.datetime | None


class Task(Reply):
    id: str
    meeting_id: str
    cell_unit_id: str
    title: str
    description: str
    assignee_member_ids: list[str]
    due_on: str
    status: TaskStatus | None
    progress_percent: int
    reports: list[TaskReport]
    created_at: dt.datetime | None


class TaskPage(Page[Task]):
    pass


class MeetingCompliance(Reply):
    meeting_id: str
    kind: MeetingKind | None
    state: MeetingState | None
    starts_at: dt.datetime | None
    part1_documents: bool
    part2_meeting: bool
    part3_follow_up: bool
    documents_opened_by: int


class CellCompliance(Reply):
    cell_unit_id: str
    cell_name: str
    meetings: int
    regular_meetings: int
    thematic_meetings: int
    part1_documents: bool
    part2_meeting: bool
    part3_follow_up: bool
    all_three_parts: bool
    meeting_parts: list[MeetingCompliance]


class ComplianceTotals(Reply):
    cells: int
    cells_using_platform: int
    cells_part1: int
    cells_part2: int
    cells_part3: int
    cells_all_three_parts: int
    meetings: int


class ComplianceReport(Reply):
    totals: ComplianceTotals | None
    cells: list[CellCompliance]
    next_page_token: str
    total_size: int


# ---------- requests ----------


class AgendaItemBody(Body):
    id: str = Field("", description="empty for a new item")
    title: str = Field(min_length=1)
    description: str = ""


class MeetingFieldsBody(Body):
    """On PATCH only the fields given change (and the meeting's state must allow them)."""

    title: str | None = None
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    place: str | None = None
    mode: MeetingMode | None = None
    agenda: list[AgendaItemBody] | None = None
    chair_member_id: str | None = None
    minutes_secretary_member_id: str | None = None
    conclusion: str | None = None


class CreateMeetingBody(MeetingFieldsBody):
    cell_unit_id: Id
    kind: MeetingKind
    title: str = Field(min_length=1)  # type: ignore[assignment]
    starts_at: dt.datetime  # type: ignore[assignment]
    follows_meeting_id: str = Field("", description="run right after this meeting (a combined session)")


class ListMeetingsQuery(PageQuery):
    cell_unit_id: Id
    month: Month | None = None
    state: MeetingState | None = None


class AttachDocumentBody(Body):
    document_id: Id
    title: str = ""


class StartMeetingBody(Body):
    chair_member_id: str = ""
    minutes_secretary_member_id: str = ""
    started_at: dt.datetime | None = Field(
        None, description="when it began, for a meeting entered after it was held (default: now)")


class SessionStatusBody(Body):
    status: SessionStatus
    reason: str = ""


class CheckInBody(Body):
    mode: AttendanceMode | None = None
    idempotency_key: IdempotencyKey = ""


class AttendanceBody(Body):
    attendance: AttendanceStatus
    mode: AttendanceMode | None = None
    reason: str = ""


class AttendanceMarkBody(Body):
    member_id: Id
    attendance: AttendanceStatus | None = Field(None, description="null: leave attendance as it is")
    mode: AttendanceMode | None = None
    reason: str = Field("", max_length=500, description="required for an absence")
    session_status: SessionStatus | None = Field(None, description="null: leave the session status as it is")
    session_reason: str = Field("", max_length=500)


class AttendanceSheetBody(Body):
    marks: list[AttendanceMarkBody] = Field(default_factory=list, max_length=2000)
    rest_present: bool = Field(False, description="everyone else summoned as usual and not yet present: present "
                                                  "in the room")
    copy_from_meeting_id: str = Field("", max_length=100,
                                      description="the other meeting of the combined session: its attendance "
                                                  "and session statuses are copied first")
    idempotency_key: IdempotencyKey = Field("", description="required here or as the Idempotency-Key header; "
                                                                 "the same key with another body is refused")


class OpinionBody(Body):
    text: str = Field(min_length=1)
    agenda_item_id: str = ""
    speaker_member_id: str = Field("", description="secretary only: who spoke in the room")
    idempotency_key: IdempotencyKey = ""


class ListOpinionsQuery(PageQuery):
    agenda_item_id: str = ""


class OpenPollBody(Body):
    question: str = Field(min_length=1)
    kind: PollKind = "question"
    ballot: BallotType = "open"
    agenda_item_id: str = ""


class VoteBody(Body):
    choice: VoteChoice
    idempotency_key: RequiredIdempotencyKey


class RoomCountBody(Body):
    approve: Count = 0
    reject: Count = 0
    abstain: Count = 0


class EvaluationBody(Body):
    scores: dict[str, Int32] = Field(max_length=100, description="criterion id -> points")
    comment: str = ""
    official: bool = Field(False, description="secretary only: the meeting's official score")


class CloseMeetingBody(Body):
    conclusion: str = ""
    closed_at: dt.datetime | None = Field(
        None, description="when it ended, for a meeting entered after it was held (default: now)")


class LiveQuery(Query):
    since_version: Int64Version = Field(0, description="or send If-None-Match with the last ETag")


class ResolutionBody(Body):
    text: str = ""
    document_id: str = ""


class AssignTaskBody(Body):
    title: str = Field(min_length=1)
    description: str = ""
    assignee_member_ids: list[str] = Field(min_length=1)
    due_on: dt.date
    idempotency_key: IdempotencyKey = ""


class TaskProgressBody(Body):
    progress_percent: int = Field(0, ge=0, le=100)
    note: str = ""
    status: TaskStatus | None = None
    idempotency_key: IdempotencyKey = ""


class ListTasksQuery(PageQuery):
    cell_unit_id: Id
    status: TaskStatus | None = None


class MeetingTasksQuery(PageQuery):
    status: TaskStatus | None = None


class MinutesQuery(Query):
    format: Literal["pdf", "docx"] = "pdf"


class ComplianceQuery(PageQuery):
    unit_id: Id
    month: Month
