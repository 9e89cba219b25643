"""Resolution study (học tập Nghị quyết): members mark a document studied; a committee sees
who in its subtree has and has not, per unit. The roster comes from identity (ListRoster,
called with the caller's forwarded token, so identity checks the caller's role too).

A subtree of more members than are listed by name (a province: 240,000) is reported per direct
child unit instead (`by_child`): members from identity's CountMembers, studied from the marks
grouped by the unit they were made in; each child's own report names its members."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.auth import Principal
from services.core.config import env_int
from services.core.db import Database
from services.core.errors import FailedPrecondition
from services.core.identity_client import IdentityClient
from services.documents import events, store

MARKS_BATCH = 1000  # member ids per lookup of their marks (the primary key's second column)


def names_max() -> int:
    """The most members a report lists by name (its roster is read whole from identity)."""
    return env_int("DOCUMENTS_STUDY_NAMES_MAX", 50_000)


def studied(conn: Connection, document_id: str, me: Principal) -> bool:
    if not me.member_id:
        return False
    return (
        conn.execute(
            sa.text("SELECT 1 FROM study_marks WHERE document_id = :d AND member_id = :m"),
            {"d": document_id, "m": me.member_id},
        ).first()
        is not None
    )


def mark(conn: Connection, document_id: str, me: Principal) -> float:
    """Record once; a repeat returns the first time."""
    row = conn.execute(
        sa.text("SELECT studied_at FROM study_marks WHERE document_id = :d AND member_id = :m"),
        {"d": document_id, "m": me.member_id},
    ).first()
    if row is not None:
        return float(row.studied_at)
    now = time.time()
    conn.execute(
        sa.text(
            "INSERT INTO study_marks (document_id, member_id, account_id, unit_id, studied_at) "
            "VALUES (:d, :m, :a, :u, :t)"
        ),
        {"d": document_id, "m": me.member_id, "a": me.account_id, "u": me.unit_id, "t": now},
    )
    events.emit_studied(conn, document_id, me.member_id, me.unit_id, now)
    return now


@dataclass
class Entry:
    member_id: str
    full_name: str
    unit_id: str
    studied: bool
    studied_at: float | None


@dataclass
class Report:
    entries: list[Entry] = field(default_factory=list)
    units: dict[str, tuple[int, int]] = field(default_factory=dict)  # unit -> (members, studied)
    by_child: bool = False  # units are the direct children's subtrees; no entries

    @property
    def members(self) -> int:
        return sum(m for m, _ in self.units.values())

    @property
    def studied(self) -> int:
        return sum(s for _, s in self.units.values())


def report(db: Database, units: IdentityClient, doc: store.Doc, chain: tuple[str, ...]) -> Report:
    """By name when the subtree is small enough (a cell always is), else per child unit."""
    if not units.unit(chain[-1]).is_cell:
        own, children = units.member_counts(chain[-1])
        if own + sum(children.values()) > names_max():
            return by_child(db, units, doc, chain, own, children)
    return by_name(db, units, doc, chain)


def by_child(
    db: Database, units: IdentityClient, doc: store.Doc, chain: tuple[str, ...], own: int, children: dict[str, int]
) -> Report:
    """Per direct child's subtree: for a document addressed to the unit or above (every member concerned)."""
    unit_id = chain[-1]
    if not set(doc.audience_unit_ids) & set(chain):
        raise FailedPrecondition(
            "study_unit_too_large",
            f"more than {names_max()} members under this unit, and the document is addressed to part of it: "
            "open one of its units",
            unit_id=unit_id,
        )
    child_of = {u.id: u.chain[len(chain)] for u in units.child_units(unit_id, subtree=True)}
    child_of[unit_id] = unit_id  # the unit's own members
    studied: dict[str, int] = {}
    with db.read() as conn:
        for row in conn.execute(
            sa.text("SELECT unit_id, COUNT(*) AS n FROM study_marks WHERE document_id = :d GROUP BY unit_id"),
            {"d": doc.id},
        ):
            key = child_of.get(row.unit_id)
            if key is not None:
                studied[key] = studied.get(key, 0) + int(row.n)
    members = {**children, unit_id: own}
    # A member who studied and then left (or moved within) is not among the members now: at most all.
    return Report(units={u: (n, min(studied.get(u, 0), n)) for u, n in members.items() if n}, by_child=True)


def by_name(db: Database, units: IdentityClient, doc: store.Doc, chain: tuple[str, ...]) -> Report:
    roster = units.roster(chain[-1], subtree=True, limit=names_max())
    audience = set(doc.audience_unit_ids)
    whole = bool(audience & set(chain))  # addressed to the unit or above: every member is concerned
    concerned_units: dict[str, bool] = {}

    def concerned(unit_id: str) -> bool:
        if whole:
            return True
        if unit_id not in concerned_units:
            concerned_units[unit_id] = bool(audience & set(units.chain(unit_id)))
        return concerned_units[unit_id]

    marks: dict[str, float] = {}
    ids = [e.member_id for e in roster]
    with db.read() as conn:  # the roster's marks only: a cell's report does not read a province's
        for start in range(0, len(ids), MARKS_BATCH):
            marks.update((r.member_id, float(r.studied_at)) for r in conn.execute(
                sa.text("SELECT member_id, studied_at FROM study_marks WHERE document_id = :d AND member_id IN :m")
                .bindparams(sa.bindparam("m", expanding=True)), {"d": doc.id, "m": ids[start:start + MARKS_BATCH]}))
    out = Report()
    for entry in roster:
        if not concerned(entry.unit_id):
            continue
        at = marks.get(entry.member_id)
        out.entries.append(Entry(entry.member_id, entry.full_name, entry.unit_id, at is not None, at))
        members, done = out.units.get(entry.unit_id, (0, 0))
        out.units[entry.unit_id] = (members + 1, done + int(at is not None))
    out.entries.sort(key=lambda e: (e.unit_id, e.full_name, e.member_id))
    return out
