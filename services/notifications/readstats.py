"""Read receipts of a bulletin, per unit: counts for a unit and each child unit (members from
identity's roster, reads from this service), and who has and has not read among the unit's own
members. Identity's ListRoster is called with the caller's forwarded token, so identity decides
again who may see names (officers, editors, admins over the unit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.db import Database
from services.notifications.units import IdentityClient, UnitInfo, subtree_range


@dataclass(frozen=True)
class UnitCount:
    unit: UnitInfo
    members: int
    read: int


@dataclass(frozen=True)
class MemberRead:
    member_id: str
    full_name: str
    unit_id: str
    read_at: float | None


def count_reads(conn: Connection, bulletin_id: str, unit_path: str) -> int:
    """Reads by members who were in the unit's subtree when they read (one index range count)."""
    return int(
        conn.execute(
            sa.text(
                "SELECT COUNT(*) FROM bulletin_reads "
                "WHERE bulletin_id = :b AND unit_path >= :lo AND unit_path < :hi"
            ),
            {"b": bulletin_id, **subtree_range(unit_path)},
        ).scalar_one()
    )


def unit_counts(
    db: Database, identity: IdentityClient, bulletin_id: str, unit: UnitInfo, own_members: int
) -> tuple[UnitCount, list[UnitCount]]:
    """The unit's counts are its own members' plus its children's, so the biggest subtree (the
    province) is never counted in one go."""
    children = identity.children(unit.id)
    totals = identity.parallel(identity.member_count, [c.id for c in children])
    with db.read() as conn:
        reads = [count_reads(conn, bulletin_id, c.path) for c in children]
        own_reads = int(conn.execute(
            sa.text("SELECT COUNT(*) FROM bulletin_reads WHERE bulletin_id = :b AND unit_path = :p"),
            {"b": bulletin_id, "p": unit.path},
        ).scalar_one())
    here = UnitCount(unit, own_members + sum(totals), own_reads + sum(reads))
    return here, [UnitCount(c, t, r) for c, t, r in zip(children, totals, reads, strict=True)]


def member_reads(db: Database, identity: IdentityClient, bulletin_id: str, unit_id: str) -> list[MemberRead]:
    roster = identity.roster(unit_id)
    ids = [e.member_id for e in roster]
    read: dict[str, float] = {}
    with db.read() as conn:
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            rows: Any = conn.execute(
                sa.text(
                    "SELECT member_id, read_at FROM bulletin_reads "
                    "WHERE bulletin_id = :b AND member_id IN :ids"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"b": bulletin_id, "ids": chunk},
            )
            read.update({r.member_id: r.read_at for r in rows})
    return [MemberRead(e.member_id, e.full_name, e.unit_id, read.get(e.member_id)) for e in roster]
