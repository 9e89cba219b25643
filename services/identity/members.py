"""Member profiles: validation, create/update, transfer between cells with history,
deactivation (never a hard delete). Each member has an account (no password until one is set);
the cell position grants the matching cell role on the member's unit."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core.db import fetch, fetch_one, lock
from services.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.core.ids import new_id, require_id
from services.core.outbox import emit
from services.core.text import fold
from services.identity import revocation, units
from sotay.events.v1.identity_events_pb2 import MemberCreated, MemberDeactivated, MemberTransferred, MemberUpdated

GENDERS = ("male", "female", "other")
STATUSES = ("official", "probationary")
POSITIONS = ("member", "secretary", "deputy_secretary", "committee_member")
POSITION_ROLES = {"secretary": "cell_secretary", "deputy_secretary": "cell_deputy",
                  "committee_member": "cell_committee"}
COLUMNS = (
    "m.id, m.unit_id, m.full_name, m.gender, m.birth_date, m.ethnicity, m.phone, m.email, "
    "m.party_card_number, m.joined_on, m.official_on, m.status, m.exempt, m.exempt_reason, "
    "m.exempt_since, m.position, m.active, m.updated_at, a.id AS account_id"
)
SELECT = f"SELECT {COLUMNS} FROM members m LEFT JOIN accounts a ON a.member_id = m.id"
# What lists show (convert.add_roster_entries): no personal data.
ROSTER_COLUMNS = "m.id, m.unit_id, m.full_name, m.status, m.exempt, m.position, m.active, a.id AS account_id"

PHONE_RE = re.compile(r"^\+?[0-9]{8,15}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CARD_RE = re.compile(r"^[0-9A-Za-z.\-/]{4,32}$")


@dataclass
class Profile:
    """The editable fields of a member, already validated ('' means unknown)."""

    full_name: str = ""
    gender: str = ""
    birth_date: str = ""
    ethnicity: str = ""
    phone: str = ""
    email: str = ""
    party_card_number: str = ""
    joined_on: str = ""
    official_on: str = ""
    status: str = ""
    exempt: bool | None = None
    exempt_reason: str = ""
    exempt_since: str = ""
    position: str = ""

    def given(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) not in ("", None)}


def normalize_phone(raw: str) -> str:
    phone = re.sub(r"[\s.\-()]", "", raw)
    if phone.startswith("+84"):
        phone = "0" + phone[3:]
    return phone


def _date(value: str, field: str) -> str:
    if not value:
        return ""
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidArgument("invalid_date", f"{field} must be a date YYYY-MM-DD", field=field) from None
    if not dt.date(1900, 1, 1) <= day <= dt.date.today():
        raise InvalidArgument("date_out_of_range", f"{field} is not a plausible date", field=field)
    return day.isoformat()


def _choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value and value not in allowed:
        raise InvalidArgument(f"invalid_{field}", f"{field} must be one of {', '.join(allowed)}", field=field)
    return value


def validate(p: Profile, creating: bool) -> Profile:
    """Check and normalise a profile; raise INVALID_ARGUMENT naming the field."""
    out = Profile(**{f.name: getattr(p, f.name) for f in fields(p)})
    out.full_name = " ".join(p.full_name.split())
    if creating and not out.full_name:
        raise InvalidArgument("full_name_required", "a member needs a full name", field="full_name")
    if len(out.full_name) > 200:
        raise InvalidArgument("full_name_too_long", "full_name has at most 200 characters", field="full_name")
    out.gender = _choice(p.gender, GENDERS, "gender")
    out.status = _choice(p.status, STATUSES, "status")
    out.position = _choice(p.position, POSITIONS, "position")
    for name in ("birth_date", "joined_on", "official_on", "exempt_since"):
        setattr(out, name, _date(getattr(p, name), name))
    if p.phone:
        out.phone = normalize_phone(p.phone)
        if not PHONE_RE.match(out.phone):
            raise InvalidArgument("invalid_phone", "phone must be 8-15 digits", field="phone")
    if p.email:
        out.email = p.email.strip().lower()
        if not EMAIL_RE.match(out.email) or len(out.email) > 254:
            raise InvalidArgument("invalid_email", "email is not an e-mail address", field="email")
    if p.party_card_number:
        out.party_card_number = p.party_card_number.strip()
        if not CARD_RE.match(out.party_card_number):
            raise InvalidArgument(
                "invalid_party_card_number", "party_card_number is 4-32 letters or digits",
                field="party_card_number",
            )
    out.ethnicity = " ".join(p.ethnicity.split())[:60]
    out.exempt_reason = p.exempt_reason.strip()[:500]
    if creating:
        out.status = out.status or "official"
        out.position = out.position or "member"
        out.gender = out.gender or "other"
    if out.official_on and out.joined_on and out.official_on < out.joined_on:
        raise InvalidArgument("official_before_joined", "official_on is before joined_on", field="official_on")
    if out.exempt and not out.exempt_reason:
        raise InvalidArgument("exempt_reason_required", "an exempt member needs a reason", field="exempt_reason")
    return out


def get(conn: Connection, member_id: str) -> Row[Any]:
    mid = require_id(member_id, "member_id", "member")
    row = fetch_one(conn, f"{SELECT} WHERE m.id = :id", {"id": mid})
    if row is None:
        raise NotFound("member_not_found", f"member {member_id} does not exist", member_id=member_id)
    return row


LOGINS_LOCK = "identity-member-logins"  # held by whoever checks and then writes phones or card numbers
CARD_UNAVAILABLE = ("party_card_number_unavailable",
                    "this party card number cannot be used; a member coming from another unit is transferred")
PHONE_UNAVAILABLE = ("phone_unavailable", "this phone number is another member's login; leave it blank or use another")


def login_clashes(
    conn: Connection, phones: list[str], cards: list[str], exclude: list[str]
) -> tuple[set[str], set[str]]:
    """Which of `phones` and `cards` would make a login ambiguous, held by members not in `exclude`:
    a card number is unique among all members and must not be an active member's phone; a phone
    is unique among active members and must not be anyone's card number (accounts.find_account).
    Callers answer with the same reason whoever holds it and wherever: no member, unit or
    status is revealed, only that the number cannot be used."""
    params: dict[str, Any] = {"x": [*exclude, ""], "p": [*phones, ""],
                              "c": [*cards, *(normalize_phone(c) for c in cards), ""]}
    found = conn.execute(
        sa.text(
            "SELECT party_card_number, phone, active FROM members WHERE id NOT IN :x "
            "AND (party_card_number IN :c OR party_card_number IN :p OR (active AND (phone IN :p OR phone IN :c)))"
        ).bindparams(*(sa.bindparam(k, expanding=True) for k in params)),
        params,
    ).all()
    used_cards = {r.party_card_number for r in found if r.party_card_number}
    used_phones = {r.phone for r in found if r.active and r.phone}
    return ({p for p in phones if p in used_phones or p in used_cards},
            {c for c in cards if c in used_cards or normalize_phone(c) in used_phones or c in used_phones})


def check_logins(conn: Connection, profile: Profile, member_id: str = "") -> None:
    """ALREADY_EXISTS when the profile's phone or card number would clash (login_clashes)."""
    phones = [profile.phone] if profile.phone else []
    cards = [profile.party_card_number] if profile.party_card_number else []
    if not phones and not cards:
        return
    lock(conn, LOGINS_LOCK)  # no other writer gives the same number until this transaction ends
    bad_phones, bad_cards = login_clashes(conn, phones, cards, [member_id] if member_id else [])
    if bad_cards:
        raise AlreadyExists(*CARD_UNAVAILABLE, field="party_card_number")
    if bad_phones:
        raise AlreadyExists(*PHONE_UNAVAILABLE, field="phone")


def create(conn: Connection, unit_id: str, profile: Profile, password_hash: str | None = None) -> Row[Any]:
    profile = validate(profile, creating=True)
    unit = units.get(conn, unit_id)
    if not unit.active:
        raise FailedPrecondition("unit_inactive", "cannot add a member to an inactive unit")
    check_logins(conn, profile)
    member_id = insert(conn, unit.id, profile, time.time())
    conn.execute(
        sa.text(ACCOUNT_INSERT_SQL), {"id": new_id(), "m": member_id, "h": password_hash, "t": time.time()}
    )
    sync_position_role(conn, member_id)
    row = get(conn, member_id)
    emit(conn, member_id, MemberCreated(**facts(row)))
    return row


def facts(row: Any) -> dict[str, Any]:
    """What the member events carry about a member (the fields of the `Member` message): the reports'
    membership figures (unit, status, gender, exemption, active), nothing more of the profile."""
    return {
        "member_id": row.id, "unit_id": row.unit_id, "status": row.status, "gender": row.gender,
        "exempt": bool(row.exempt), "active": bool(row.active),
    }


def insert(conn: Connection, unit_id: str, p: Profile, now: float) -> str:
    member_id = new_id()
    conn.execute(sa.text(INSERT_SQL), [row_params(member_id, unit_id, p, now)])
    return member_id


# A member's account: no username, active; `h` is the password hash or NULL until one is set.
ACCOUNT_INSERT_SQL = (
    "INSERT INTO accounts (id, username, member_id, password_hash, active, created_at) "
    "VALUES (:id, NULL, :m, :h, TRUE, :t)"
)

INSERT_SQL = (
    "INSERT INTO members (id, unit_id, full_name, name_folded, gender, birth_date, ethnicity, phone, "
    "email, party_card_number, joined_on, official_on, status, exempt, exempt_reason, exempt_since, "
    "position, active, created_at, updated_at) VALUES (:id, :unit_id, :full_name, :name_folded, "
    ":gender, :birth_date, :ethnicity, :phone, :email, :party_card_number, :joined_on, :official_on, "
    ":status, :exempt, :exempt_reason, :exempt_since, :position, TRUE, :now, :now)"
)


def row_params(member_id: str, unit_id: str, p: Profile, now: float) -> dict[str, Any]:
    return {
        "id": member_id, "unit_id": unit_id, "full_name": p.full_name, "name_folded": fold(p.full_name),
        "gender": p.gender, "birth_date": p.birth_date or None, "ethnicity": p.ethnicity or None,
        "phone": p.phone or None, "email": p.email or None,
        "party_card_number": p.party_card_number or None, "joined_on": p.joined_on or None,
        "official_on": p.official_on or None, "status": p.status, "exempt": bool(p.exempt),
        "exempt_reason": p.exempt_reason or None, "exempt_since": p.exempt_since or None,
        "position": p.position, "now": now,
    }


# What a profile may lose: optional facts (the name, card number, dates of joining and status stay).
CLEARABLE = ("phone", "email", "ethnicity", "birth_date")


def update(conn: Connection, member_id: str, profile: Profile, clear: Sequence[str] = ()) -> Row[Any]:
    """The given fields changed and the `clear` ones emptied (each one of CLEARABLE, not given too)."""
    current = get(conn, member_id)
    if not current.active:
        raise FailedPrecondition("member_inactive", "a deactivated member cannot be edited")
    changes = validate(profile, creating=False).given()
    for name in dict.fromkeys(clear):
        if name not in CLEARABLE:
            raise InvalidArgument("field_not_clearable", f"only {', '.join(CLEARABLE)} can be emptied",
                                  field="clear_fields")
        if name in changes:
            raise InvalidArgument("field_given_and_cleared", f"{name} is both given and cleared", field=name)
        if getattr(current, name) not in (None, ""):
            changes[name] = None
    if profile.exempt is False:
        changes.update(exempt=False, exempt_reason=None, exempt_since=None)
    elif changes.get("exempt") and not changes.get("exempt_since"):
        changes["exempt_since"] = dt.date.today().isoformat()
    if not changes:
        return current
    logins = Profile(party_card_number=changes.get("party_card_number") or "", phone=changes.get("phone") or "")
    check_logins(conn, logins, current.id)
    if "full_name" in changes:
        changes["name_folded"] = fold(changes["full_name"])
    sets = ", ".join(f"{k} = :{k}" for k in changes)
    conn.execute(
        sa.text(f"UPDATE members SET {sets}, updated_at = :now WHERE id = :id"),
        {**changes, "now": time.time(), "id": current.id},
    )
    if "position" in changes:
        sync_position_role(conn, current.id)
    row = get(conn, current.id)
    emit(conn, current.id, MemberUpdated(**facts(row), fields=sorted(changes)))
    return row


def transfer(conn: Connection, member_id: str, to_unit_id: str, reason: str, actor: str) -> Row[Any]:
    current = get(conn, member_id)
    target = units.get(conn, to_unit_id)
    if not current.active:
        raise FailedPrecondition("member_inactive", "a deactivated member cannot be transferred")
    if not target.active:
        raise FailedPrecondition("unit_inactive", "cannot transfer a member to an inactive unit")
    if target.id == current.unit_id:
        raise FailedPrecondition("same_unit", "the member is already in that unit")
    now = time.time()
    conn.execute(
        sa.text("UPDATE members SET unit_id = :u, position = 'member', updated_at = :t WHERE id = :id"),
        {"u": target.id, "t": now, "id": current.id},
    )
    conn.execute(
        sa.text(
            "INSERT INTO member_transfers (id, member_id, from_unit_id, to_unit_id, reason, actor_account_id, at) "
            "VALUES (:id, :m, :f, :to, :r, :a, :t)"
        ),
        {"id": new_id(), "m": current.id, "f": current.unit_id, "to": target.id, "r": reason[:500], "a": actor,
         "t": now},
    )
    sync_position_role(conn, current.id, revoke_cause="member_transferred")  # the token's units change
    row = get(conn, current.id)
    emit(conn, current.id, MemberTransferred(**facts(row), from_unit_id=current.unit_id, to_unit_id=target.id))
    return row


def deactivate(conn: Connection, member_id: str, reason: str) -> Row[Any]:
    current = get(conn, member_id)
    if not current.active:
        return current
    conn.execute(
        sa.text(
            "UPDATE members SET active = FALSE, deactivated_reason = :r, position = 'member', updated_at = :t "
            "WHERE id = :id"
        ),
        {"r": reason[:500] or None, "t": time.time(), "id": current.id},
    )
    conn.execute(sa.text("UPDATE accounts SET active = FALSE WHERE member_id = :id"), {"id": current.id})
    conn.execute(
        sa.text(
            "UPDATE refresh_tokens SET revoked_at = :t WHERE revoked_at IS NULL AND account_id IN "
            "(SELECT id FROM accounts WHERE member_id = :id)"
        ),
        {"t": time.time(), "id": current.id},
    )
    sync_position_role(conn, current.id, revoke_cause="member_deactivated")
    row = get(conn, current.id)
    emit(conn, current.id, MemberDeactivated(**facts(row)))
    return row


def sync_position_role(conn: Connection, member_id: str, revoke_cause: str = "") -> None:
    """The member's cell role follows their position and their cell. Losing a role (or a
    `revoke_cause`) revokes the account's access tokens."""
    row = conn.execute(
        sa.text("SELECT m.unit_id, m.position, m.active, a.id AS account_id FROM members m "
                "JOIN accounts a ON a.member_id = m.id WHERE m.id = :id"),
        {"id": member_id},
    ).first()
    if row is None:
        return
    held = conn.execute(
        sa.text("DELETE FROM role_grants WHERE account_id = :a AND role IN :roles RETURNING role, unit_id").bindparams(
            sa.bindparam("roles", expanding=True)
        ),
        {"a": row.account_id, "roles": list(POSITION_ROLES.values())},
    ).all()
    role = POSITION_ROLES.get(row.position)
    if role and row.active:
        conn.execute(
            sa.text(
                "INSERT INTO role_grants (id, account_id, role, unit_id, granted_by, granted_at) "
                "VALUES (:id, :a, :r, :u, NULL, :t)"
            ),
            {"id": new_id(), "a": row.account_id, "r": role, "u": row.unit_id, "t": time.time()},
        )
    lost = {(h.role, h.unit_id) for h in held} - ({(role, row.unit_id)} if role and row.active else set())
    if lost or revoke_cause:
        revocation.revoke_account(conn, row.account_id, revoke_cause or "role_lost")


def list_members(
    conn: Connection,
    unit: Row[Any],
    subtree: bool,
    include_inactive: bool,
    status: str,
    query: str,
    offset: int,
    limit: int,
) -> tuple[list[Row[Any]], int]:
    """A page of `unit`'s members (or its subtree's) by name, as ROSTER_COLUMNS, and how many
    match in all."""
    params: dict[str, Any] = {"off": offset, "lim": limit}
    if subtree:
        where = ["m.unit_id IN (SELECT id FROM units WHERE path >= :lo AND path < :hi)"]
        params.update(units.subtree_range(unit.path))
    else:
        where = ["m.unit_id = :unit"]
        params["unit"] = unit.id
    if not include_inactive:
        where.append("m.active")
    if status:
        where.append("m.status = :status")
        params["status"] = status
    if query.strip():
        where.append("m.name_folded LIKE :q")
        params["q"] = "%" + fold(query).replace("%", "").replace("_", "") + "%"
    clause = " AND ".join(where)
    # The count is an uncorrelated subquery (run once), not a window over every matching row.
    found = fetch(
        conn,
        f"SELECT {ROSTER_COLUMNS}, (SELECT COUNT(*) FROM members m WHERE {clause}) AS matched "
        f"FROM members m LEFT JOIN accounts a ON a.member_id = m.id "
        f"WHERE {clause} ORDER BY m.name_folded, m.id LIMIT :lim OFFSET :off",
        params,
    )
    if found:
        return found, int(found[0].matched)
    return found, int(fetch(conn, f"SELECT COUNT(*) FROM members m WHERE {clause}", params)[0][0])


TRANSFER_SELECT = (
    "SELECT t.member_id, t.from_unit_id, t.to_unit_id, t.reason, t.at, m.full_name AS member_name, "
    "fu.name AS from_unit_name, tu.name AS to_unit_name FROM member_transfers t JOIN members m ON m.id = t.member_id "
    "LEFT JOIN units fu ON fu.id = t.from_unit_id LEFT JOIN units tu ON tu.id = t.to_unit_id"
)


def transfers(conn: Connection, member_id: str, offset: int, limit: int) -> list[Row[Any]]:
    get(conn, member_id)
    return list(
        conn.execute(
            sa.text(f"{TRANSFER_SELECT} WHERE t.member_id = :m ORDER BY t.at DESC LIMIT :lim OFFSET :off"),
            {"m": member_id, "lim": limit, "off": offset},
        ).all()
    )


def unit_transfers(conn: Connection, unit_id: str, offset: int, limit: int) -> list[Row[Any]]:
    """Transfers into and out of the unit, newest first."""
    return list(
        conn.execute(
            sa.text(f"{TRANSFER_SELECT} WHERE t.from_unit_id = :u OR t.to_unit_id = :u "
                    "ORDER BY t.at DESC, t.id LIMIT :lim OFFSET :off"),
            {"u": unit_id, "lim": limit, "off": offset},
        ).all()
    )
