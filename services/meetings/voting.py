"""Polls: open, vote, show of hands in the room, close with the Charter's result.

Concurrency: every vote locks the meeting row first (then reads the poll), so votes, check-ins and
closing of one meeting are serialised (PostgreSQL row lock; SQLite's single writer). Within that:
- one member, one vote: `poll_voters` (poll, member) is the primary key and is read under the lock;
- a repeated idempotency key answers like the first call (before any state check, so a retry
  that arrives after the close still gets "recorded");
- app ballots + room counts never exceed the eligible voters, checked under the same lock.
Secret ballots go through ballots.BallotBox (see its threat model); open ballots are named rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core import idempotency
from services.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.core.ids import new_id, require_id
from services.core.outbox import emit
from services.core.paging import counted_page
from services.meetings import charter, meetings, roster, states
from services.meetings.ballots import BallotBox
from sotay.events.v1.meetings_events_pb2 import PollClosed, PollOpened

KINDS = ("resolution_adoption", "question")
BALLOTS = ("open", "secret")
MAX_KEY = 128


@dataclass(frozen=True)
class VoteOutcome:
    replayed: bool
    votes_cast: int


def get(conn: Connection, poll_id: str) -> Row[Any]:
    pid = require_id(poll_id, "poll_id", "poll")
    row = conn.execute(sa.text("SELECT * FROM polls WHERE id = :id"), {"id": pid}).first()
    if row is None:
        raise NotFound("poll_not_found", f"poll {poll_id} does not exist", poll_id=poll_id)
    return row


def room_tally(poll: Row[Any]) -> charter.Tally:
    return charter.Tally(poll.room_approve, poll.room_reject, poll.room_abstain)


def open_poll(
    conn: Connection, meeting: Row[Any], question: str, kind: str, ballot: str, agenda_item_id: str, box: BallotBox
) -> str:
    states.require(meeting.state, "poll")
    question = question.strip()
    if not question:
        raise InvalidArgument("question_required", "a poll needs a question", field="question")
    if len(question) > 2000:
        raise InvalidArgument("question_too_long", "a question has at most 2000 characters", field="question")
    if kind not in KINDS:
        raise InvalidArgument("invalid_kind", "kind must be resolution adoption or question", field="kind")
    if ballot not in BALLOTS:
        raise InvalidArgument("invalid_ballot", "ballot must be open or secret", field="ballot")
    item = meetings.require_agenda_item(conn, meeting.id, agenda_item_id)
    if roster.any_open_poll(conn, meeting.id):
        raise FailedPrecondition("poll_open", "close the open poll first")
    poll_id = new_id()
    conn.execute(
        sa.text(
            "INSERT INTO polls (id, meeting_id, agenda_item_id, question, kind, ballot, state, votes_cast, key_id, "
            "room_recorded, room_approve, room_reject, room_abstain, opened_at) VALUES (:id, :m, :item, :q, :k, :b, "
            "'open', 0, :key, FALSE, 0, 0, 0, :t)"
        ),
        {
            "id": poll_id,
            "m": meeting.id,
            "item": item,
            "q": question,
            "k": kind,
            "b": ballot,
            "key": box.key_id,
            "t": time.time(),
        },
    )
    meetings.bump(conn, meeting.id)
    eligible = [p.member_id for p in roster.participants(conn, meeting.id) if charter.may_vote(p)]
    emit(conn, poll_id, PollOpened(meeting_id=meeting.id, poll_id=poll_id, cell_unit_id=meeting.cell_unit_id,
                                   question=question, eligible_member_ids=eligible))
    return poll_id


def cast(conn: Connection, poll_id: str, member_id: str, choice: str, key: str, box: BallotBox) -> VoteOutcome:
    """Record one member's vote. The caller has checked the member may read the meeting."""
    if choice not in charter.CHOICES:
        raise InvalidArgument("invalid_choice", "choice must be approve, reject or abstain", field="choice")
    key = idempotency.check(key, required=True)
    poll = get(conn, poll_id)
    meetings.get(conn, poll.meeting_id, lock=True)
    poll = get(conn, poll_id)  # re-read under the lock
    earlier = conn.execute(
        sa.text("SELECT idempotency_key FROM poll_voters WHERE poll_id = :p AND member_id = :m"),
        {"p": poll.id, "m": member_id},
    ).first()
    if earlier is not None:
        if earlier.idempotency_key == key:
            return VoteOutcome(True, poll.votes_cast)
        raise AlreadyExists("already_voted", "you have already voted in this poll")
    if poll.state != "open":
        raise FailedPrecondition("poll_closed", "this poll is closed")
    me = conn.execute(
        sa.text(
            "SELECT member_id, status, exempt, session_status, attendance FROM roster "
            "WHERE meeting_id = :m AND member_id = :p"
        ),
        {"m": poll.meeting_id, "p": member_id},
    ).first()
    if me is None:
        raise PermissionDenied("not_in_roster", "only members summoned to this meeting vote")
    reason = charter.refusal(roster.participant(me))
    if reason in ("probationary_member_cannot_vote", "suspended_member_cannot_vote"):
        raise PermissionDenied(reason, "this member does not have the right to vote")
    if reason:
        raise FailedPrecondition(reason, "check in to the meeting before voting")
    box.check_key(poll.key_id)
    # Without a room count every ballot comes from a distinct eligible voter (attendance and session
    # statuses cannot drop a voter while a poll is open), so only a room count can overflow.
    room = room_tally(poll)
    eligible = roster.eligible_count(conn, poll.meeting_id) if room.total else poll.votes_cast + 1
    if not charter.app_vote_fits(poll.votes_cast, room, eligible):
        raise FailedPrecondition(
            "eligibility_exceeded",
            "app votes and the room count would exceed the eligible voters",
            eligible=eligible,
        )
    conn.execute(
        sa.text("INSERT INTO poll_voters (poll_id, member_id, idempotency_key) VALUES (:p, :m, :k)"),
        {"p": poll.id, "m": member_id, "k": key},
    )
    if poll.ballot == "secret":
        box.drop(conn, poll.id, choice, poll.key_id)
    else:
        conn.execute(
            sa.text("INSERT INTO open_votes (poll_id, member_id, choice) VALUES (:p, :m, :c)"),
            {"p": poll.id, "m": member_id, "c": choice},
        )
    conn.execute(sa.text("UPDATE polls SET votes_cast = votes_cast + 1 WHERE id = :p"), {"p": poll.id})
    meetings.bump(conn, poll.meeting_id)
    return VoteOutcome(False, poll.votes_cast + 1)


def record_room_count(conn: Connection, poll_id: str, room: charter.Tally) -> Row[Any]:
    """Set (replace) the show-of-hands counts; they and the app ballots must fit the eligible voters."""
    poll = get(conn, poll_id)
    meetings.get(conn, poll.meeting_id, lock=True)
    poll = get(conn, poll_id)
    if poll.state != "open":
        raise FailedPrecondition("poll_closed", "this poll is closed")
    if min(room.approve, room.reject, room.abstain) < 0:
        raise InvalidArgument("invalid_count", "counts cannot be negative", field="counts")
    eligible = charter.eligible_voters(roster.participants(conn, poll.meeting_id))
    if not charter.room_count_fits(poll.votes_cast, room, eligible):
        raise FailedPrecondition(
            "eligibility_exceeded",
            f"{room.total} in the room + {poll.votes_cast} in the app exceed the {eligible} eligible voters",
            eligible=eligible,
            app_votes=poll.votes_cast,
        )
    conn.execute(
        sa.text(
            "UPDATE polls SET room_recorded = TRUE, room_approve = :a, room_reject = :r, room_abstain = :x "
            "WHERE id = :p"
        ),
        {"a": room.approve, "r": room.reject, "x": room.abstain, "p": poll.id},
    )
    meetings.bump(conn, poll.meeting_id)
    return get(conn, poll_id)


def close_poll(conn: Connection, poll_id: str, box: BallotBox) -> Row[Any]:
    poll = get(conn, poll_id)
    meeting = meetings.get(conn, poll.meeting_id, lock=True)
    poll = get(conn, poll_id)
    if poll.state != "open":
        raise FailedPrecondition("poll_closed", "this poll is already closed")
    states.require(meeting.state, "poll")
    if poll.ballot == "secret":
        box.check_key(poll.key_id)
        app = charter.Tally.of(box.open_and_shuffle(conn, poll.id, poll.votes_cast, poll.key_id))
    else:
        app = charter.Tally.of(
            conn.execute(sa.text("SELECT choice FROM open_votes WHERE poll_id = :p"), {"p": poll.id}).scalars()
        )
        if app.total != poll.votes_cast:
            raise FailedPrecondition("ballot_count_mismatch", "the named votes do not match the voter list")
    outcome = charter.result(app, room_tally(poll), roster.participants(conn, poll.meeting_id))
    d = outcome.denominator
    conn.execute(
        sa.text(
            "UPDATE polls SET state = 'closed', closed_at = :t, app_approve = :aa, app_reject = :ar, "
            "app_abstain = :ax, eligible = :el, official = :of, excl_transferred = :et, excl_suspended = :es, "
            "excl_excused = :ee, excl_absent_exempt = :ex, denominator = :dn, passed = :ok, arithmetic = :ar_text "
            "WHERE id = :p"
        ),
        {
            "t": time.time(),
            "aa": app.approve,
            "ar": app.reject,
            "ax": app.abstain,
            "el": outcome.eligible,
            "of": d.official,
            "et": d.transferred,
            "es": d.suspended,
            "ee": d.excused,
            "ex": d.absent_exempt,
            "dn": d.value,
            "ok": outcome.passed,
            "ar_text": outcome.arithmetic(),
            "p": poll.id,
        },
    )
    meetings.bump(conn, poll.meeting_id)
    emit(conn, poll.id, PollClosed(meeting_id=poll.meeting_id, poll_id=poll.id, cell_unit_id=meeting.cell_unit_id,
                                   passed=outcome.passed))
    return get(conn, poll_id)


def has_voted(conn: Connection, poll_id: str, member_id: str) -> bool:
    if not member_id:
        return False
    return (
        conn.execute(
            sa.text("SELECT 1 FROM poll_voters WHERE poll_id = :p AND member_id = :m"), {"p": poll_id, "m": member_id}
        ).first()
        is not None
    )


def list_polls(conn: Connection, meeting_id: str, offset: int, limit: int) -> tuple[list[Row[Any]], int]:
    return counted_page(conn, "polls", "meeting_id = :m", "opened_at, id", {"m": meeting_id}, offset, limit)


def named_votes(conn: Connection, poll: Row[Any], offset: int, limit: int) -> tuple[list[Row[Any]], int]:
    if poll.ballot != "open":
        raise FailedPrecondition("secret_ballot", "a secret ballot has no named votes")
    return counted_page(
        conn,
        "open_votes v JOIN polls p ON p.id = v.poll_id "
        "LEFT JOIN roster r ON r.meeting_id = p.meeting_id AND r.member_id = v.member_id",
        "v.poll_id = :p",
        "r.name_order, v.member_id",
        {"p": poll.id},
        offset,
        limit,
        "v.member_id, v.choice, COALESCE(r.full_name, '') AS full_name",
    )
