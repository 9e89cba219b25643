"""A secret poll leaves nothing that ties a choice to a voter: tables, order, timing, logs."""

from __future__ import annotations

import logging

import grpc
import pytest
import sqlalchemy as sa

from sotay.meetings.v1 import meetings_pb2 as pb
from tests.unit.meetings.conftest import World, expect_error, started, vote

CHOICE = {pb.VOTE_CHOICE_APPROVE: "approve", pb.VOTE_CHOICE_REJECT: "reject", pb.VOTE_CHOICE_ABSTAIN: "abstain"}
TWELVE = [(f"Đảng viên {i:02d}", "official", False) for i in range(12)]


def columns(w: World, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(w.db.engine).get_columns(table)}


def test_secret_ballots_are_unlinkable(world: World, caplog: pytest.LogCaptureFixture) -> None:
    w = world
    cell = w.cell("Chi bộ Kín", w.identity.root_id, TWELVE)
    m = started(w, cell)
    sec = cell.secretary.auth
    caplog.set_level(logging.DEBUG)
    in_storage_order_matches = []
    for round_ in range(3):
        poll = w.stub.OpenPoll(
            pb.OpenPollRequest(meeting_id=m.id, question=f"Bầu {round_}", ballot=pb.BALLOT_TYPE_SECRET), metadata=sec
        ).poll
        cast = []
        for i, p in enumerate(cell.people):
            choice = pb.VOTE_CHOICE_APPROVE if i % 2 == 0 else pb.VOTE_CHOICE_REJECT
            reply = vote(w, poll.id, p, choice)
            assert reply.votes_cast == i + 1  # the answer does not echo the choice
            cast.append(CHOICE[choice])
        # While open: no per-choice count anywhere, and the sealed rows reveal nothing.
        during = w.stub.GetPoll(pb.GetPollRequest(poll_id=poll.id), metadata=sec).poll
        assert during.votes_cast == 12 and not during.HasField("result")
        live = w.stub.GetLiveState(pb.GetLiveStateRequest(meeting_id=m.id), metadata=sec)
        assert not live.polls[-1].HasField("result")
        with w.db.read() as conn:
            sealed = list(
                conn.execute(sa.text("SELECT sealed FROM sealed_ballots WHERE poll_id = :p"), {"p": poll.id}).scalars()
            )
            assert (
                conn.execute(sa.text("SELECT COUNT(*) FROM ballots WHERE poll_id = :p"), {"p": poll.id}).scalar_one()
                == 0
            )
        assert len(sealed) == 12 and len({len(s) for s in sealed}) == 1
        assert not any(word in s for s in sealed for word in ("approve", "reject", "abstain"))
        result = w.stub.ClosePoll(pb.ClosePollRequest(poll_id=poll.id), metadata=sec).poll.result
        assert (result.app.approve, result.app.reject) == (6, 6)  # tallies exact
        with w.db.read() as conn:
            stored = list(
                conn.execute(sa.text("SELECT choice FROM ballots WHERE poll_id = :p"), {"p": poll.id}).scalars()
            )  # storage order, no ORDER BY
            assert (
                conn.execute(
                    sa.text("SELECT COUNT(*) FROM sealed_ballots WHERE poll_id = :p"), {"p": poll.id}
                ).scalar_one()
                == 0
            )
            if w.db.is_postgres:
                # One transaction wrote every ballot, and it wrote no voter row.
                ballot_xmins = set(
                    conn.execute(sa.text("SELECT xmin::text FROM ballots WHERE poll_id = :p"), {"p": poll.id}).scalars()
                )
                voter_xmins = set(
                    conn.execute(
                        sa.text("SELECT xmin::text FROM poll_voters WHERE poll_id = :p"), {"p": poll.id}
                    ).scalars()
                )
                assert len(ballot_xmins) == 1 and not ballot_xmins & voter_xmins
                physical = list(
                    conn.execute(
                        sa.text("SELECT choice FROM ballots WHERE poll_id = :p ORDER BY ctid"), {"p": poll.id}
                    ).scalars()
                )
            else:
                physical = list(
                    conn.execute(
                        sa.text("SELECT choice FROM ballots WHERE poll_id = :p ORDER BY rowid"), {"p": poll.id}
                    ).scalars()
                )
        assert sorted(stored) == sorted(cast) and sorted(physical) == sorted(cast)
        in_storage_order_matches.append(physical == cast)
    # Shuffled: the chance that three shuffles of 6+6 all keep the voting order is 1 in 924**3.
    assert not all(in_storage_order_matches)
    # The schema itself: the ballots have no voter and no time; the voter list has no choice.
    assert columns(w, "ballots") == {"id", "poll_id", "choice"}
    assert columns(w, "sealed_ballots") == {"id", "poll_id", "sealed"}
    assert columns(w, "poll_voters") == {"poll_id", "member_id", "idempotency_key"}
    with w.db.read() as conn:
        ids = list(conn.execute(sa.text("SELECT id FROM ballots")).scalars())
        topics = set(conn.execute(sa.text("SELECT topic FROM outbox")).scalars())
    assert len(set(ids)) == 36 and max(ids) - min(ids) > 10**9  # random keys, not a sequence
    assert "meetings.poll.closed" in topics and not any("vote" in t for t in topics)
    # No log line names a voter.
    voters = {p.member_id for p in cell.people} | {p.account_id for p in cell.people}
    logged = " ".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    assert "CastVote" in logged and not any(v in logged for v in voters)


def test_named_ballot_lists_who_voted_what_secret_does_not(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Công khai", w.identity.root_id, TWELVE[:3])
    m = started(w, cell)
    sec = cell.secretary.auth
    secret = w.stub.OpenPoll(
        pb.OpenPollRequest(meeting_id=m.id, question="Kín", ballot=pb.BALLOT_TYPE_SECRET), metadata=sec
    ).poll
    vote(w, secret.id, cell.people[0], pb.VOTE_CHOICE_APPROVE)
    w.stub.ClosePoll(pb.ClosePollRequest(poll_id=secret.id), metadata=sec)
    expect_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        "secret_ballot",
        w.stub.ListPollVotes,
        pb.ListPollVotesRequest(poll_id=secret.id),
        metadata=sec,
    )
    named = w.stub.OpenPoll(
        pb.OpenPollRequest(meeting_id=m.id, question="Công khai", ballot=pb.BALLOT_TYPE_OPEN), metadata=sec
    ).poll
    vote(w, named.id, cell.people[1], pb.VOTE_CHOICE_REJECT)
    votes = w.stub.ListPollVotes(pb.ListPollVotesRequest(poll_id=named.id), metadata=sec).votes
    assert [(v.member_id, v.choice) for v in votes] == [(cell.people[1].member_id, pb.VOTE_CHOICE_REJECT)]
    mine = w.stub.GetPoll(pb.GetPollRequest(poll_id=secret.id), metadata=cell.people[0].auth).poll
    assert (
        mine.voted and not w.stub.GetPoll(pb.GetPollRequest(poll_id=secret.id), metadata=cell.people[2].auth).poll.voted
    )


def test_the_ballot_key_rotates_without_losing_open_polls(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import secrets

    from services.core.errors import Unavailable
    from services.meetings import voting
    from services.meetings.ballots import BallotBox, load_previous_keys
    from tests.unit.meetings.conftest import TEST_BALLOT_KEY

    w = world
    cell = w.cell("Chi bộ Đổi khóa", w.identity.root_id, TWELVE[:4])
    m = started(w, cell)
    sec = cell.secretary.auth
    poll = w.stub.OpenPoll(
        pb.OpenPollRequest(meeting_id=m.id, question="Bầu", ballot=pb.BALLOT_TYPE_SECRET), metadata=sec
    ).poll
    for p, choice in zip(cell.people[:3], (pb.VOTE_CHOICE_APPROVE, pb.VOTE_CHOICE_APPROVE, pb.VOTE_CHOICE_REJECT),
                         strict=True):
        vote(w, poll.id, p, choice)
    # The servers restart with a new key, the old one kept for the polls still open.
    new = secrets.token_bytes(32)
    monkeypatch.setenv("MEETINGS_BALLOT_KEYS_PREVIOUS", f" {TEST_BALLOT_KEY} ,")
    rotated = BallotBox(new, load_previous_keys())
    old_id = BallotBox(base64.b64decode(TEST_BALLOT_KEY)).key_id
    assert rotated.key_id != old_id  # new polls open with the new key
    assert rotated.unseal(poll.id, rotated.seal(poll.id, "abstain", old_id), old_id) == "abstain"
    # Without the old key the poll can be neither voted in nor counted.
    with pytest.raises(Unavailable) as refused:
        BallotBox(new).check_key(old_id)
    assert refused.value.reason == "ballot_key_mismatch"
    with w.db.write() as conn:
        closed = voting.close_poll(conn, poll.id, rotated)
    assert (closed.app_approve, closed.app_reject) == (2, 1)
    monkeypatch.setenv("MEETINGS_BALLOT_KEYS_PREVIOUS", "not base64!")
    with pytest.raises(SystemExit):
        load_previous_keys()
