"""`python -m services.meetings report-facts`: the meetings' facts for the reports' backfill
(docs/reports.md) — every held meeting's snapshot (as `meetings.meeting.held`) and every task's
state (as `meetings.task.state`)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.engine import Connection

from services.core.db import Database
from services.core.facts import emit_batches
from services.meetings import facts, tasks
from sotay.events.v1.meetings_events_pb2 import HeldFacts, MeetingHeld, TaskFacts, TaskState


def _held(conn: Connection, row: Any) -> MeetingHeld | None:
    return facts.held(conn, row.id)


def _task(conn: Connection, row: Any) -> TaskState:
    return tasks.state(row)


def run(db: Database, stop: threading.Event) -> None:
    emit_batches(db, HeldFacts,
                 "SELECT id FROM meetings WHERE state IN ('closed', 'resolution_published') AND id > :after "
                 "ORDER BY id LIMIT :n", _held, batch=100, lock="meetings")
    emit_batches(db, TaskFacts,
                 "SELECT id, meeting_id, cell_unit_id, due_on, status, updated_at FROM tasks WHERE id > :after "
                 "ORDER BY id LIMIT :n", _task, batch=1000, lock="tasks")
