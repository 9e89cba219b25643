"""Read receipts of a bulletin, per unit: counts for a unit and each child unit (members from
identity's CountMembers, reads from this service), and who has and has not read among the unit's
own members (identity's ListRoster). Identity is called with the caller's forwarded token, so it
decides again who may see counts and names (officers, editors, admins over the unit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.db import Database
from services.core.identity_client import IdentityClient, UnitInfo
from services.notifications.units import subtree_range

MAX_ROSTER = 20_000


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


def reads_per_unit(conn: Connection, bulletin_id: str, paths: dict[str, str]) -> dict[str, int]:
    """Reads by members who were in each unit's subtree when they read ({key: unit path}): one
    statement of index range counts over (bulletin_id, unit_path), which count index entries
    without grouping the province's ~100k read rows by child."""
    counts: dict[str, int] = {}
    items = list(paths.items())
    for start in range(0, len(items), 200):
        chunk = items[start : start + 200]
        params: dict[str, Any] = {"b": bulletin_id}
        parts = []
        for i, (key, path) in enumerate(chunk):
            bounds = subtree_range(path)
            params.update({f"k{i}": key, f"lo{i}": bounds["lo"], f"hi{i}": bounds["hi"]})
            parts.append(
                f"SELECT :k{i} AS k, COUNT(*) AS n FROM bulletin_reads "
                f"WHERE bulletin_id = :b AND unit_path >= :lo{i} AND unit_path < :hi{i}"
            )
        counts.update({str(r.k): int(r.n) for r in conn.execute(sa.text(" UNION ALL ".join(parts)), params)})
    return counts


def unit_counts(
    db: Database, identity: IdentityClient, bulletin_id: str, unit: UnitInfo
) -> tuple[UnitCount, list[UnitCount]]:
    """The unit's counts and each child's: two identity calls (children's names; every count in
    one grouped query there) and two statements here, however many children there are."""
    children = identity.child_units(unit.id)
    own_members, members = identity.member_counts(unit.id)
    with db.read() as conn:
        reads = reads_per_unit(conn, bulletin_id, {c.id: c.path for c in children})
        own_reads = int(conn.execute(
            sa.text("SELECT COUNT(*) FROM bulletin_reads WHERE bulletin_id = :b AND unit_path = :p"),
            {"b": bulletin_id, "p": unit.path},
        ).scalar_one())
    counts = [UnitCount(c, members.get(c.id, 0), reads.get(c.id, 0)) for c in children]
    here = UnitCount(  # the sum of the rows shown, so the table adds up
        unit, own_members + sum(c.members for c in counts), own_reads + sum(c.read for c in counts)
    )
    return here, counts


def member_reads(db: Database, identity: IdentityClient, bulletin_id: str, unit_id: str) -> list[MemberRead]:
    roster = identity.roster(unit_id, limit=MAX_ROSTER)
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
