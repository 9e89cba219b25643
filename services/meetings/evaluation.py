"""Meeting evaluation on the configured rubric: members' assessments and the secretary's score."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core.errors import InvalidArgument
from services.meetings import facts, states
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
