"""Accounts, passwords (argon2id), login throttling and lockout, access and refresh tokens.

Refresh tokens are opaque random strings stored as SHA-256 hashes. Using one rotates it; using
an already-rotated one means it was stolen or replayed, so the whole login (token family) is
revoked. Failed logins are counted per account (or per unknown login name) within a window;
reaching the limit locks that login for a while. Every security event goes to the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Row

from services.core.auth import Grant, Principal, issue_access_token
from services.core.config import env_int
from services.core.db import Database, fetch, fetch_one
from services.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
)
from services.core.ids import new_id, require_id
from services.identity import activity, audit, members, revocation, units
from services.identity.keys import KeyStore

HASHER = PasswordHasher()  # argon2id with the library's recommended parameters
_DUMMY_HASH = HASHER.hash("not-a-real-password")
MIN_PASSWORD = 8
MAX_PASSWORD = 256


@dataclass(frozen=True)
class Policy:
    access_ttl: int
    refresh_ttl: int
    max_failures: int
    failure_window: int
    lockout_seconds: int

    @classmethod
    def from_env(cls) -> Policy:
        return cls(
            access_ttl=env_int("ACCESS_TOKEN_TTL", 900),
            refresh_ttl=env_int("REFRESH_TOKEN_TTL", 30 * 86400),
            max_failures=env_int("LOGIN_MAX_FAILURES", 5),
            failure_window=env_int("LOGIN_FAILURE_WINDOW", 900),
            lockout_seconds=env_int("LOGIN_LOCKOUT_SECONDS", 900),
        )


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidArgument("password_too_short", f"a password has at least {MIN_PASSWORD} characters",
                              field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidArgument("password_too_long", f"a password has at most {MAX_PASSWORD} characters",
                              field="password")


def hash_password(password: str) -> str:
    check_password_strength(password)
    return HASHER.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_account(conn: Connection, account_id: str) -> Row[Any]:
    aid = require_id(account_id, "account_id", "account")
    row = fetch_one(conn, "SELECT * FROM accounts WHERE id = :id", {"id": aid})
    if row is None:
        raise NotFound("account_not_found", f"account {account_id} does not exist")
    return row


class GrantRow(NamedTuple):
    id: str
    account_id: str
    role: str
    unit_id: str
    granted_at: float


def get_with_member(conn: Connection, account_id: str) -> tuple[Any, list[GrantRow]]:
    """The account's `account_username` and `account_member_id` with its member's profile
    (members.COLUMNS, NULL when the account has no member), and its role grants, highest unit
    first: one statement (a row per grant), for GetMe on every page load."""
    aid = require_id(account_id, "account_id", "account")
    found = fetch(
        conn,
        f"SELECT acc.username AS account_username, acc.member_id AS account_member_id, {members.COLUMNS}, "
        "g.id AS grant_id, g.role AS grant_role, g.unit_id AS grant_unit_id, g.granted_at AS grant_at "
        "FROM accounts acc LEFT JOIN members m ON m.id = acc.member_id LEFT JOIN accounts a ON a.member_id = m.id "
        "LEFT JOIN role_grants g ON g.account_id = acc.id LEFT JOIN units gu ON gu.id = g.unit_id "
        "WHERE acc.id = :id ORDER BY gu.depth, g.role",
        {"id": aid},
    )
    if not found:
        raise NotFound("account_not_found", f"account {account_id} does not exist")
    grants = [GrantRow(r.grant_id, aid, r.grant_role, r.grant_unit_id, r.grant_at) for r in found if r.grant_id]
    return found[0], grants


def find_account(conn: Connection, login: str) -> Row[Any] | None:
    """By login name, else by the member's party card number or an active member's phone number
    (members keeps these unambiguous: see members.check_logins)."""
    row = conn.execute(sa.text("SELECT * FROM accounts WHERE username = :u"), {"u": login}).first()
    if row is not None:
        return row
    phone = members.normalize_phone(login)
    found = conn.execute(
        sa.text(
            "SELECT a.* FROM accounts a JOIN members m ON m.id = a.member_id "
            "WHERE m.party_card_number = :login OR (m.phone = :phone AND m.active)"
        ),
        {"login": login, "phone": phone},
    ).all()
    return found[0] if len(found) == 1 else None


def principal_for(conn: Connection, account: Row[Any], session_id: str = "") -> Principal:
    grants = conn.execute(
        sa.text(
            "SELECT g.role, g.unit_id, u.depth FROM role_grants g JOIN units u ON u.id = g.unit_id "
            "WHERE g.account_id = :a ORDER BY u.depth, g.role"
        ),
        {"a": account.id},
    ).all()
    unit_id = ""
    if account.member_id:
        unit_id = conn.execute(
            sa.text("SELECT unit_id FROM members WHERE id = :id"), {"id": account.member_id}
        ).scalar_one()
    elif grants:
        unit_id = grants[0].unit_id
    return Principal(
        account_id=account.id,
        member_id=account.member_id or "",
        unit_id=unit_id,
        ancestors=tuple(units.chain(conn, unit_id)) if unit_id else (),
        grants=tuple(Grant(g.role, g.unit_id) for g in grants),
        token_version=revocation.token_version(conn, account.id),
        session_id=session_id,
    )


class Accounts:
    def __init__(self, db: Database, keys: KeyStore, policy: Policy) -> None:
        self.db = db
        self.keys = keys
        self.policy = policy

    # --- tokens ---

    def _issue(self, conn: Connection, account: Row[Any], family_id: str) -> Tokens:
        activity.record(conn, account, time.time())
        kid, key = self.keys.signing_key()
        access = issue_access_token(key, kid, principal_for(conn, account, family_id), self.policy.access_ttl)
        refresh = secrets.token_urlsafe(32)
        now = time.time()
        conn.execute(
            sa.text(
                "INSERT INTO refresh_tokens (id, family_id, account_id, token_hash, created_at, expires_at) "
                "VALUES (:id, :f, :a, :h, :now, :exp)"
            ),
            {"id": new_id(), "f": family_id, "a": account.id, "h": _token_hash(refresh), "now": now,
             "exp": now + self.policy.refresh_ttl},
        )
        return Tokens(access, refresh, self.policy.access_ttl)

    def login(self, login: str, password: str, client_ip: str = "") -> Tokens:
        login = login.strip()
        if not login or not password:
            raise InvalidArgument("credentials_required", "username and password are required")
        if len(login) > 200 or len(password) > MAX_PASSWORD:
            raise Unauthenticated("invalid_credentials", "wrong username or password")
        with self.db.read() as conn:
            account = find_account(conn, login)
        key = f"acct:{account.id}" if account is not None else f"name:{login.lower()}"
        now = time.time()
        self.check_not_locked(key, login, account, client_ip, now)
        hashed = account.password_hash if account is not None and account.password_hash else _DUMMY_HASH
        ok = False
        try:
            ok = HASHER.verify(hashed, password) and hashed is not _DUMMY_HASH
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or account is None or not account.active:
            self.failed(key, login, account, client_ip, now)
            raise Unauthenticated("invalid_credentials", "wrong username or password")
        with self.db.write() as conn:
            conn.execute(sa.text("DELETE FROM login_throttle WHERE login = :k"), {"k": key})
            if HASHER.check_needs_rehash(hashed):
                conn.execute(sa.text("UPDATE accounts SET password_hash = :h WHERE id = :id"),
                             {"h": HASHER.hash(password), "id": account.id})
            audit.record(conn, "auth.login.succeeded", actor=account.id, target_type="account",
                         target_id=account.id, ip=client_ip)
            return self._issue(conn, account, new_id())

    def check_not_locked(self, key: str, login: str, account: Row[Any] | None, ip: str, now: float) -> None:
        """RESOURCE_EXHAUSTED (with retry_after) while `key` is locked out after failed attempts."""
        with self.db.read() as conn:
            throttle = conn.execute(
                sa.text("SELECT failures, window_start, locked_until FROM login_throttle WHERE login = :k"),
                {"k": key},
            ).first()
        if throttle is not None and throttle.locked_until > now:
            with self.db.write() as conn:
                audit.record(conn, "auth.login.locked_out", target_type="account",
                             target_id=account.id if account else "", login=login, ip=ip)
            raise ResourceExhausted(
                "account_locked", "too many failed logins; try again later",
                retry_after=int(throttle.locked_until - now) + 1,
            )

    def failed(self, key: str, login: str, account: Row[Any] | None, ip: str, now: float,
               action: str = "auth.login.failed") -> None:
        """Count a failed attempt on `key` (a login, or an activation code); lock it at the limit."""
        p = self.policy
        with self.db.write() as conn:
            row = conn.execute(
                sa.text("SELECT failures, window_start FROM login_throttle WHERE login = :k"), {"k": key}
            ).first()
            if row is None or now - row.window_start > p.failure_window:
                failures, start = 1, now
                conn.execute(sa.text("DELETE FROM login_throttle WHERE login = :k"), {"k": key})
                conn.execute(
                    sa.text("INSERT INTO login_throttle VALUES (:k, 1, :now, 0)"), {"k": key, "now": now}
                )
            else:
                failures, start = row.failures + 1, row.window_start
            locked_until = now + p.lockout_seconds if failures >= p.max_failures else 0.0
            conn.execute(
                sa.text("UPDATE login_throttle SET failures = :f, window_start = :s, locked_until = :l "
                        "WHERE login = :k"),
                {"f": failures, "s": start, "l": locked_until, "k": key},
            )
            target = account.id if account is not None else ""
            audit.record(conn, action, target_type="account", target_id=target,
                         login=login, ip=ip, failures=failures)
            if locked_until:
                audit.record(conn, "auth.locked", target_type="account", target_id=target, login=login,
                             until=locked_until)

    def refresh(self, token: str) -> Tokens:
        if not token:
            raise InvalidArgument("refresh_token_required", "refresh_token is required")
        now = time.time()
        with self.db.write() as conn:
            row = conn.execute(
                sa.text("SELECT * FROM refresh_tokens WHERE token_hash = :h"), {"h": _token_hash(token)}
            ).first()
            if row is not None and row.used_at is not None:
                # Committed before the error is raised: the whole login is revoked.
                self._revoke_family(conn, row.account_id, row.family_id, now, "refresh_reused")
                audit.record(conn, "auth.refresh.reuse_detected", target_type="account",
                             target_id=row.account_id, family=row.family_id)
                failure = Unauthenticated("refresh_token_reused", "refresh token was already used; login revoked")
            elif row is None or row.revoked_at is not None:
                failure = Unauthenticated("refresh_token_invalid", "refresh token is not valid")
            elif row.expires_at <= now:
                failure = Unauthenticated("refresh_token_expired", "refresh token has expired")
            else:
                account = get_account(conn, row.account_id)
                if not account.active:
                    raise Unauthenticated("account_inactive", "account is deactivated")
                claimed = conn.execute(
                    sa.text("UPDATE refresh_tokens SET used_at = :t WHERE id = :id AND used_at IS NULL"),
                    {"t": now, "id": row.id},
                ).rowcount
                if claimed:
                    return self._issue(conn, account, row.family_id)
                # A concurrent refresh used it first: same as a replay.
                self._revoke_family(conn, row.account_id, row.family_id, now, "refresh_reused")
                failure = Unauthenticated("refresh_token_reused", "refresh token was already used; login revoked")
        raise failure

    def _revoke_family(self, conn: Connection, account_id: str, family_id: str, now: float, cause: str) -> None:
        """The login ends: its refresh tokens and its access tokens."""
        conn.execute(
            sa.text("UPDATE refresh_tokens SET revoked_at = :t WHERE family_id = :f AND revoked_at IS NULL"),
            {"t": now, "f": family_id},
        )
        revocation.revoke_session(conn, account_id, family_id, cause, self.policy.access_ttl)

    def logout(self, token: str) -> None:
        with self.db.write() as conn:
            row = conn.execute(
                sa.text("SELECT family_id, account_id FROM refresh_tokens WHERE token_hash = :h"),
                {"h": _token_hash(token)},
            ).first()
            if row is not None:
                self._revoke_family(conn, row.account_id, row.family_id, time.time(), "logout")
                audit.record(conn, "auth.logout", actor=row.account_id, target_type="account",
                             target_id=row.account_id)

    def change_password(self, account_id: str, current: str, new: str) -> None:
        new_hash = hash_password(new)
        with self.db.write() as conn:
            account = get_account(conn, account_id)
            try:
                HASHER.verify(account.password_hash or _DUMMY_HASH, current)
            except (VerificationError, InvalidHashError):
                audit.record(conn, "auth.password.change_failed", actor=account.id, target_type="account",
                             target_id=account.id)
                raise FailedPrecondition("wrong_password", "the current password is wrong") from None
            self._set_password(conn, account.id, new_hash, account.id, "auth.password.changed")

    def _set_password(self, conn: Connection, account_id: str, new_hash: str, actor: str, action: str) -> None:
        now = time.time()
        conn.execute(
            sa.text("UPDATE accounts SET password_hash = :h, password_changed_at = :t WHERE id = :id"),
            {"h": new_hash, "t": now, "id": account_id},
        )
        conn.execute(
            sa.text("UPDATE refresh_tokens SET revoked_at = :t WHERE account_id = :a AND revoked_at IS NULL"),
            {"t": now, "a": account_id},
        )
        revocation.revoke_account(conn, account_id, action)
        conn.execute(sa.text("DELETE FROM login_throttle WHERE login = :k"), {"k": f"acct:{account_id}"})
        audit.record(conn, action, actor=actor, target_type="account", target_id=account_id)

    def set_password_and_sign_in(self, conn: Connection, account: Row[Any], new: str, action: str) -> Tokens:
        """The account's own new password (its other logins end), and tokens of a new login."""
        self._set_password(conn, account.id, hash_password(new), account.id, action)
        return self._issue(conn, account, new_id())

    def reset_password(self, conn: Connection, account_id: str, new: str, actor: str) -> None:
        self._set_password(conn, account_id, hash_password(new), actor, "auth.password.reset")


def create_admin(db: Database, username: str, password: str, province_name: str = "Tỉnh ủy") -> tuple[str, str]:
    """An account named `username` that administers the root unit (created when the tree is empty).
    Returns (account id, root unit id); an existing account gets the new password and the role."""
    username = username.strip()
    if not username or len(username) > 100:
        raise InvalidArgument("invalid_username", "username must be 1-100 characters", field="username")
    pw_hash = hash_password(password)
    with db.write() as conn:
        root = conn.execute(sa.text("SELECT id FROM units WHERE parent_id IS NULL")).first()
        root_id = root.id if root else units.create(conn, province_name, "province", "").id
        account = conn.execute(sa.text("SELECT id FROM accounts WHERE username = :u"), {"u": username}).first()
        now = time.time()
        if account is None:
            account_id = new_id()
            conn.execute(
                sa.text("INSERT INTO accounts (id, username, member_id, password_hash, active, created_at, "
                        "password_changed_at) VALUES (:id, :u, NULL, :h, TRUE, :t, :t)"),
                {"id": account_id, "u": username, "h": pw_hash, "t": now},
            )
        else:
            account_id = account.id
            conn.execute(sa.text("UPDATE accounts SET password_hash = :h, active = TRUE WHERE id = :id"),
                         {"h": pw_hash, "id": account_id})
        exists = conn.execute(
            sa.text("SELECT 1 FROM role_grants WHERE account_id = :a AND role = 'admin' AND unit_id = :u"),
            {"a": account_id, "u": root_id},
        ).first()
        if not exists:
            conn.execute(
                sa.text("INSERT INTO role_grants (id, account_id, role, unit_id, granted_by, granted_at) "
                        "VALUES (:id, :a, 'admin', :u, NULL, :t)"),
                {"id": new_id(), "a": account_id, "u": root_id, "t": now},
            )
        audit.record(conn, "auth.admin.created", target_type="account", target_id=account_id,
                     unit_path=f"/{root_id}/", username=username)
    return account_id, root_id
