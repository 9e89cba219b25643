"""Resolution study (học tập Nghị quyết): members mark a document studied; a committee sees
who in its subtree has and has not, per unit. The roster comes from identity (ListRoster,
called with the caller's forwarded token, so identity checks the caller's role too)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.auth import Principal
from services.core.db import Database
from services.core.identity_client import IdentityClient
from services.documents import events, store

MAX_ROSTER = 50_000


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


def report(db: Database, units: IdentityClient, doc: store.Doc, chain: tuple[str, ...]) -> Report:
    roster = units.roster(chain[-1], subtree=True, limit=MAX_ROSTER)
    audience = set(doc.audience_unit_ids)
    whole = bool(audience & set(chain))  # addressed to the unit or above: every member is concerned
    concerned_units: dict[str, bool] = {}

    def concerned(unit_id: str) -> bool:
        if whole:
            return True
        if unit_id not in concerned_units:
            concerned_units[unit_id] = bool(audience & set(units.chain(unit_id)))
        return concerned_units[unit_id]

    with db.read() as conn:
        marks = {
            r.member_id: float(r.studied_at)
            for r in conn.execute(
                sa.text("SELECT member_id, studied_at FROM study_marks WHERE document_id = :d"), {"d": doc.id}
            )
        }
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
