"""Coarse account activity, for the reports' adoption figures (issue 15).

Personal data (Decree 13/2023/NĐ-CP): identity keeps, per member account, only two dates — the
day the account was first used (activated) and the last day it signed in or refreshed a session —
in Vietnam's calendar. No time of day, no count, no device, no address. A new day's first sign-in
emits `identity.account.active` {member_id, day, activated}; the reports service keeps from it
which days of a month a member was active (a 31-bit mask per member and month), so "active in a
period" can be answered, and nothing finer.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.days import day_of
from services.core.outbox import emit
from sotay.events.v1.identity_events_pb2 import AccountActive


def record(conn: Connection, account: Any, now: float) -> None:
    """Called when the account signs in or refreshes: at most one write and one event a day."""
    member_id = getattr(account, "member_id", None)
    if not member_id:
        return  # an administrator's account without a member: not a member's adoption
    day = day_of(now)
    updated = conn.execute(
        sa.text(
            "UPDATE accounts SET last_active_on = :d, activated_on = COALESCE(activated_on, :d) "
            "WHERE id = :id AND (last_active_on IS NULL OR last_active_on <> :d)"
        ),
        {"d": day, "id": account.id},
    ).rowcount
    if updated:
        first = getattr(account, "activated_on", None) is None
        emit(conn, member_id, AccountActive(member_id=member_id, day=day, activated=first))
