"""Idempotency keys for mutations a client may repeat (a retry, a second device).

`remember()` runs in the mutation's transaction: the first call with a key stores the id of what
it made; a later call with the same key (same scope: method and caller) gets that id back and
makes nothing. Votes keep their key in the voter list instead (see voting.py).
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.ids import idempotency_key

check = idempotency_key  # the shared rule (services.core.ids)


def seen(conn: Connection, scope: str, key: str) -> str | None:
    """The result id stored for (scope, key), or None the first time."""
    found = conn.execute(
        sa.text("SELECT result_id FROM idempotency_keys WHERE scope = :s AND key = :k"), {"s": scope, "k": key}
    ).scalar()
    return None if found is None else str(found)


def remember(conn: Connection, scope: str, key: str, result_id: str) -> None:
    conn.execute(
        sa.text("INSERT INTO idempotency_keys (scope, key, result_id, created_at) VALUES (:s, :k, :r, :t)"),
        {"s": scope, "k": key, "r": result_id, "t": time.time()},
    )
