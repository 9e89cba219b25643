"""Live state of a meeting for every open client: attendance totals, polls, results.

Transport choice: conditional polling, not server push. Each meeting row carries `live_version`,
bumped in the same transaction as any change participants see (state, attendance, session
statuses, poll opened/closed, a vote cast, room counts). A client polls
`GetLiveState(meeting_id, since_version)` every second (the gateway maps it to
`GET .../live` with `ETag: "<version>"` / `If-None-Match` -> 304): an unchanged meeting costs one
primary-key read and an empty answer, so a change reaches every client within ~1 s + RTT, inside
the 2 s target. We prefer this to SSE/WebSocket because the gateway runs gunicorn sync workers
(a held stream would pin a worker per client: 25 clients x thousands of cells meeting the same
evening), polling survives flaky mobile networks and proxies that buffer streams, needs no
sticky sessions or pub/sub between replicas, and a 304 is cheap for old phones. The version is
monotonic per meeting, so a client can never go backwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core.errors import NotFound
from services.core.ids import require_id
from services.meetings import charter, roster


@dataclass(frozen=True)
class Totals:
    summary: charter.AttendanceSummary
    in_person: int
    online: int
    eligible: int
    denominator: int


def head(conn: Connection, meeting_id: str) -> Row[Any]:
    """The cheap part: version, state and cell of a meeting."""
    mid = require_id(meeting_id, "meeting_id", "meeting")
    row = conn.execute(
        sa.text("SELECT id, cell_unit_id, state, live_version FROM meetings WHERE id = :id"), {"id": mid}
    ).first()
    if row is None:
        raise NotFound("meeting_not_found", f"meeting {meeting_id} does not exist", meeting_id=meeting_id)
    return row


def totals(conn: Connection, meeting_id: str) -> Totals:
    people = roster.participants(conn, meeting_id)
    in_person, online = roster.mode_counts(conn, meeting_id)
    return Totals(
        summary=charter.attendance(people),
        in_person=in_person,
        online=online,
        eligible=charter.eligible_voters(people),
        denominator=charter.denominator(people).value,
    )


def polls(conn: Connection, meeting_id: str) -> list[Row[Any]]:
    return list(
        conn.execute(sa.text("SELECT * FROM polls WHERE meeting_id = :m ORDER BY opened_at, id"), {"m": meeting_id})
    )
