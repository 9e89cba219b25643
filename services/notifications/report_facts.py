"""`python -m services.notifications report-facts`: the notifications' facts for the reports'
backfill (docs/reports.md) — feedback (received, answered, each escalation), bulletins (publisher,
kind, audience, withdrawn) and each member's read bulletins."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.db import Database
from services.core.facts import emit_batches
from sotay.events.v1.notifications_events_pb2 import (
    Bulletin,
    BulletinFacts,
    BulletinRead,
    Escalation,
    Feedback,
    FeedbackFacts,
    ReadFacts,
)


def _feedback(conn: Connection, row: Any) -> Feedback:
    holder, escalations = row.target_unit_id, []
    for step in conn.execute(
        sa.text("SELECT unit_id, at FROM feedback_events WHERE feedback_id = :f AND action = 'escalated' "
                "ORDER BY at, id"), {"f": row.id},
    ):
        escalations.append(Escalation(from_unit_id=holder, at=step.at))
        holder = step.unit_id
    return Feedback(feedback_id=row.id, unit_id=row.target_unit_id, at=row.created_at, answered_at=row.answered_at,
                    answered_by_unit_id=row.unit_id, escalations=escalations)


def _bulletin(conn: Connection, row: Any) -> Bulletin:
    audience = conn.execute(sa.text("SELECT unit_id FROM bulletin_audience WHERE bulletin_id = :b"), {"b": row.id})
    return Bulletin(bulletin_id=row.id, publisher_unit_id=row.publisher_unit_id, kind=row.kind,
                    publish_at=row.publish_at, audience_unit_ids=list(audience.scalars()),
                    withdrawn=row.withdrawn_at is not None)


def _reads(conn: Connection, row: Any) -> BulletinRead:
    found = conn.execute(sa.text("SELECT bulletin_id FROM bulletin_reads WHERE member_id = :m"), {"m": row.id})
    return BulletinRead(member_id=row.id, bulletin_ids=list(found.scalars()))


def run(db: Database, stop: threading.Event) -> None:
    emit_batches(db, FeedbackFacts,
                 "SELECT id, target_unit_id, unit_id, created_at, answered_at FROM feedback WHERE id > :after "
                 "ORDER BY id LIMIT :n", _feedback, lock="feedback")
    emit_batches(db, BulletinFacts,
                 "SELECT id, publisher_unit_id, kind, publish_at, withdrawn_at FROM bulletins WHERE id > :after "
                 "ORDER BY id LIMIT :n", _bulletin, lock="bulletins")
    emit_batches(db, ReadFacts,
                 "SELECT DISTINCT member_id AS id FROM bulletin_reads WHERE member_id > :after "
                 "ORDER BY member_id LIMIT :n", _reads)
