"""Snapshots of what a service holds, written as events to its own outbox: the backfill of a
consumer that came after the facts (the reports service on an upgraded installation, see
docs/reports.md). Each producer's `report-facts` command calls `emit_batches` per kind of fact.

A batch is read and its event written in one transaction, and on PostgreSQL the batch's rows are
read FOR SHARE, so a change to one of them waits for the batch to commit and its own event comes
after the snapshot in the log (consumers apply events in log order)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.engine import Connection

from services.core.db import Database
from services.core.events import snapshot_field, topic_of
from services.core.outbox import emit

log = logging.getLogger("sotay.facts")

# A row's item (None: nothing to say of it).
Item = Callable[[Connection, Any], Message | None]


def emit_batches(db: Database, snapshot: type[Message], select: str, item: Item, params: dict[str, Any] | None = None,
                 batch: int = 500, lock: str = "") -> int:
    """Emit `snapshot` messages, whose one field is the list of `item(row)` for the rows of `select`,
    `batch` rows an event (key: the topic). `select` keys on a text column `id`: it ends with
    `AND <table>.id > :after ORDER BY <table>.id LIMIT :n` (its WHERE may hold more, with `params`).
    `lock`: the tables to read FOR SHARE OF."""
    field, topic = snapshot_field(snapshot), topic_of(snapshot)
    after, total = "", 0
    while True:
        with db.write() as conn:
            sql = select + (f" FOR SHARE OF {lock}" if lock and db.is_postgres else "")
            rows = conn.execute(sa.text(sql), {**(params or {}), "after": after, "n": batch}).all()
            if not rows:
                break
            items = [found for r in rows if (found := item(conn, r)) is not None]
            emit(conn, topic, snapshot(**{field: items}))
        after, total = rows[-1].id, total + len(rows)
    log.info("facts emitted", extra={"fields": {"topic": topic, "items": total}})
    return total
