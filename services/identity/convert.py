"""Database rows <-> identity protobuf messages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Row

from services.core.enums import enum_numbers, enum_str, str_enum
from services.core.timestamps import timestamp
from services.identity.members import Profile
from services.identity.units import path_ids
from sotay.identity.v1 import identity_pb2 as pb


def unit_msg(row: Row[Any]) -> pb.Unit:
    ids = path_ids(row.path)
    return pb.Unit(
        id=row.id,
        name=row.name,
        kind=str_enum(pb.UnitKind, row.kind, "UNIT_KIND_"),
        parent_id=row.parent_id or "",
        ancestor_ids=ids[:-1],
        depth=row.depth,
        active=bool(row.active),
        code=row.code or "",
        created_at=timestamp(row.created_at),
    )


def member_msg(row: Row[Any]) -> pb.Member:
    return pb.Member(
        id=row.id,
        unit_id=row.unit_id,
        full_name=row.full_name,
        gender=str_enum(pb.Gender, row.gender, "GENDER_"),
        birth_date=row.birth_date or "",
        ethnicity=row.ethnicity or "",
        phone=row.phone or "",
        email=row.email or "",
        party_card_number=row.party_card_number or "",
        joined_on=row.joined_on or "",
        official_on=row.official_on or "",
        status=str_enum(pb.MemberStatus, row.status, "MEMBER_STATUS_"),
        exempt=bool(row.exempt),
        exempt_reason=row.exempt_reason or "",
        exempt_since=row.exempt_since or "",
        position=str_enum(pb.CellPosition, row.position, "CELL_POSITION_"),
        active=bool(row.active),
        account_id=row.account_id or "",
        updated_at=timestamp(row.updated_at),
    )


_STATUSES: dict[Any, Any] = {None: 0, "": 0, **enum_numbers(pb.MemberStatus, "MEMBER_STATUS_")}
_POSITIONS: dict[Any, Any] = {None: 0, "": 0, **enum_numbers(pb.CellPosition, "CELL_POSITION_")}


def add_roster_entries(entries: Any, rows: Iterable[Any]) -> None:
    """Append members as listed (members.ROSTER_COLUMNS) to a repeated RosterEntry field: no
    personal data beyond the name (lists are not audited reads). `add` builds each entry in place;
    a list of messages passed to the constructor would be copied once more."""
    add = entries.add
    for row in rows:
        add(
            member_id=row.id,
            account_id=row.account_id or "",
            full_name=row.full_name,
            unit_id=row.unit_id,
            status=_STATUSES[row.status],
            exempt=bool(row.exempt),
            position=_POSITIONS[row.position],
            active=bool(row.active),
        )


def profile(fields: pb.MemberFields) -> Profile:
    return Profile(
        full_name=fields.full_name,
        gender=enum_str(pb.Gender, fields.gender, "GENDER_", "gender"),
        birth_date=fields.birth_date,
        ethnicity=fields.ethnicity,
        phone=fields.phone,
        email=fields.email,
        party_card_number=fields.party_card_number,
        joined_on=fields.joined_on,
        official_on=fields.official_on,
        status=enum_str(pb.MemberStatus, fields.status, "MEMBER_STATUS_", "status"),
        exempt=fields.exempt if fields.set_exempt else None,
        exempt_reason=fields.exempt_reason,
        exempt_since=fields.exempt_since,
        position=enum_str(pb.CellPosition, fields.position, "CELL_POSITION_", "position"),
    )


def grant_msg(row: Any) -> pb.RoleGrant:
    return pb.RoleGrant(
        id=row.id,
        account_id=row.account_id,
        role=str_enum(pb.Role, row.role, "ROLE_"),
        unit_id=row.unit_id,
        granted_at=timestamp(row.granted_at),
        holder_name=getattr(row, "holder_name", None) or "",
        unit_name=getattr(row, "unit_name", None) or "",
    )
