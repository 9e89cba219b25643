"""One-time activation codes: the first sign-in of members created by import, who have no password.

An admin of the subtree or an officer of the member's cell issues codes (for an account that already
has a password, or holds a role elsewhere, only an admin over it: a code sets a password) (handed over on paper or
by text message); the member enters a code with their phone or card number and chooses a password,
and is signed in. A code is 8 characters of an alphabet without look-alikes (about 40 bits), kept
only as an argon2id hash (lighter than a password's: a cell's codes are issued in one call, and a
short-lived random code needs no more), used once, valid ACTIVATION_CODE_TTL seconds; issuing a new code for a
member cancels the earlier one. Wrong codes count towards the same lockout as wrong passwords,
under a key of their own.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import grpc
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Row

from services.core.auth import Principal
from services.core.config import env_int
from services.core.db import Database
from services.core.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from services.core.ids import new_id, require_id
from services.core.interceptors import current_principal
from services.core.timestamps import timestamp
from services.identity import access, audit
from services.identity.accounts import MAX_PASSWORD, Accounts, Tokens, check_password_strength, find_account
from sotay.identity.v1 import identity_pb2 as pb

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 8
MAX_CODES = 500
HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)  # cheap per check; 2^40 guesses offline
_DUMMY = HASHER.hash("NOTACODE")


def normalize_code(raw: str) -> str:
    """What the member typed, as stored: upper case, without spaces or dashes."""
    return "".join(ch for ch in raw.upper() if ch not in " -\t")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def shown(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


class Activation:
    def __init__(self, db: Database, accounts: Accounts) -> None:
        self.db = db
        self.accounts = accounts
        self.ttl = env_int("ACTIVATION_CODE_TTL", 14 * 86400)

    def issue(self, me: Principal, unit_id: str, member_ids: list[str]) -> list[pb.ActivationCode]:
        if len(member_ids) > MAX_CODES:
            raise InvalidArgument("too_many_members", f"at most {MAX_CODES} members per call", field="member_ids")
        wanted = [require_id(m, "member_ids", "member") for m in member_ids]
        with self.db.read() as conn:
            unit = access.require_member_manager(conn, me, unit_id)
            found = self._members(conn, unit.id, wanted)
            if not wanted:  # "everyone still without a password": those the caller may issue for
                found = [row for row in found if self._may_issue(conn, me, unit.id, row)]
            for row in found:
                self._require_may_issue(conn, me, unit.id, row)
        # Hashing (argon2) outside the write transaction: a cell's worth takes a second or two.
        now = time.time()
        codes = [(row, new_code()) for row in found]
        hashed = [(row, code, HASHER.hash(code)) for row, code in codes]
        out = []
        with self.db.write() as conn:
            for row, code, code_hash in hashed:
                conn.execute(
                    sa.text("UPDATE activation_codes SET cancelled_at = :t WHERE account_id = :a "
                            "AND used_at IS NULL AND cancelled_at IS NULL"),
                    {"t": now, "a": row.account_id},
                )
                conn.execute(
                    sa.text("INSERT INTO activation_codes (id, account_id, code_hash, issued_by, created_at, "
                            "expires_at) VALUES (:id, :a, :h, :by, :t, :exp)"),
                    {"id": new_id(), "a": row.account_id, "h": code_hash, "by": me.account_id, "t": now,
                     "exp": now + self.ttl},
                )
                audit.record(conn, "auth.activation.issued", actor=me.account_id, target_type="account",
                             target_id=row.account_id, unit_path=unit.path)
                out.append(pb.ActivationCode(
                    member_id=row.id, full_name=row.full_name, login=row.phone or row.party_card_number or "",
                    code=shown(code), expires_at=timestamp(now + self.ttl),
                ))
        return out

    @staticmethod
    def _require_may_issue(conn: Connection, me: Principal, unit_id: str, row: Row[Any]) -> None:
        """A code sets a password, so access.py's rule for one account acting on another applies: never one's
        own account; an account with a password only by an admin over it (as ResetPassword); an
        account never signed in by the unit's officers too, unless it holds a role the caller does not
        administer."""
        if row.account_id == me.account_id:
            raise PermissionDenied("own_password_needs_current",
                                   "to change your own password use ChangePassword with your current password")
        if row.password_hash is not None:
            access.require_over(conn, me, row.account_id, unit_id)
        else:
            access.require_not_outranked(conn, me, row.account_id)

    @classmethod
    def _may_issue(cls, conn: Connection, me: Principal, unit_id: str, row: Row[Any]) -> bool:
        try:
            cls._require_may_issue(conn, me, unit_id, row)
        except PermissionDenied:
            return False
        return True

    def _members(self, conn: Connection, unit_id: str, wanted: list[str]) -> list[Row[Any]]:
        base = ("SELECT m.id, m.full_name, m.phone, m.party_card_number, a.id AS account_id, a.password_hash "
                "FROM members m JOIN accounts a ON a.member_id = m.id WHERE m.unit_id = :u AND m.active "
                "AND a.active")
        if not wanted:
            return list(conn.execute(sa.text(base + " AND a.password_hash IS NULL ORDER BY m.name_folded, m.id"),
                                     {"u": unit_id}).all())
        marks = ", ".join(f":m{i}" for i in range(len(wanted)))
        rows = conn.execute(sa.text(f"{base} AND m.id IN ({marks}) ORDER BY m.name_folded, m.id"),
                            {"u": unit_id, **{f"m{i}": m for i, m in enumerate(wanted)}}).all()
        missing = set(wanted) - {r.id for r in rows}
        if missing:
            raise NotFound("member_not_found", "some members are not active members of this unit",
                           member_ids=",".join(sorted(missing)))
        return list(rows)

    def redeem(self, login: str, code: str, new_password: str, client_ip: str = "") -> Tokens:
        login, code = login.strip(), normalize_code(code)
        if not login or not code:
            raise InvalidArgument("activation_required", "login and activation code are required")
        check_password_strength(new_password)
        if len(login) > 200 or len(code) > 32 or len(new_password) > MAX_PASSWORD:
            raise Unauthenticated("activation_code_invalid", "the activation code is wrong, used or expired")
        with self.db.read() as conn:
            account = find_account(conn, login)
        key = f"activate:{account.id}" if account is not None else f"activate-name:{login.lower()}"
        now = time.time()
        self.accounts.check_not_locked(key, login, account, client_ip, now)
        with self.db.read() as conn:
            pending = None if account is None else conn.execute(
                sa.text("SELECT id, code_hash FROM activation_codes WHERE account_id = :a AND used_at IS NULL "
                        "AND cancelled_at IS NULL AND expires_at > :now ORDER BY created_at DESC"),
                {"a": account.id, "now": now},
            ).first()
        try:
            ok = HASHER.verify(pending.code_hash if pending else _DUMMY, code) and pending is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or account is None or not account.active or pending is None:
            self.accounts.failed(key, login, account, client_ip, now, "auth.activation.failed")
            raise Unauthenticated("activation_code_invalid", "the activation code is wrong, used or expired")
        with self.db.write() as conn:
            claimed = conn.execute(
                sa.text("UPDATE activation_codes SET used_at = :t WHERE id = :id AND used_at IS NULL "
                        "AND cancelled_at IS NULL"),
                {"t": now, "id": pending.id},
            ).rowcount
            if not claimed:  # the same code redeemed at the same moment elsewhere
                raise Unauthenticated("activation_code_invalid", "the activation code is wrong, used or expired")
            conn.execute(sa.text("DELETE FROM login_throttle WHERE login = :k"), {"k": key})
            return self.accounts.set_password_and_sign_in(conn, account, new_password, "auth.account.activated")


class ActivationRpcs:
    """IssueActivationCodes and RedeemActivationCode of IdentityService."""

    activation: Activation

    def IssueActivationCodes(
        self, request: pb.IssueActivationCodesRequest, context: grpc.ServicerContext
    ) -> pb.IssueActivationCodesResponse:
        me = current_principal()
        codes = self.activation.issue(me, request.unit_id, list(request.member_ids))
        return pb.IssueActivationCodesResponse(codes=codes)

    def RedeemActivationCode(
        self, request: pb.RedeemActivationCodeRequest, context: grpc.ServicerContext
    ) -> pb.RedeemActivationCodeResponse:
        t = self.activation.redeem(request.login, request.code, request.new_password, request.client_ip[:64])
        return pb.RedeemActivationCodeResponse(
            access_token=t.access_token, refresh_token=t.refresh_token, expires_in=t.expires_in
        )
