"""`MeetingHeld` (meetings.meeting.held): what a held meeting did, for the reports service's read model.

Emitted (a full snapshot; the consumer keeps the latest) whenever a meeting that has been held
(closed or resolution published) changes in a way the reports count: closed, evaluated, its
resolution published, a task assigned. Attendance counts come from `charter.attendance`, the one
attendance rule; the three parts from `compliance.parts`, the one three-parts rule.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.outbox import emit
from services.meetings import charter, compliance, states
from sotay.events.v1.meetings_events_pb2 import MeetingHeld

HELD = (states.CLOSED, states.RESOLUTION_PUBLISHED)


def emit_held(conn: Connection, meeting_id: str) -> None:
    """Emit the snapshot if the meeting has been held; nothing for one not yet held."""
    snapshot = held(conn, meeting_id)
    if snapshot is not None:
        emit(conn, meeting_id, snapshot)


def held(conn: Connection, meeting_id: str) -> MeetingHeld | None:
    """The snapshot of a held meeting (None for one not held)."""
    from services.meetings import roster  # roster imports meetings, which imports this module

    m = conn.execute(
        sa.text(
            "SELECT id, cell_unit_id, kind, state, month, starts_at, closed_at FROM meetings WHERE id = :id"
        ),
        {"id": meeting_id},
    ).first()
    if m is None or m.state not in HELD:
        return None
    done = compliance.of_meeting(conn, meeting_id)
    summary = charter.attendance(roster.participants(conn, meeting_id))
    official = conn.execute(
        sa.text("SELECT rating_code FROM evaluations WHERE meeting_id = :m AND kind = 'official'"), {"m": meeting_id}
    ).scalar()
    return MeetingHeld(
        meeting_id=m.id,
        cell_unit_id=m.cell_unit_id,
        kind=m.kind,
        state=m.state,
        month=m.month,
        starts_at=m.starts_at,
        closed_at=m.closed_at,
        part1=done.part1,
        part2=done.part2,
        part3=done.part3,
        documents_opened_by=done.opened_by,
        roster=summary.roster,
        present=summary.present,
        expected=summary.expected,
        attended=summary.attended,
        absent_excused=summary.absent_excused,
        absent_unexcused=summary.absent_unexcused,
        rating=official or "",
        at=time.time(),
    )
