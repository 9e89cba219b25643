"""`python -m services.identity report-facts`: identity's facts for the reports' backfill
(docs/reports.md) — units (parents first), members (unit, status, gender, exemption, active)
and each member account's two activity dates. Same shapes as the events they stand for."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.db import Database
from services.core.facts import emit_batches
from services.identity.members import facts
from sotay.events.v1.identity_events_pb2 import (
    AccountActivity,
    ActivityFacts,
    Member,
    MemberFacts,
    Unit,
    UnitFacts,
)


def _unit(conn: Connection, row: Any) -> Unit:
    return Unit(unit_id=row.id, parent_id=row.parent_id, kind=row.kind, name=row.name, active=bool(row.active))


def _member(conn: Connection, row: Any) -> Member:
    return Member(**facts(row))


def _activity(conn: Connection, row: Any) -> AccountActivity:
    return AccountActivity(member_id=row.member_id, activated_on=row.activated_on, last_active_on=row.last_active_on)


def run(db: Database, stop: threading.Event) -> None:
    with db.read() as conn:
        depth = int(conn.execute(sa.text("SELECT COALESCE(MAX(depth), 0) FROM units")).scalar_one())
    for level in range(depth + 1):  # a unit's parent is in an earlier event
        emit_batches(db, UnitFacts,
                     "SELECT id, parent_id, kind, name, active FROM units WHERE depth = :d AND id > :after "
                     "ORDER BY id LIMIT :n", _unit, {"d": level}, lock="units")
    emit_batches(db, MemberFacts,
                 "SELECT id, unit_id, status, gender, exempt, active FROM members WHERE id > :after "
                 "ORDER BY id LIMIT :n", _member, batch=1000, lock="members")
    emit_batches(db, ActivityFacts,
                 "SELECT a.member_id AS member_id, a.activated_on, a.last_active_on, a.member_id AS id "
                 "FROM accounts a WHERE a.member_id IS NOT NULL AND a.activated_on IS NOT NULL "
                 "AND a.member_id > :after ORDER BY a.member_id LIMIT :n", _activity, batch=1000, lock="a")
