"""Personal notifications: one row per recipient, made from another service's event (a meeting
announced to a cell, a task for its assignees) or from feedback being answered. Each carries a
dedupe key, so the same fact arriving twice (a re-delivered event) is recorded once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.ids import new_id
from services.notifications import inbox
from services.notifications.delivery import queue

KINDS = (
    "meeting_announced",
    "meeting_documents",
    "poll_opened",
    "resolution_published",
    "task_assigned",
    "task_due_soon",
    "feedback_answered",
    "feedback_escalated",
)


def notify(
    conn: Connection,
    member_ids: Iterable[str],
    kind: str,
    title: str,
    body: str,
    link: dict[str, Any],
    dedupe_key: str,
    now: float | None = None,
) -> int:
    """Record a notification for each member (once per dedupe key); queue its channel deliveries."""
    assert kind in KINDS, kind
    at = now if now is not None else time.time()
    created = 0
    for member_id in dict.fromkeys(m for m in member_ids if m):
        nid = new_id()
        inserted = conn.execute(
            sa.text(
                "INSERT INTO notifications (id, member_id, kind, title, body, link, dedupe_key, created_at) "
                "VALUES (:id, :m, :k, :t, :b, :l, :d, :at) ON CONFLICT DO NOTHING"
            ),
            {
                "id": nid,
                "m": member_id,
                "k": kind,
                "t": title[:300],
                "b": body[:2000],
                "l": json.dumps(link),
                "d": dedupe_key,
                "at": at,
            },
        ).rowcount
        if inserted:
            created += 1
            inbox.bump(conn, member_id)
            queue.enqueue_personal(conn, nid, member_id, at)
    return created
