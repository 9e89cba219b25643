"""Identity's side of access-token revocation (the design: services/core/revocation.py).

`token_revocations` holds a min token version per subject: an account (moved on by one for each
revocation; new tokens carry the current one) or a revoked login (its refresh token family, set to
REVOKED_SESSION). Each write emits identity.account.tokens_revoked in the same transaction.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.engine import Connection

from services.core.auth import Principal
from services.core.db import Database, execute, fetch, fetch_one
from services.core.outbox import emit
from services.core.revocation import REVOKED_SESSION, refuse_if_revoked
from sotay.events.v1.identity_events_pb2 import TokensRevoked

KIND_ACCOUNT = "account"
KIND_SESSION = "session"
# Kept past the access-token lifetime by this much: a token signed just after a revocation
# committed, with the version read before it, lives that much longer.
MARGIN_SECONDS = 60.0

MIGRATION_STATEMENTS = (
    "CREATE TABLE token_revocations (subject TEXT PRIMARY KEY, kind TEXT NOT NULL, account_id TEXT NOT NULL, "
    "min_version BIGINT NOT NULL, revoked_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX token_revocations_recent ON token_revocations (revoked_at)",
)


def token_version(conn: Connection, account_id: str) -> int:
    """The version new access tokens of the account carry."""
    row = fetch_one(conn, "SELECT min_version FROM token_revocations WHERE subject = :s", {"s": account_id})
    return int(row.min_version) if row is not None else 0


def _record(conn: Connection, subject: str, kind: str, account_id: str, cause: str, version: int | None) -> None:
    """Upsert the subject's min version (`version`, or None: one more than before, atomically) and
    emit the event."""
    now = time.time()
    bump = version is None
    execute(
        conn,
        "INSERT INTO token_revocations (subject, kind, account_id, min_version, revoked_at) "
        "VALUES (:s, :k, :a, :v, :t) ON CONFLICT (subject) DO UPDATE SET min_version = "
        + ("token_revocations.min_version + 1" if bump else ":v")
        + ", revoked_at = :t",
        {"s": subject, "k": kind, "a": account_id, "v": 1 if bump else version, "t": now},
    )
    current = token_version(conn, subject)
    emit(conn, account_id, TokensRevoked(subject=subject, account_id=account_id, min_version=current, revoked_at=now,
                                         cause=cause))


def revoke_account(conn: Connection, account_id: str, cause: str) -> None:
    """Every access token of the account issued so far stops working."""
    _record(conn, account_id, KIND_ACCOUNT, account_id, cause, None)


def revoke_member_accounts(conn: Connection, member_id: str, cause: str) -> None:
    for row in fetch(conn, "SELECT id FROM accounts WHERE member_id = :m", {"m": member_id}):
        revoke_account(conn, row.id, cause)


def revoke_session(conn: Connection, account_id: str, session_id: str, cause: str, keep_seconds: float) -> None:
    """Access tokens of one login (refresh token family) stop working. Revoked logins older than
    `keep_seconds` (the access-token lifetime) are forgotten: their tokens have expired."""
    execute(
        conn,
        "DELETE FROM token_revocations WHERE kind = :k AND revoked_at < :cut",
        {"k": KIND_SESSION, "cut": time.time() - keep_seconds - MARGIN_SECONDS},
    )
    _record(conn, session_id, KIND_SESSION, account_id, cause, REVOKED_SESSION)


def recent(conn: Connection, window_seconds: float, after: str, limit: int) -> tuple[list[Any], int]:
    """Revocations of the last `window_seconds` (plus the margin) by subject after `after`, and the
    event log position they are current to."""
    # The position first: every event numbered up to it committed its row before the rows are read
    # (PostgreSQL reads in autocommit, a snapshot per statement).
    seq = fetch(conn, "SELECT COALESCE(MAX(seq), 0) AS seq FROM outbox")[0].seq
    found = fetch(
        conn,
        "SELECT subject, min_version, revoked_at FROM token_revocations "
        "WHERE revoked_at >= :since AND subject > :after ORDER BY subject LIMIT :n",
        {"since": time.time() - window_seconds - MARGIN_SECONDS, "after": after, "n": limit},
    )
    return found, int(seq)


class StoredRevocations:
    """The check identity runs on every request: its own table, so a revocation holds at once on
    every replica."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def check(self, principal: Principal) -> None:
        with self.db.read() as conn:
            found = fetch(
                conn,
                "SELECT subject, min_version FROM token_revocations WHERE subject IN (:a, :s)",
                {"a": principal.account_id, "s": principal.session_id},
            )
        floors = {r.subject: r.min_version for r in found}
        refuse_if_revoked(principal, floors.get(principal.account_id, 0), floors.get(principal.session_id, 0))
