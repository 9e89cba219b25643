"""Every Charter edge case through the real gRPC service, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc

from sotay.meetings.v1 import meetings_pb2 as pb
from tests.unit.meetings.conftest import STANDARD, Cell, World, expect_error, started, vote

APPROVE, REJECT, ABSTAIN = pb.VOTE_CHOICE_APPROVE, pb.VOTE_CHOICE_REJECT, pb.VOTE_CHOICE_ABSTAIN
NOT_EXEMPT = [name for name, _, exempt in STANDARD if not exempt]


def open_poll(w: World, cell: Cell, meeting_id: str, ballot: int = pb.BALLOT_TYPE_OPEN) -> pb.Poll:
    return w.stub.OpenPoll(
        pb.OpenPollRequest(
            meeting_id=meeting_id, question="Thông qua nghị quyết", kind=pb.POLL_KIND_RESOLUTION_ADOPTION, ballot=ballot
        ),
        metadata=cell.secretary.auth,
    ).poll


def close(w: World, cell: Cell, poll_id: str) -> pb.Poll:
    return w.stub.ClosePoll(pb.ClosePollRequest(poll_id=poll_id), metadata=cell.secretary.auth).poll


def officials_present(cell: Cell) -> list:  # type: ignore[type-arg]
    return [p for p in cell.people if p.name in NOT_EXEMPT and p.name != "Lương Thị Dự Bị"]


def test_probationary_member_vote_is_refused(world: World) -> None:
    cell = world.cell("Chi bộ A", world.identity.root_id, STANDARD)
    m = started(world, cell, present=NOT_EXEMPT)
    poll = open_poll(world, cell, m.id)
    expect_error(
        grpc.StatusCode.PERMISSION_DENIED,
        "probationary_member_cannot_vote",
        vote,
        world,
        poll.id,
        cell.by_name("Lương Thị Dự Bị"),
        APPROVE,
    )
    assert world.stub.GetPoll(pb.GetPollRequest(poll_id=poll.id), metadata=cell.secretary.auth).poll.votes_cast == 0


def test_exactly_half_is_not_a_pass_half_plus_one_is(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ B", w.identity.root_id, STANDARD)
    m = started(w, cell, present=NOT_EXEMPT)  # the exempt member is absent: denominator 9 - 1 = 8
    voters = officials_present(cell)
    assert len(voters) == 8
    poll = open_poll(w, cell, m.id)
    for i, p in enumerate(voters):
        vote(w, poll.id, p, APPROVE if i < 4 else REJECT)
    half = close(w, cell, poll.id).result
    assert (half.total.approve, half.denominator, half.needed, half.passed) == (4, 8, 5, False)
    assert "4 <= 8/2 -> not passed" in half.arithmetic and "1 absent exempt" in half.arithmetic
    poll = open_poll(w, cell, m.id)
    for i, p in enumerate(voters):
        vote(w, poll.id, p, APPROVE if i < 5 else ABSTAIN)
    more = close(w, cell, poll.id).result
    assert (more.total.approve, more.total.abstain, more.denominator, more.passed) == (5, 3, 8, True)
    assert "5 > 8/2 -> passed" in more.arithmetic


def test_absent_exempt_transferred_suspended_and_excused_leave_the_denominator(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ C", w.identity.root_id, STANDARD)
    sec = cell.secretary.auth
    present = [n for n in NOT_EXEMPT if n not in ("Hà Thị Chuyển", "Đặng Văn Hải", "Vi Thị Giang")]
    m = started(w, cell, present=present)
    for name, status in (
        ("Hà Thị Chuyển", pb.SESSION_STATUS_TRANSFERRED),
        ("Đặng Văn Hải", pb.SESSION_STATUS_SUSPENDED),
        ("Vi Thị Giang", pb.SESSION_STATUS_EXCUSED),
    ):
        w.stub.SetSessionStatus(
            pb.SetSessionStatusRequest(
                meeting_id=m.id, member_id=cell.by_name(name).member_id, status=status, reason="theo quyết định"
            ),
            metadata=sec,
        )
    totals = w.stub.ListAttendance(pb.ListAttendanceRequest(meeting_id=m.id), metadata=sec).totals
    # 9 official - transferred - suspended - excused - absent exempt = 5
    assert (totals.official, totals.denominator, totals.eligible_voters) == (9, 5, 5)
    poll = open_poll(w, cell, m.id)
    expect_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        "poll_open",
        w.stub.SetSessionStatus,
        pb.SetSessionStatusRequest(
            meeting_id=m.id,
            member_id=cell.by_name("Lê Văn Bình").member_id,
            status=pb.SESSION_STATUS_EXCUSED,
            reason="x",
        ),
        metadata=sec,
    )
    expect_error(
        grpc.StatusCode.PERMISSION_DENIED,
        "suspended_member_cannot_vote",
        vote,
        w,
        poll.id,
        cell.by_name("Đặng Văn Hải"),
        APPROVE,
    )
    for name in ("Nguyễn Văn Bí", "Trần Thị An", "Lê Văn Bình"):
        vote(w, poll.id, cell.by_name(name), APPROVE)
    result = close(w, cell, poll.id).result
    assert (
        result.denominator,
        result.excluded_transferred,
        result.excluded_suspended,
        result.excluded_excused,
        result.excluded_absent_exempt,
    ) == (5, 1, 1, 1, 1)
    assert result.passed  # 3 > 5/2
    # A present exempt member votes and counts.
    w.stub.RecordAttendance(
        pb.RecordAttendanceRequest(
            meeting_id=m.id, member_id=cell.by_name("Nông Văn Miễn").member_id, attendance=pb.ATTENDANCE_STATUS_PRESENT
        ),
        metadata=sec,
    )
    poll = open_poll(w, cell, m.id)
    vote(w, poll.id, cell.by_name("Nông Văn Miễn"), APPROVE)
    vote(w, poll.id, cell.by_name("Trần Thị An"), APPROVE)
    vote(w, poll.id, cell.by_name("Lê Văn Bình"), APPROVE)
    result = close(w, cell, poll.id).result
    assert (result.denominator, result.excluded_absent_exempt, result.passed) == (6, 0, False)  # 3 = 6/2


def test_room_counts_plus_app_votes_never_exceed_eligibility(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ D", w.identity.root_id, STANDARD)
    m = started(w, cell, present=NOT_EXEMPT)  # 8 eligible
    poll = open_poll(w, cell, m.id, pb.BALLOT_TYPE_SECRET)
    voters = officials_present(cell)
    for p in voters[:3]:
        vote(w, poll.id, p, APPROVE)
    record = w.stub.RecordRoomCount
    expect_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        "eligibility_exceeded",
        record,
        pb.RecordRoomCountRequest(poll_id=poll.id, counts=pb.Counts(approve=5, reject=1)),
        metadata=cell.secretary.auth,
    )
    expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid_count",
        record,
        pb.RecordRoomCountRequest(poll_id=poll.id, counts=pb.Counts(approve=-1)),
        metadata=cell.secretary.auth,
    )
    polled = record(
        pb.RecordRoomCountRequest(poll_id=poll.id, counts=pb.Counts(approve=3, reject=1, abstain=1)),
        metadata=cell.secretary.auth,
    ).poll
    assert polled.room_recorded and polled.room.approve == 3
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "eligibility_exceeded", vote, w, poll.id, voters[3], APPROVE)
    result = close(w, cell, poll.id).result
    assert (result.app.approve, result.room.approve, result.total.approve, result.total.reject) == (3, 3, 6, 1)
    assert result.eligible_voters == 8 and result.passed


def test_same_idempotency_key_counts_once_and_a_second_key_is_refused(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ E", w.identity.root_id, STANDARD[:4])
    m = started(w, cell)
    poll = open_poll(w, cell, m.id, pb.BALLOT_TYPE_SECRET)
    who = cell.people[1]
    first = vote(w, poll.id, who, APPROVE, key="phone-1")
    again = vote(w, poll.id, who, REJECT, key="phone-1")  # a retry: answered as the first, nothing changes
    assert (first.replayed, first.votes_cast, again.replayed, again.votes_cast) == (False, 1, True, 1)
    expect_error(grpc.StatusCode.ALREADY_EXISTS, "already_voted", vote, w, poll.id, who, REJECT, key="laptop-1")
    result = close(w, cell, poll.id).result
    assert (result.app.approve, result.app.reject) == (1, 0)
    # A retry that arrives after the close still gets its first answer; a new vote is refused.
    assert vote(w, poll.id, who, APPROVE, key="phone-1").replayed
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "poll_closed", vote, w, poll.id, cell.people[2], APPROVE)


def test_two_devices_at_once_count_once_and_a_crowd_counts_exactly(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ F", w.identity.root_id, STANDARD)
    m = started(w, cell, present=NOT_EXEMPT)
    poll = open_poll(w, cell, m.id, pb.BALLOT_TYPE_SECRET)
    who = cell.people[1]

    def device(i: int) -> str:
        try:
            vote(w, poll.id, who, APPROVE, key=f"device-{i % 2}")
            return "ok"
        except grpc.RpcError as exc:
            return exc.code().name

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(device, range(16)))
    assert outcomes.count("ok") >= 1 and set(outcomes) <= {"ok", "ALREADY_EXISTS"}
    assert w.stub.GetPoll(pb.GetPollRequest(poll_id=poll.id), metadata=who.auth).poll.votes_cast == 1
    others = [p for p in officials_present(cell) if p is not who]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: vote(w, poll.id, p, REJECT), others))
    result = close(w, cell, poll.id).result
    assert (result.app.approve, result.app.reject, result.total.approve + result.total.reject) == (1, 7, 8)


def test_a_closed_poll_takes_no_votes_and_only_one_poll_is_open(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ G", w.identity.root_id, STANDARD[:4])
    m = started(w, cell)
    poll = open_poll(w, cell, m.id)
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "poll_open", open_poll, w, cell, m.id)
    close(w, cell, poll.id)
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "poll_closed", vote, w, poll.id, cell.people[1], APPROVE)
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "poll_closed", close, w, cell, poll.id)
    expect_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        "poll_closed",
        w.stub.RecordRoomCount,
        pb.RecordRoomCountRequest(poll_id=poll.id, counts=pb.Counts(approve=1)),
        metadata=cell.secretary.auth,
    )


def test_absent_member_must_check_in_and_open_polls_block_closing(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ H", w.identity.root_id, STANDARD[:4])
    m = started(w, cell, present=["Nguyễn Văn Bí"])
    poll = open_poll(w, cell, m.id)
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "not_present", vote, w, poll.id, cell.people[1], APPROVE)
    w.stub.CheckIn(pb.CheckInRequest(meeting_id=m.id), metadata=cell.people[1].auth)  # arrives late
    vote(w, poll.id, cell.people[1], APPROVE)
    expect_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        "poll_open",
        w.stub.RecordAttendance,
        pb.RecordAttendanceRequest(
            meeting_id=m.id,
            member_id=cell.people[1].member_id,
            attendance=pb.ATTENDANCE_STATUS_ABSENT_EXCUSED,
            reason="về sớm",
        ),
        metadata=cell.secretary.auth,
    )
    expect_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        "polls_open",
        w.stub.CloseMeeting,
        pb.CloseMeetingRequest(meeting_id=m.id),
        metadata=cell.secretary.auth,
    )
