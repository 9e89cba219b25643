"""What identity emits for the reports: member facts and coarse account activity (one event per
member and day, nothing finer), through the real identity service."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from services.core.days import day_of
from services.core.db import Database
from services.core.events import topic_of
from services.identity import activity, members, units
from services.identity.accounts import hash_password
from sotay.events.v1.identity_events_pb2 import AccountActive
from tests.support.identity import running_identity

ACTIVE = topic_of(AccountActive)


def events(db: Database, topic: str) -> list[dict[str, object]]:
    with db.read() as conn:
        rows = conn.execute(
            sa.text("SELECT payload FROM outbox WHERE topic = :t ORDER BY created_at"), {"t": topic}
        ).all()
    return [json.loads(r.payload) for r in rows]


def test_sign_ins_give_one_activity_event_a_day(database: Database) -> None:
    with running_identity(database) as identity:
        with database.write() as conn:
            cell = units.create(conn, "Chi bộ 1", "cell", identity.root_id).id
            member = members.create(
                conn, cell,
                members.Profile(full_name="Hà Thị Mai", gender="female", status="probationary",
                                party_card_number="LS1234"),
                hash_password("member-password-1"),
            )
        created = events(database, "identity.member.created")[-1]
        assert created == {"member_id": member.id, "unit_id": cell, "status": "probationary", "gender": "female",
                           "exempt": False, "active": True}
        identity.login("LS1234", "member-password-1")
        identity.login("LS1234", "member-password-1")  # the same day: nothing new
        today = day_of(time.time())
        assert events(database, ACTIVE) == [{"member_id": member.id, "day": today, "activated": True}]
        identity.login(*("root-admin", "root-admin-password"))  # an account without a member: not counted
        assert len(events(database, ACTIVE)) == 1
        with database.write() as conn:
            account = conn.execute(
                sa.text("SELECT id, member_id, activated_on, last_active_on FROM accounts WHERE member_id = :m"),
                {"m": member.id},
            ).one()
            assert (account.activated_on, account.last_active_on) == (today, today)
            activity.record(conn, account, time.time() + 86400)
            kept = conn.execute(
                sa.text("SELECT activated_on, last_active_on FROM accounts WHERE member_id = :m"), {"m": member.id}
            ).one()
        tomorrow = day_of(time.time() + 86400)
        assert (kept.activated_on, kept.last_active_on) == (today, tomorrow)
        assert events(database, ACTIVE)[-1] == {"member_id": member.id, "day": tomorrow, "activated": False}
        with database.write() as conn:
            members.update(conn, member.id, members.Profile(status="official"))
        assert events(database, "identity.member.updated")[-1]["status"] == "official"
