"""Idempotency keys of mutations a client may repeat (a retry after a lost answer, a double tap).

The rule: a key is 1 to 128 printable ASCII characters other than space (`!` to `~`), as sent.
A request without a key is simply not idempotent; a few methods require one (a vote, an
attendance sheet). A key breaking the rule is refused: INVALID_ARGUMENT `idempotency_key_too_long`
or `idempotency_key_invalid`.

The storage: each service's table `idempotency_keys (scope TEXT, key TEXT, result_id TEXT,
created_at DOUBLE PRECISION, PRIMARY KEY (scope, key))` (its migrations create it), written in
the mutation's transaction. The scope names the method and its caller (or the record), so two
callers' keys never meet. The first call stores the id of what it made; a later call with the
same key finds it and answers from it, making nothing (the first answer again). Where a key must
not be reused for another body, the result id carries the body's digest and the caller compares.
Votes are the exception: their key stays in the voter list (meetings/ballots.py), which holds no
time, so nothing ties a voter to the moment a secret ballot was cast.
"""

from __future__ import annotations

import re
import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.errors import InvalidArgument

MAX_LENGTH = 128
PATTERN = r"^[!-~]{1,128}$"
_KEY = re.compile(PATTERN)
FIELD = "idempotency_key"



def check(raw: str, required: bool = False) -> str:
    """The key as sent, '' when there is none and none is required."""
    if not raw:
        if required:
            raise InvalidArgument(f"{FIELD}_required", f"{FIELD} is required", field=FIELD)
        return ""
    if len(raw) > MAX_LENGTH:
        raise InvalidArgument(f"{FIELD}_too_long", f"{FIELD} has at most {MAX_LENGTH} characters", field=FIELD)
    if not _KEY.fullmatch(raw):
        raise InvalidArgument(
            f"{FIELD}_invalid", f"{FIELD} is printable ASCII characters without spaces", field=FIELD
        )
    return raw


def seen(conn: Connection, scope: str, key: str) -> str | None:
    """The result id stored for (scope, key), or None the first time."""
    found = conn.execute(
        sa.text("SELECT result_id FROM idempotency_keys WHERE scope = :s AND key = :k"), {"s": scope, "k": key}
    ).scalar()
    return None if found is None else str(found)


def remember(conn: Connection, scope: str, key: str, result_id: str) -> None:
    """Store what the first call with the key made (in its transaction; a concurrent second
    insert of the same pair fails on the primary key and its transaction rolls back)."""
    conn.execute(
        sa.text("INSERT INTO idempotency_keys (scope, key, result_id, created_at) VALUES (:s, :k, :r, :t)"),
        {"s": scope, "k": key, "r": result_id, "t": time.time()},
    )
