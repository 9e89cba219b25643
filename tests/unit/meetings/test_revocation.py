"""A member deactivated during a meeting cannot vote with the token they already hold: meetings
learns the revocation from identity's event log (real identity with its relay, documents and
meetings servers, on SQLite and PostgreSQL)."""

from __future__ import annotations

import time

import grpc

from sotay.identity.v1 import identity_pb2 as ipb
from sotay.meetings.v1 import meetings_pb2 as pb
from tests.unit.meetings.conftest import STANDARD, World, expect_error, started, vote
from tests.unit.meetings.test_voting import NOT_EXEMPT, close, open_poll

APPROVE = pb.VOTE_CHOICE_APPROVE


def test_a_deactivated_members_later_vote_is_refused(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Đ", w.identity.root_id, STANDARD)
    m = started(w, cell, present=NOT_EXEMPT)
    poll = open_poll(w, cell, m.id)
    vote(w, poll.id, cell.by_name("Trần Thị An"), APPROVE)
    leaving = cell.by_name("Lê Văn Bình")
    w.identity.stub.DeactivateMember(
        ipb.DeactivateMemberRequest(id=leaving.member_id, reason="ra khỏi Đảng"), metadata=w.admin
    )
    # Meetings learns it within its poll interval (0.5 s): wait for that, at most 2 s.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            w.stub.GetPoll(pb.GetPollRequest(poll_id=poll.id), metadata=leaving.auth)
        except grpc.RpcError:
            break
        time.sleep(0.05)
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "token_revoked", vote, w, poll.id, leaving, APPROVE)
    vote(w, poll.id, cell.by_name("Phạm Thị Cúc"), APPROVE)  # the others still vote
    assert w.stub.GetPoll(pb.GetPollRequest(poll_id=poll.id), metadata=cell.secretary.auth).poll.votes_cast == 2
    result = close(w, cell, poll.id).result
    assert result.total.approve == 2
