"""Part 3: tasks assigned at a meeting, their progress reports, and reminders when they come due.

The reminder worker (`python -m services.meetings reminders`) emits `meetings.task.due_soon` once
per task and due date: the claim (`reminded_due_on`) and the event commit together, and the claim
is a conditional UPDATE, so several workers never remind twice. Moving the due date re-arms it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core.config import env_int
from services.core.db import Database
from services.core.errors import FailedPrecondition, InvalidArgument, NotFound
from services.core.ids import new_id, require_id
from services.core.liveness import LOOPS
from services.core.outbox import emit
from services.core.paging import counted_page
from services.meetings import facts, meetings, states
from sotay.events.v1.meetings_events_pb2 import TaskAssigned, TaskDueSoon, TaskState

log = logging.getLogger("sotay.meetings.tasks")

STATUSES = ("open", "in_progress", "done", "cancelled")
ACTIVE = ("open", "in_progress")
VN = dt.timezone(dt.timedelta(hours=7))


def _due(value: str) -> str:
    try:
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise InvalidArgument("invalid_due_on", "due_on must be a date YYYY-MM-DD", field="due_on") from None


def get(conn: Connection, task_id: str) -> Row[Any]:
    tid = require_id(task_id, "task_id", "task")
    row = conn.execute(sa.text("SELECT * FROM tasks WHERE id = :id"), {"id": tid}).first()
    if row is None:
        raise NotFound("task_not_found", f"task {task_id} does not exist")
    return row


def assignees(conn: Connection, task_id: str) -> list[str]:
    return list(
        conn.execute(
            sa.text("SELECT member_id FROM task_assignees WHERE task_id = :t ORDER BY member_id"), {"t": task_id}
        ).scalars()
    )


def reports(conn: Connection, task_id: str) -> list[Row[Any]]:
    return list(
        conn.execute(sa.text("SELECT * FROM task_reports WHERE task_id = :t ORDER BY at, id"), {"t": task_id}).all()
    )


def assign(
    conn: Connection, meeting: Row[Any], title: str, description: str, assignee_ids: list[str], due_on: str
) -> str:
    states.require(meeting.state, "tasks")
    title = title.strip()
    if not title:
        raise InvalidArgument("title_required", "a task needs a title", field="title")
    if len(title) > 500 or len(description) > 10_000:
        raise InvalidArgument("text_too_long", "title up to 500, description up to 10000 characters", field="title")
    if not assignee_ids:
        raise InvalidArgument(
            "assignees_required", "assign the task to at least one member", field="assignee_member_ids"
        )
    people = list(dict.fromkeys(assignee_ids))
    for member_id in people:
        meetings.require_roster_member(conn, meeting.id, member_id, "assignee_member_ids")
    due = _due(due_on)
    now = time.time()
    task_id = new_id()
    conn.execute(
        sa.text(
            "INSERT INTO tasks (id, meeting_id, cell_unit_id, title, description, due_on, status, progress, "
            "reminded_due_on, created_at, updated_at) VALUES (:id, :m, :c, :t, :d, :due, 'open', 0, NULL, :now, "
            ":now)"
        ),
        {
            "id": task_id,
            "m": meeting.id,
            "c": meeting.cell_unit_id,
            "t": title,
            "d": description.strip(),
            "due": due,
            "now": now,
        },
    )
    conn.execute(
        sa.text("INSERT INTO task_assignees (task_id, member_id) VALUES (:t, :m)"),
        [{"t": task_id, "m": m} for m in people],
    )
    emit(conn, task_id, TaskAssigned(task_id=task_id, meeting_id=meeting.id, title=title, due_on=due,
                                     assignee_member_ids=people))
    emit_state(conn, task_id)
    facts.emit_held(conn, meeting.id)
    return task_id


def emit_state(conn: Connection, task_id: str) -> None:
    """For the reports' tasks done on time (issue 15): the task's cell, due date, status and the day
    it was done (a full snapshot; the newest `at` wins)."""
    emit(conn, task_id, state(conn.execute(
        sa.text("SELECT id, meeting_id, cell_unit_id, due_on, status, updated_at FROM tasks WHERE id = :id"),
        {"id": task_id},
    ).one()))


def state(t: Row[Any]) -> TaskState:
    done_on = dt.datetime.fromtimestamp(t.updated_at, VN).date().isoformat() if t.status == "done" else ""
    return TaskState(task_id=t.id, meeting_id=t.meeting_id, cell_unit_id=t.cell_unit_id, due_on=t.due_on,
                     status=t.status, done_on=done_on, at=t.updated_at)


def report(conn: Connection, task: Row[Any], member_id: str, progress: int, note: str, status: str) -> None:
    if task.status in ("done", "cancelled") and status not in ("open", "in_progress"):
        raise FailedPrecondition("task_finished", "this task is finished; reopen it to report progress")
    if not 0 <= progress <= 100:
        raise InvalidArgument("invalid_progress", "progress_percent is between 0 and 100", field="progress_percent")
    if status and status not in STATUSES:
        raise InvalidArgument("invalid_status", "unknown task status", field="status")
    new_status = status or ("in_progress" if progress > 0 and task.status == "open" else task.status)
    if new_status == "done":
        progress = 100
    now = time.time()
    conn.execute(
        sa.text(
            "INSERT INTO task_reports (id, task_id, member_id, progress, note, status, at) "
            "VALUES (:id, :t, :m, :p, :n, :s, :at)"
        ),
        {
            "id": new_id(),
            "t": task.id,
            "m": member_id,
            "p": progress,
            "n": note.strip()[:5000],
            "s": new_status,
            "at": now,
        },
    )
    conn.execute(
        sa.text("UPDATE tasks SET progress = :p, status = :s, updated_at = :at WHERE id = :t"),
        {"p": progress, "s": new_status, "at": now, "t": task.id},
    )
    if new_status != task.status:
        emit_state(conn, task.id)


def list_tasks(
    conn: Connection, meeting_id: str, cell_id: str, status: str, offset: int, limit: int
) -> tuple[list[Row[Any]], int]:
    where = ["meeting_id = :m"] if meeting_id else ["cell_unit_id = :c"]
    if status:
        where.append("status = :s")
    params = {"m": meeting_id, "c": cell_id, "s": status}
    return counted_page(conn, "tasks", " AND ".join(where), "due_on, created_at, id", params, offset, limit)


# ---------- reminders ----------


def remind_due(db: Database, today: dt.date | None = None, within_days: int | None = None, batch: int = 500) -> int:
    """Emit meetings.task.due_soon for active tasks due within `within_days` (once per due date)."""
    days = within_days if within_days is not None else env_int("MEETINGS_REMINDER_DAYS", 2)
    today = today or dt.datetime.now(VN).date()
    horizon = (today + dt.timedelta(days=days)).isoformat()
    sent = 0
    with db.write() as conn:
        due = conn.execute(
            sa.text(
                "SELECT id, title, due_on FROM tasks WHERE status IN ('open', 'in_progress') AND due_on <= :h "
                "AND (reminded_due_on IS NULL OR reminded_due_on <> due_on) ORDER BY due_on, id LIMIT :n"
            ),
            {"h": horizon, "n": batch},
        ).all()
        for task in due:
            claimed = conn.execute(
                sa.text(
                    "UPDATE tasks SET reminded_due_on = due_on WHERE id = :id AND due_on = :due "
                    "AND (reminded_due_on IS NULL OR reminded_due_on <> due_on)"
                ),
                {"id": task.id, "due": task.due_on},
            ).rowcount
            if not claimed:
                continue
            emit(conn, task.id, TaskDueSoon(task_id=task.id, title=task.title, due_on=task.due_on,
                                            assignee_member_ids=assignees(conn, task.id)))
            sent += 1
    return sent


def run_reminders(db: Database, stop: threading.Event) -> None:
    interval = env_int("MEETINGS_REMINDER_INTERVAL", 300)
    loop = LOOPS.loop("meetings", "reminders", interval)
    while not stop.is_set():
        try:
            sent = remind_due(db)
            loop.done()
            if sent:
                log.info("reminders sent", extra={"fields": {"tasks": sent}})
        except sa.exc.OperationalError:
            log.warning("reminders: database unavailable, retrying", exc_info=True)
            loop.done(ok=False)
        stop.wait(interval)
