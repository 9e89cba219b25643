"""The delivery queue: one row per (item, member, channel) for Web Push and e-mail.

The in-app record (the bulletin or the notification) is written first and never depends on a
channel. Rows are created for the channels a member has switched on; a row waits out the
member's quiet hours; the worker (worker.py) sends it, retrying with exponential backoff, and
each row succeeds or fails on its own, so one failing channel never holds back another.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core.config import env
from services.core.errors import InvalidArgument
from services.core.ids import new_id

CHANNELS = ("webpush", "email")


@dataclass(frozen=True)
class Prefs:
    email_enabled: bool = False
    email: str = ""
    webpush_enabled: bool = True
    quiet_start: int = 0
    quiet_end: int = 0
    bulletins_by_channel: bool = True

    def channels(self) -> list[str]:
        out = []
        if self.webpush_enabled:
            out.append("webpush")
        if self.email_enabled and self.email:
            out.append("email")
        return out


def timezone() -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(env("NOTIFICATIONS_TIMEZONE", "Asia/Ho_Chi_Minh"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.timezone(dt.timedelta(hours=7))


def quiet_until(p: Prefs, now: float, tz: dt.tzinfo | None = None) -> float:
    """`now` when outside the member's quiet hours, else the moment they end."""
    if p.quiet_start == p.quiet_end:
        return now
    local = dt.datetime.fromtimestamp(now, tz or timezone())
    minute = local.hour * 60 + local.minute
    start, end = p.quiet_start, p.quiet_end
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return now
    wait = (end - minute) % 1440
    return (local.replace(second=0, microsecond=0) + dt.timedelta(minutes=wait)).timestamp()


def row_prefs(row: Row[Any] | None) -> Prefs:
    if row is None:
        return Prefs()
    return Prefs(
        bool(row.email_enabled),
        row.email or "",
        bool(row.webpush_enabled),
        int(row.quiet_start),
        int(row.quiet_end),
        bool(row.bulletins_by_channel),
    )


def get_prefs(conn: Connection, member_id: str) -> Prefs:
    return row_prefs(
        conn.execute(sa.text("SELECT * FROM preferences WHERE member_id = :m"), {"m": member_id}).first()
    )


def validate_prefs(p: Prefs) -> Prefs:
    email = p.email.strip().lower()
    if email and ("@" not in email or len(email) > 254 or any(c.isspace() for c in email)):
        raise InvalidArgument("invalid_email", "email is not an e-mail address", field="email")
    if p.email_enabled and not email:
        raise InvalidArgument("email_required", "e-mail delivery needs an address", field="email")
    for name, value in (("quiet_start_minute", p.quiet_start), ("quiet_end_minute", p.quiet_end)):
        if not 0 <= value < 1440:
            raise InvalidArgument(
                "invalid_quiet_hours", f"{name} is minutes after midnight (0-1439)", field=name
            )
    return Prefs(
        p.email_enabled, email, p.webpush_enabled, p.quiet_start, p.quiet_end, p.bulletins_by_channel
    )


def save_prefs(conn: Connection, member_id: str, p: Prefs) -> Prefs:
    p = validate_prefs(p)
    values = {
        "m": member_id,
        "ee": p.email_enabled,
        "e": p.email or None,
        "we": p.webpush_enabled,
        "qs": p.quiet_start,
        "qe": p.quiet_end,
        "bc": p.bulletins_by_channel,
        "t": time.time(),
    }
    updated = conn.execute(
        sa.text(
            "UPDATE preferences SET email_enabled = :ee, email = :e, webpush_enabled = :we, "
            "quiet_start = :qs, quiet_end = :qe, bulletins_by_channel = :bc, updated_at = :t "
            "WHERE member_id = :m"
        ),
        values,
    ).rowcount
    if not updated:
        conn.execute(
            sa.text(
                "INSERT INTO preferences (member_id, email_enabled, email, webpush_enabled, quiet_start, "
                "quiet_end, bulletins_by_channel, updated_at) VALUES (:m, :ee, :e, :we, :qs, :qe, :bc, :t)"
            ),
            values,
        )
    return p


def add(conn: Connection, item_type: str, item_id: str, member_id: str, p: Prefs, now: float) -> int:
    due = quiet_until(p, now)
    added = 0
    for channel in p.channels():
        if (
            channel == "webpush"
            and not conn.execute(
                sa.text("SELECT 1 FROM push_subscriptions WHERE member_id = :m LIMIT 1"), {"m": member_id}
            ).first()
        ):
            continue
        added += conn.execute(
            sa.text(
                "INSERT INTO deliveries (id, item_type, item_id, member_id, channel, status, attempts, "
                "next_attempt_at, created_at) VALUES (:id, :type, :item, :m, :ch, 'pending', 0, :due, :now) "
                "ON CONFLICT DO NOTHING"
            ),
            {
                "id": new_id(),
                "type": item_type,
                "item": item_id,
                "m": member_id,
                "ch": channel,
                "due": due,
                "now": now,
            },
        ).rowcount
    return added


def enqueue_personal(conn: Connection, notification_id: str, member_id: str, now: float) -> int:
    return add(conn, "notification", notification_id, member_id, get_prefs(conn, member_id), now)


def fan_out_page(
    conn: Connection, bulletin_id: str, audience: list[str], after: str, now: float, limit: int
) -> tuple[str, int, int]:
    """Queue channel deliveries of a bulletin for the next `limit` members of its audience (by member
    id, after `after`) who want them: (the last member id of the page, rows added, members read).
    One page per transaction keeps memory and the transaction bounded whatever the audience; a
    page read again after a crash adds nothing twice (UNIQUE (item_id, member_id, channel))."""
    if not audience:
        return after, 0, 0
    page = conn.execute(
        sa.text(
            "SELECT DISTINCT p.* FROM member_units mu JOIN preferences p ON p.member_id = mu.member_id "
            "WHERE mu.unit_id IN :units AND mu.member_id > :after AND p.bulletins_by_channel "
            "AND (p.webpush_enabled OR p.email_enabled) ORDER BY p.member_id LIMIT :n"
        ).bindparams(sa.bindparam("units", expanding=True)),
        {"units": audience, "after": after, "n": limit},
    ).all()
    if not page:
        return after, 0, 0
    pushing = set(
        conn.execute(
            sa.text("SELECT DISTINCT member_id FROM push_subscriptions WHERE member_id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": [r.member_id for r in page if r.webpush_enabled]},
        ).scalars()
    ) if any(r.webpush_enabled for r in page) else set()
    rows = []
    for row in page:
        prefs = row_prefs(row)
        due = quiet_until(prefs, now)
        for channel in prefs.channels():
            if channel == "webpush" and row.member_id not in pushing:
                continue
            rows.append({"id": new_id(), "type": "bulletin", "item": bulletin_id, "m": row.member_id,
                         "ch": channel, "due": due, "now": now})
    added = 0
    if rows:
        added = conn.execute(
            sa.text(
                "INSERT INTO deliveries (id, item_type, item_id, member_id, channel, status, attempts, "
                "next_attempt_at, created_at) VALUES (:id, :type, :item, :m, :ch, 'pending', 0, :due, :now) "
                "ON CONFLICT DO NOTHING"
            ),
            rows,
        ).rowcount
    return str(page[-1].member_id), max(added, 0), len(page)
