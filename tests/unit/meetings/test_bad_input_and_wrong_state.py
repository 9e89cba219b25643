"""Unknown ids, malformed payloads and calls in the wrong state get a proper status with a reason,
never INTERNAL."""

from __future__ import annotations

import grpc
from google.protobuf.field_mask_pb2 import FieldMask

from sotay.meetings.v1 import meetings_pb2 as pb
from tests.unit.meetings.conftest import STANDARD, World, at, expect_error, new_meeting, started, vote

UNKNOWN = "00000000-0000-4000-8000-000000000000"
INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
DENIED, PRECONDITION = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION


def test_unknown_and_malformed_ids(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Lỗi", w.identity.root_id, STANDARD[:3])
    auth = cell.secretary.auth
    for call, request in (
        (w.stub.GetMeeting, pb.GetMeetingRequest(meeting_id=UNKNOWN)),
        (w.stub.GetMeeting, pb.GetMeetingRequest(meeting_id="not-an-id")),
        (w.stub.GetLiveState, pb.GetLiveStateRequest(meeting_id=UNKNOWN)),
        (w.stub.AnnounceMeeting, pb.AnnounceMeetingRequest(meeting_id=UNKNOWN)),
    ):
        expect_error(NOT_FOUND, "meeting_not_found", call, request, metadata=auth)
    expect_error(NOT_FOUND, "poll_not_found", vote, w, UNKNOWN, cell.people[1], pb.VOTE_CHOICE_APPROVE)
    expect_error(NOT_FOUND, "poll_not_found", w.stub.ClosePoll, pb.ClosePollRequest(poll_id="x"), metadata=auth)
    expect_error(
        NOT_FOUND,
        "task_not_found",
        w.stub.ReportTaskProgress,
        pb.ReportTaskProgressRequest(task_id=UNKNOWN),
        metadata=auth,
    )
    expect_error(INVALID, "invalid_id", w.stub.GetMeeting, pb.GetMeetingRequest(), metadata=auth)
    expect_error(INVALID, "invalid_id", w.stub.ListMeetings, pb.ListMeetingsRequest(), metadata=auth)
    expect_error(
        NOT_FOUND,
        "unit_not_found",
        w.stub.CreateMeeting,
        pb.CreateMeetingRequest(
            cell_unit_id=UNKNOWN, kind=pb.MEETING_KIND_REGULAR, fields=pb.MeetingFields(title="x", starts_at=at(1e9))
        ),
        metadata=w.admin,
    )
    expect_error(
        grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", w.stub.GetMeeting, pb.GetMeetingRequest(meeting_id=UNKNOWN)
    )


def test_malformed_payloads(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Dữ liệu", w.identity.root_id, STANDARD[:3])
    auth = cell.secretary.auth
    create = w.stub.CreateMeeting
    ok = pb.MeetingFields(title="Họp", starts_at=at(1.8e9))
    cases = [
        (create, pb.CreateMeetingRequest(cell_unit_id=cell.id, fields=ok), "kind_required"),
        (create, pb.CreateMeetingRequest(cell_unit_id=cell.id, kind=99, fields=ok), "invalid_kind"),
        (
            create,
            pb.CreateMeetingRequest(cell_unit_id=cell.id, kind=1, fields=pb.MeetingFields(starts_at=at(1e9))),
            "title_required",
        ),
        (
            create,
            pb.CreateMeetingRequest(cell_unit_id=cell.id, kind=1, fields=pb.MeetingFields(title="x")),
            "starts_at_required",
        ),
        (
            create,
            pb.CreateMeetingRequest(
                cell_unit_id=cell.id, kind=1, fields=pb.MeetingFields(title="x", starts_at=at(2e9), ends_at=at(1e9))
            ),
            "invalid_ends_at",
        ),
        (
            create,
            pb.CreateMeetingRequest(
                cell_unit_id=cell.id, kind=1, fields=pb.MeetingFields(title="x" * 301, starts_at=at(2e9))
            ),
            "title_too_long",
        ),
        (
            create,
            pb.CreateMeetingRequest(
                cell_unit_id=cell.id, kind=1, fields=pb.MeetingFields(title="x", starts_at=at(2e9), mode=42)
            ),
            "invalid_mode",
        ),
        (
            create,
            pb.CreateMeetingRequest(
                cell_unit_id=cell.id,
                kind=1,
                fields=pb.MeetingFields(title="x", starts_at=at(2e9), agenda=[pb.AgendaItem(title=" ")]),
            ),
            "agenda_title_required",
        ),
        (create, pb.CreateMeetingRequest(cell_unit_id=w.identity.root_id, kind=1, fields=ok), "not_a_cell"),
        (w.stub.ListMeetings, pb.ListMeetingsRequest(cell_unit_id=cell.id, month="03-2026"), "invalid_month"),
        (w.stub.ListMeetings, pb.ListMeetingsRequest(cell_unit_id=cell.id, page_size=-1), "invalid_page_size"),
        (w.stub.ListMeetings, pb.ListMeetingsRequest(cell_unit_id=cell.id, page_token="%%%"), "invalid_page_token"),
    ]
    for call, request, reason in cases:
        expect_error(INVALID, reason, call, request, metadata=w.admin if reason == "not_a_cell" else auth)
    m = started(w, cell)
    bad = [
        (w.stub.UpdateMeeting, pb.UpdateMeetingRequest(meeting_id=m.id), "update_mask_required"),
        (
            w.stub.UpdateMeeting,
            pb.UpdateMeetingRequest(meeting_id=m.id, update_mask=FieldMask(paths=["colour"])),
            "invalid_update_mask",
        ),
        (w.stub.OpenPoll, pb.OpenPollRequest(meeting_id=m.id), "question_required"),
        (w.stub.OpenPoll, pb.OpenPollRequest(meeting_id=m.id, question="q", ballot=7), "invalid_ballot"),
        (w.stub.AddOpinion, pb.AddOpinionRequest(meeting_id=m.id, text=" "), "text_required"),
        (
            w.stub.RecordAttendance,
            pb.RecordAttendanceRequest(
                meeting_id=m.id, member_id=cell.people[1].member_id, attendance=pb.ATTENDANCE_STATUS_ABSENT_UNEXCUSED
            ),
            "reason_required",
        ),
        (
            w.stub.SetSessionStatus,
            pb.SetSessionStatusRequest(meeting_id=m.id, member_id=cell.people[1].member_id),
            "status_required",
        ),
        (
            w.stub.SubmitEvaluation,
            pb.SubmitEvaluationRequest(
                meeting_id=m.id, official=True, scores=[pb.CriterionScore(criterion_id="x", points=1)]
            ),
            "invalid_scores",
        ),
        (w.stub.GetLiveState, pb.GetLiveStateRequest(meeting_id=m.id, since_version=-1), "invalid_since_version"),
        (w.stub.ListTasks, pb.ListTasksRequest(), "scope_required"),
    ]
    for call, request, reason in bad:
        expect_error(INVALID, reason, call, request, metadata=auth)
    poll = w.stub.OpenPoll(pb.OpenPollRequest(meeting_id=m.id, question="q"), metadata=auth).poll
    for request, reason in (
        (pb.CastVoteRequest(poll_id=poll.id, idempotency_key="k"), "choice_required"),
        (pb.CastVoteRequest(poll_id=poll.id, choice=9, idempotency_key="k"), "invalid_choice"),
        (pb.CastVoteRequest(poll_id=poll.id, choice=1), "idempotency_key_required"),
        (pb.CastVoteRequest(poll_id=poll.id, choice=1, idempotency_key="k" * 200), "idempotency_key_too_long"),
    ):
        expect_error(INVALID, reason, w.stub.CastVote, request, metadata=cell.people[1].auth)
    w.stub.ClosePoll(pb.ClosePollRequest(poll_id=poll.id), metadata=auth)
    w.stub.CloseMeeting(pb.CloseMeetingRequest(meeting_id=m.id), metadata=auth)
    for request, reason in (
        (
            pb.AssignTaskRequest(
                meeting_id=m.id, title="t", assignee_member_ids=[cell.people[1].member_id], due_on="31/03/2026"
            ),
            "invalid_due_on",
        ),
        (pb.AssignTaskRequest(meeting_id=m.id, title="t", due_on="2026-03-31"), "assignees_required"),
    ):
        expect_error(INVALID, reason, w.stub.AssignTask, request, metadata=auth)
    expect_error(
        INVALID,
        "resolution_required",
        w.stub.PublishResolution,
        pb.PublishResolutionRequest(meeting_id=m.id),
        metadata=auth,
    )


def test_wrong_state(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Trạng thái", w.identity.root_id, STANDARD[:3])
    auth = cell.secretary.auth
    m = new_meeting(w, cell)
    for call, request in (
        (w.stub.StartMeeting, pb.StartMeetingRequest(meeting_id=m.id)),
        (w.stub.OpenPoll, pb.OpenPollRequest(meeting_id=m.id, question="q")),
        (w.stub.CloseMeeting, pb.CloseMeetingRequest(meeting_id=m.id)),
        (w.stub.PublishResolution, pb.PublishResolutionRequest(meeting_id=m.id, text="x")),
    ):
        expect_error(PRECONDITION, "wrong_state", call, request, metadata=auth)
    w.stub.AnnounceMeeting(pb.AnnounceMeetingRequest(meeting_id=m.id), metadata=auth)
    expect_error(
        PRECONDITION, "wrong_state", w.stub.AnnounceMeeting, pb.AnnounceMeetingRequest(meeting_id=m.id), metadata=auth
    )
    expect_error(
        PRECONDITION, "wrong_state", w.stub.CheckIn, pb.CheckInRequest(meeting_id=m.id), metadata=cell.people[1].auth
    )
    expect_error(
        PRECONDITION, "wrong_state", w.stub.DeleteMeeting, pb.DeleteMeetingRequest(meeting_id=m.id), metadata=auth
    )
    # What may change depends on the state: the place before the meeting, the conclusion during it.
    w.stub.UpdateMeeting(
        pb.UpdateMeetingRequest(
            meeting_id=m.id, fields=pb.MeetingFields(place="Hội trường"), update_mask=FieldMask(paths=["place"])
        ),
        metadata=auth,
    )
    expect_error(
        PRECONDITION,
        "field_locked",
        w.stub.UpdateMeeting,
        pb.UpdateMeetingRequest(
            meeting_id=m.id, fields=pb.MeetingFields(conclusion="x"), update_mask=FieldMask(paths=["conclusion"])
        ),
        metadata=auth,
    )
    w.stub.StartMeeting(pb.StartMeetingRequest(meeting_id=m.id), metadata=auth)
    expect_error(
        PRECONDITION,
        "field_locked",
        w.stub.UpdateMeeting,
        pb.UpdateMeetingRequest(
            meeting_id=m.id, fields=pb.MeetingFields(place="khác"), update_mask=FieldMask(paths=["place"])
        ),
        metadata=auth,
    )
    updated = w.stub.UpdateMeeting(
        pb.UpdateMeetingRequest(
            meeting_id=m.id, fields=pb.MeetingFields(conclusion="KL"), update_mask=FieldMask(paths=["conclusion"])
        ),
        metadata=auth,
    ).meeting
    assert updated.conclusion == "KL" and updated.place == "Hội trường"
    expect_error(
        PRECONDITION,
        "wrong_state",
        w.stub.AttachDocument,
        pb.AttachDocumentRequest(meeting_id=m.id, document_id=UNKNOWN),
        metadata=auth,
    )
    draft = new_meeting(w, cell)
    w.stub.DeleteMeeting(pb.DeleteMeetingRequest(meeting_id=draft.id), metadata=auth)
    expect_error(
        NOT_FOUND, "meeting_not_found", w.stub.GetMeeting, pb.GetMeetingRequest(meeting_id=draft.id), metadata=auth
    )
