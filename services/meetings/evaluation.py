"""Meeting evaluation on the configured rubric: members' assessments and the secretary's score."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core.errors import FailedPrecondition, InvalidArgument
from services.meetings import charter, compliance, facts, states
from services.meetings.charter import Rubric, RubricError

OFFICIAL = "official"
MEMBER = "member"


@dataclass(frozen=True)
class Summary:
    official: Row[Any] | None
    count: int
    average: float
    average_rating: str
    ratings: dict[str, int]


@dataclass(frozen=True)
class Fact:
    holds: bool
    detail: str


def record_facts(conn: Connection, meeting_id: str) -> dict[str, Fact]:
    """What the meeting's record says for each computed rule (charter.COMPUTED_RULES)."""
    from services.meetings import roster  # roster imports meetings, which imports facts

    people = roster.participants(conn, meeting_id)
    att = charter.attendance(people)
    unrecorded = sum(
        1
        for p in people
        if charter.counts_for_attendance(p)
        and p.attendance == charter.NOT_RECORDED
        and p.session_status == charter.NORMAL
    )
    parts = compliance.of_meeting(conn, meeting_id)
    row = parts.row
    return {
        "attendance_ratio": Fact(
            att.percent > charter.ATTENDANCE_THRESHOLD,
            f"{att.attended}/{att.expected} = {att.percent:.1f}% (> {charter.ATTENDANCE_THRESHOLD:.0f}%)",
        ),
        "no_unexcused_absence": Fact(
            att.absent_unexcused == 0 and unrecorded == 0,
            f"unexcused {att.absent_unexcused}, not recorded {unrecorded}",
        ),
        "documents_before": Fact(
            parts.part1, f"documents {row.documents}, announced before the start: {bool(row.announced_before)}"
        ),
        "resolution_voted": Fact(row.adoption_votes > 0, f"closed adoption polls {row.adoption_votes}"),
        "resolution_published": Fact(
            bool(row.resolution_published), f"resolution published: {bool(row.resolution_published)}"
        ),
    }


def submit(
    conn: Connection,
    meeting: Row[Any],
    rubric: Rubric,
    member_id: str,
    full_name: str,
    scores: dict[str, int],
    comment: str,
    official: bool,
) -> Row[Any]:
    states.require(meeting.state, "evaluate")
    found = record_facts(conn, meeting.id)
    scores, above = rubric.capped(scores, {rule: f.holds for rule, f in found.items()})
    if official and above:
        by_id = {c.id: c for c in rubric.criteria}
        raise FailedPrecondition(
            "score_contradicts_record",
            "; ".join(f"{cid}: the record allows 0 ({found[by_id[cid].computed].detail})" for cid in above),
            criteria=",".join(above),
        )
    if above:  # a member's assessment cannot claim what the record denies either: held to it
        scores = {**scores, **dict.fromkeys(above, 0)}
    try:
        total = rubric.total(scores)
    except RubricError as exc:
        raise InvalidArgument("invalid_scores", str(exc), field="scores") from None
    rating = rubric.rate(total)
    kind = OFFICIAL if official else MEMBER
    key = {"m": meeting.id, "k": kind, "p": member_id}
    # One official score per meeting (the latest replaces it); one assessment per member.
    conn.execute(
        sa.text(
            "DELETE FROM evaluations WHERE meeting_id = :m AND kind = :k AND (kind = 'official' OR member_id = :p)"
        ),
        key,
    )
    conn.execute(
        sa.text(
            "INSERT INTO evaluations (meeting_id, kind, member_id, full_name, rubric_id, scores, total, "
            "rating_code, rating_label, comment, submitted_at) VALUES (:m, :k, :p, :n, :r, :s, :t, :rc, :rl, "
            ":c, :at)"
        ),
        {
            **key,
            "n": full_name,
            "r": rubric.id,
            "s": json.dumps(scores, sort_keys=True),
            "t": total,
            "rc": rating.code,
            "rl": rating.label,
            "c": comment.strip()[:2000],
            "at": time.time(),
        },
    )
    if official:
        facts.emit_held(conn, meeting.id)
    return conn.execute(
        sa.text("SELECT * FROM evaluations WHERE meeting_id = :m AND kind = :k AND member_id = :p"), key
    ).one()


def summary(conn: Connection, meeting_id: str, rubric: Rubric) -> Summary:
    rows = conn.execute(sa.text("SELECT * FROM evaluations WHERE meeting_id = :m"), {"m": meeting_id}).all()
    official = next((r for r in rows if r.kind == OFFICIAL), None)
    members = [r for r in rows if r.kind == MEMBER]
    average = round(sum(r.total for r in members) / len(members), 1) if members else 0.0
    return Summary(
        official=official,
        count=len(members),
        average=average,
        average_rating=rubric.rate(average).code if members else "",
        ratings=dict(Counter(r.rating_code for r in members)),
    )
