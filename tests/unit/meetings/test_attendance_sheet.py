"""The attendance sheet in one request (RecordAttendanceBulk) and the quality score held to the
record, through the real gRPC service on SQLite and PostgreSQL."""

from __future__ import annotations

import grpc
import pytest
import sqlalchemy as sa

from services.meetings.charter import Rubric, RubricError
from services.meetings.rubric import DEFAULT_RUBRIC, load
from sotay.meetings.v1 import meetings_pb2 as pb
from tests.unit.meetings.conftest import STANDARD, Cell, World, expect_error, new_meeting, started, vote

PRESENT, EXCUSED, UNEXCUSED = (pb.ATTENDANCE_STATUS_PRESENT, pb.ATTENDANCE_STATUS_ABSENT_EXCUSED,
                               pb.ATTENDANCE_STATUS_ABSENT_UNEXCUSED)


def sheet(w: World, cell: Cell, meeting_id: str, marks: list[pb.AttendanceMark], key: str, rest: bool = True,
          copy_from: str = "") -> pb.RecordAttendanceBulkResponse:
    return w.stub.RecordAttendanceBulk(
        pb.RecordAttendanceBulkRequest(meeting_id=meeting_id, marks=marks, rest_present=rest, idempotency_key=key,
                                       copy_from_meeting_id=copy_from),
        metadata=cell.secretary.auth,
    )


def mark(cell: Cell, name: str, attendance: int = 0, reason: str = "", **kwargs: object) -> pb.AttendanceMark:
    return pb.AttendanceMark(member_id=cell.by_name(name).member_id, attendance=attendance, reason=reason,
                             **kwargs)  # type: ignore[arg-type]


def by_name(reply: pb.RecordAttendanceBulkResponse) -> dict[str, pb.Attendee]:
    return {a.full_name: a for a in reply.attendees}


def roster_rows(w: World, meeting_id: str) -> list[tuple[str, str, str, str]]:
    with w.db.read() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT member_id, attendance, attendance_reason, session_status FROM roster WHERE meeting_id = :m "
            "ORDER BY member_id"), {"m": meeting_id})]


def test_everyone_present_then_the_exceptions_in_one_request(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Khối 2", w.identity.root_id, STANDARD)
    m = started(w, cell, present=[])
    reply = sheet(w, cell, m.id, [
        mark(cell, "Hà Thị Chuyển", session_status=pb.SESSION_STATUS_TRANSFERRED, session_reason="Đi học dài hạn"),
        mark(cell, "Vi Thị Giang", EXCUSED, "Ốm"),
        mark(cell, "Đặng Văn Hải", UNEXCUSED, "Không lý do"),
    ], key="sheet-1")
    people = by_name(reply)
    assert reply.changed == len(STANDARD) - 1 and not reply.replayed  # the exempt member is left alone
    assert people["Trần Thị An"].attendance == PRESENT and people["Trần Thị An"].mode == pb.ATTENDANCE_MODE_IN_PERSON
    assert people["Lương Thị Dự Bị"].attendance == PRESENT  # probationary members attend too
    assert people["Nông Văn Miễn"].attendance == pb.ATTENDANCE_STATUS_UNSPECIFIED  # exempt: not assumed present
    assert people["Hà Thị Chuyển"].session_status == pb.SESSION_STATUS_TRANSFERRED
    assert people["Vi Thị Giang"].reason == "Ốm"
    t = reply.totals
    assert (t.present, t.absent_excused, t.absent_unexcused) == (6, 1, 1)
    # 9 official - 1 transferred - 1 absent exempt = 7
    assert t.denominator == 7 and t.eligible_voters == 5


def test_the_same_key_and_body_is_answered_again_and_another_body_refused(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Khối 3", w.identity.root_id, STANDARD)
    m = started(w, cell, present=[])
    marks = [mark(cell, "Vi Thị Giang", EXCUSED, "Ốm")]
    first = sheet(w, cell, m.id, marks, key="same-key")
    before = roster_rows(w, m.id)
    again = sheet(w, cell, m.id, marks, key="same-key")
    assert again.replayed and again.changed == 0 and list(again.attendees) == list(first.attendees)
    assert roster_rows(w, m.id) == before
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "idempotency_key_reused", sheet, w, cell, m.id,
                 [mark(cell, "Vi Thị Giang", UNEXCUSED, "Vắng")], key="same-key")
    # A new key with the same body changes nothing (the sheet is a state, not a list of additions).
    assert sheet(w, cell, m.id, marks, key="new-key").changed == 0
    with w.db.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM roster WHERE meeting_id = :m"),
                            {"m": m.id}).scalar_one() == len(STANDARD)


def test_a_refused_line_refuses_the_whole_sheet(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Khối 4", w.identity.root_id, STANDARD)
    m = started(w, cell, present=[])
    before = roster_rows(w, m.id)
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, "reason_required", sheet, w, cell, m.id, [
        mark(cell, "Vi Thị Giang", EXCUSED, "Ốm"), mark(cell, "Đặng Văn Hải", UNEXCUSED, "")], key="k-a")
    assert cell.by_name("Đặng Văn Hải").member_id in err.details()
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "attendance_sheet_refused", sheet, w, cell, m.id, [
        mark(cell, "Đặng Văn Hải", UNEXCUSED, ""),
        mark(cell, "Hà Thị Chuyển", PRESENT, session_status=pb.SESSION_STATUS_TRANSFERRED, session_reason="Đi học"),
    ], key="k-b")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "member_marked_twice", sheet, w, cell, m.id, [
        mark(cell, "Vi Thị Giang", PRESENT), mark(cell, "Vi Thị Giang", EXCUSED, "Ốm")], key="k-c")
    other = w.cell("Chi bộ khác", w.identity.root_id, STANDARD[:2])
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "not_in_roster", sheet, w, cell, m.id,
                 [pb.AttendanceMark(member_id=other.people[1].member_id, attendance=PRESENT)], key="k-d")
    assert roster_rows(w, m.id) == before  # nothing half-written
    # Only the cell's secretary; and only while the meeting is in progress.
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_cell_officer", w.stub.RecordAttendanceBulk,
                 pb.RecordAttendanceBulkRequest(meeting_id=m.id, rest_present=True, idempotency_key="k-e"),
                 metadata=cell.people[1].auth)
    draft = new_meeting(w, cell)
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "wrong_state", sheet, w, cell, draft.id, [], key="k-f")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key_required", sheet, w, cell, m.id, [], key="")


def test_a_member_present_cannot_leave_while_a_poll_is_open(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Khối 5", w.identity.root_id, STANDARD)
    m = started(w, cell, present=[])
    sheet(w, cell, m.id, [], key="all")
    w.stub.OpenPoll(pb.OpenPollRequest(meeting_id=m.id, question="Thông qua?", kind=pb.POLL_KIND_QUESTION),
                    metadata=cell.secretary.auth)
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "poll_open", sheet, w, cell, m.id,
                 [mark(cell, "Vi Thị Giang", EXCUSED, "Về sớm")], key="late")
    # A late arrival may still be marked present (the exempt member comes after all).
    late = sheet(w, cell, m.id, [mark(cell, "Nông Văn Miễn", PRESENT)], key="late-2", rest=False)
    assert by_name(late)["Nông Văn Miễn"].attendance == PRESENT


def test_attendance_carries_over_to_the_second_record_of_a_combined_session(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Khối 6", w.identity.root_id, STANDARD)
    sec = cell.secretary.auth
    first = started(w, cell, present=[])
    second = new_meeting(w, cell, kind=pb.MEETING_KIND_THEMATIC, follows=first.id, title="Chuyên đề quý I")
    w.stub.AnnounceMeeting(pb.AnnounceMeetingRequest(meeting_id=second.id), metadata=sec)
    sheet(w, cell, first.id, [
        mark(cell, "Vi Thị Giang", EXCUSED, "Ốm"),
        mark(cell, "Hà Thị Chuyển", session_status=pb.SESSION_STATUS_EXCUSED, session_reason="Công tác cả buổi"),
    ], key="first")
    # Not before the second has started (attendance is taken in progress).
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "wrong_state", sheet, w, cell, second.id, [], key="early",
                 copy_from=first.id)
    w.stub.CloseMeeting(pb.CloseMeetingRequest(meeting_id=first.id), metadata=sec)
    w.stub.StartMeeting(pb.StartMeetingRequest(meeting_id=second.id), metadata=sec)
    carried = sheet(w, cell, second.id, [], key="carry", rest=False, copy_from=first.id)
    listed = w.stub.ListAttendance(pb.ListAttendanceRequest(meeting_id=first.id), metadata=sec).attendees
    one, two = {a.full_name: a for a in listed}, by_name(carried)
    assert carried.changed == len(STANDARD) - 1  # the exempt member has nothing to carry
    for name in one:
        assert (two[name].attendance, two[name].reason, two[name].session_status) == (
            one[name].attendance, one[name].reason, one[name].session_status), name
    assert not any(a.self_checked_in for a in carried.attendees)
    # Only within one session.
    alone = started(w, cell, present=[], title="Cuộc họp khác")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "not_same_session", sheet, w, cell, alone.id, [], key="x",
                 copy_from=first.id)


def _rubric(w: World) -> pb.Rubric:
    return w.stub.GetRubric(pb.GetRubricRequest(), metadata=w.admin).rubric


def test_the_official_score_is_held_to_the_record(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Khối 7", w.identity.root_id, STANDARD)
    sec = cell.secretary.auth
    m = started(w, cell, present=[])  # a document sent with the announcement before the start
    sheet(w, cell, m.id, [mark(cell, "Vi Thị Giang", UNEXCUSED, "Không lý do"),
                          mark(cell, "Đặng Văn Hải", EXCUSED, "Ốm")], key="s")
    rubric = _rubric(w)
    computed = {c.id: c.computed for c in rubric.criteria if c.computed}
    assert computed == {"prep_draft_resolution": "documents_before", "att_rate": "attendance_ratio",
                        "att_no_unexcused": "no_unexcused_absence", "con_vote": "resolution_voted",
                        "close_follow_up": "resolution_published"}
    ev = w.stub.GetEvaluation(pb.GetEvaluationRequest(meeting_id=m.id), metadata=sec)
    allowed = {c.criterion_id: (c.points, c.holds) for c in ev.computed}
    # 7 of 9 expected present = 77.8%; one unexcused; documents before; no vote; not published.
    assert allowed == {"prep_draft_resolution": (5, True), "att_rate": (0, False), "att_no_unexcused": (0, False),
                       "con_vote": (0, False), "close_follow_up": (0, False)}
    full = [pb.CriterionScore(criterion_id=c.id, points=c.max_points) for c in rubric.criteria]
    err = expect_error(grpc.StatusCode.FAILED_PRECONDITION, "score_contradicts_record", w.stub.SubmitEvaluation,
                       pb.SubmitEvaluationRequest(meeting_id=m.id, scores=full, official=True), metadata=sec)
    assert "att_rate" in err.details() and "77.8%" in err.details()
    # Left out: filled in from the record; given lower: kept (the secretary may be stricter).
    own = [pb.CriterionScore(criterion_id=c.id, points=c.max_points) for c in rubric.criteria if not c.computed]
    a = w.stub.SubmitEvaluation(pb.SubmitEvaluationRequest(
        meeting_id=m.id, official=True,
        scores=[*own, pb.CriterionScore(criterion_id="prep_draft_resolution", points=3)]), metadata=sec).assessment
    points = {s.criterion_id: s.points for s in a.scores}
    assert points["prep_draft_resolution"] == 3 and points["att_rate"] == 0 and points["close_follow_up"] == 0
    assert a.total == 100 - 2 - 15 - 5 - 5 - 10 and a.rating_code == "trung_binh"
    # Once the record holds, the points may be given.
    sheet(w, cell, m.id, [mark(cell, "Vi Thị Giang", PRESENT), mark(cell, "Đặng Văn Hải", PRESENT)], key="s2")
    poll = w.stub.OpenPoll(pb.OpenPollRequest(meeting_id=m.id, question="Thông qua nghị quyết",
                                              kind=pb.POLL_KIND_RESOLUTION_ADOPTION), metadata=sec).poll
    for p in cell.people[:7]:
        vote(w, poll.id, p, pb.VOTE_CHOICE_APPROVE)
    w.stub.ClosePoll(pb.ClosePollRequest(poll_id=poll.id), metadata=sec)
    w.stub.CloseMeeting(pb.CloseMeetingRequest(meeting_id=m.id), metadata=sec)
    w.stub.PublishResolution(pb.PublishResolutionRequest(meeting_id=m.id, text="Nghị quyết"), metadata=sec)
    a = w.stub.SubmitEvaluation(pb.SubmitEvaluationRequest(meeting_id=m.id, scores=full, official=True),
                                metadata=sec).assessment
    assert (a.total, a.rating_code) == (100, "tot")
    # A member's own assessment is held to the record too, without refusing it.
    member = w.stub.SubmitEvaluation(pb.SubmitEvaluationRequest(meeting_id=m.id, scores=full),
                                     metadata=cell.people[1].auth).assessment
    assert member.total == 100


def test_a_rubric_naming_an_unknown_rule_is_refused() -> None:
    data = {"id": "x", "criteria": [{"id": "a", "title": "A", "max_points": 5, "computed": "weather"}],
            "ratings": [{"code": "ok", "label": "Ok", "min_points": 0}]}
    with pytest.raises(RubricError, match="weather"):
        Rubric.from_data(data)
    rubric = load(DEFAULT_RUBRIC)
    filled, above = rubric.capped({"att_rate": 15, "con_vote": 0}, {"attendance_ratio": False,
                                                                  "resolution_voted": True})
    assert above == ["att_rate"] and filled["con_vote"] == 0 and filled["close_follow_up"] == 0
    assert filled["prep_draft_resolution"] == 0  # an unknown fact does not hold
