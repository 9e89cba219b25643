"""Each member's inbox, computed when it is read (fan-out on read).

The inbox of a member is
  - every bulletin with an audience unit among the member's unit and its ancestors (the `anc`
    claim of their access token), published (publish_at <= now), not expired, not withdrawn;
  - plus their personal notifications (rows keyed by member id, made from events).
Reading it is one indexed lookup of bulletin_audience per ancestor (≈ 5 units), so publishing to a
whole province writes nothing per member. Read state is a row written when a member reads.

A member who moves to another cell (identity TransferMember; their next token carries the new
ancestry) sees, from then on, what is addressed to the new cell's ancestry — including bulletins
published there before the move that are still in force, because those are the directives that
now apply to them. Bulletins of the old cell that they had not read are no longer theirs and are
not shown: the rule "content addressed to your unit or an ancestor" holds at every moment.
Bulletins they had read stay readable under the HISTORY filter (and by GetBulletin): they already
saw them, so nothing new is disclosed, and a member keeps the record of what they were told.
Bulletins addressed to common ancestors (the province) keep their read state across the move.
Personal notifications follow the member, wherever they are. Withdrawn bulletins vanish everywhere.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core.auth import Principal
from services.core.db import Database
from services.core.errors import InvalidArgument, NotFound
from services.core.ids import require_id
from services.notifications.units import member_of, path_ids

FILTERS = ("all", "unread", "bulletins", "personal", "history")

# Bulletins visible to a member with ancestors :anc at time :now.
VISIBLE = (
    "b.id IN (SELECT a.bulletin_id FROM bulletin_audience a "
    "WHERE a.unit_id IN :anc AND a.publish_at <= :now) "
    "AND b.withdrawn_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > :now)"
)
BULLETIN_ITEMS = (
    "SELECT 'bulletin' AS type, b.id, b.kind, b.title, SUBSTR(b.body_text, 1, 200) AS summary, "
    "b.publish_at AS at, r.read_at, b.pinned, b.publisher_unit_id, b.attachments AS link "
    "FROM bulletins b LEFT JOIN bulletin_reads r ON r.bulletin_id = b.id AND r.member_id = :m "
)
PERSONAL_ITEMS = (
    "SELECT 'notification' AS type, n.id, n.kind, n.title, SUBSTR(n.body, 1, 200) AS summary, "
    "n.created_at AS at, n.read_at, FALSE AS pinned, '' AS publisher_unit_id, n.link "
    "FROM notifications n WHERE n.member_id = :m"
)


def _params(principal: Principal, now: float) -> dict[str, Any]:
    member_id, _ = member_of(principal)
    return {"m": member_id, "anc": list(principal.ancestors), "now": now}


def _bind(sql: str) -> sa.TextClause:
    clause = sa.text(sql)
    if ":anc" in sql:
        clause = clause.bindparams(sa.bindparam("anc", expanding=True))
    return clause


def list_items(
    conn: Connection, principal: Principal, flt: str, offset: int, limit: int, now: float
) -> tuple[list[Row[Any]], int]:
    params = _params(principal, now)
    if flt == "history":
        sql = BULLETIN_ITEMS.replace("LEFT JOIN", "JOIN") + "WHERE b.withdrawn_at IS NULL"
        order = "read_at DESC, id"
    else:
        parts = []
        unread_b = " AND r.read_at IS NULL" if flt == "unread" else ""
        unread_n = " AND n.read_at IS NULL" if flt == "unread" else ""
        if flt != "personal":
            parts.append(BULLETIN_ITEMS + "WHERE " + VISIBLE + unread_b)
        if flt != "bulletins":
            parts.append(PERSONAL_ITEMS + unread_n)
        sql = " UNION ALL ".join(parts)
        order = "pinned DESC, at DESC, id"
    found = conn.execute(
        _bind(f"SELECT t.*, COUNT(*) OVER () AS total FROM ({sql}) t "
              f"ORDER BY {order} LIMIT :lim OFFSET :off"),
        {**params, "lim": limit, "off": offset},
    ).all()
    if found:
        return list(found), int(found[0].total)
    total = conn.execute(_bind(f"SELECT COUNT(*) FROM ({sql}) t"), params).scalar_one()
    return [], int(total)


def visible(conn: Connection, principal: Principal, bulletin_id: str, now: float) -> bool:
    params = _params(principal, now)
    return (
        conn.execute(
            _bind(f"SELECT 1 FROM bulletins b WHERE b.id = :b AND {VISIBLE}"),
            {**params, "b": bulletin_id},
        ).first()
        is not None
    )


def read_at(conn: Connection, member_id: str, bulletin_id: str) -> float | None:
    return conn.execute(
        sa.text("SELECT read_at FROM bulletin_reads WHERE bulletin_id = :b AND member_id = :m"),
        {"b": bulletin_id, "m": member_id},
    ).scalar()


def bump(conn: Connection, member_id: str) -> None:
    """Any change of a member's personal state changes their inbox version."""
    updated = conn.execute(
        sa.text("UPDATE member_state SET version = version + 1 WHERE member_id = :m"), {"m": member_id}
    ).rowcount
    if not updated:
        conn.execute(
            sa.text("INSERT INTO member_state (member_id, version) VALUES (:m, 1) ON CONFLICT DO NOTHING"),
            {"m": member_id},
        )


def mark_bulletins(conn: Connection, principal: Principal, ids: list[str], now: float) -> int:
    member_id, path = member_of(principal)
    marked = 0
    for raw in ids:
        bid = require_id(raw, "bulletin_ids", "bulletin")
        if read_at(conn, member_id, bid) is not None:
            continue
        if not visible(conn, principal, bid, now):
            raise NotFound("bulletin_not_found", f"bulletin {raw} is not in your inbox", bulletin_id=raw)
        marked += conn.execute(
            sa.text(
                "INSERT INTO bulletin_reads (bulletin_id, member_id, unit_path, read_at) "
                "VALUES (:b, :m, :p, :now) ON CONFLICT DO NOTHING"
            ),
            {"b": bid, "m": member_id, "p": path, "now": now},
        ).rowcount
    if marked:
        bump(conn, member_id)
    return marked


def mark_notifications(conn: Connection, principal: Principal, ids: list[str], now: float) -> int:
    member_id, _ = member_of(principal)
    marked = 0
    for raw in ids:
        nid = require_id(raw, "notification_ids", "notification")
        row = conn.execute(
            sa.text("SELECT member_id, read_at FROM notifications WHERE id = :id"), {"id": nid}
        ).first()
        if row is None or row.member_id != member_id:  # another member's: as if it did not exist
            raise NotFound(
                "notification_not_found", f"notification {raw} does not exist", notification_id=raw
            )
        if row.read_at is None:
            conn.execute(
                sa.text("UPDATE notifications SET read_at = :now WHERE id = :id"), {"now": now, "id": nid}
            )
            marked += 1
    if marked:
        bump(conn, member_id)
    return marked


def mark_all(conn: Connection, principal: Principal, now: float) -> int:
    params = _params(principal, now)
    _, path = member_of(principal)
    marked = conn.execute(
        _bind(
            "INSERT INTO bulletin_reads (bulletin_id, member_id, unit_path, read_at) "
            f"SELECT b.id, :m, :p, :now FROM bulletins b WHERE {VISIBLE} AND NOT EXISTS "
            "(SELECT 1 FROM bulletin_reads r WHERE r.bulletin_id = b.id AND r.member_id = :m)"
        ),
        {**params, "p": path},
    ).rowcount
    marked += conn.execute(
        sa.text("UPDATE notifications SET read_at = :now WHERE member_id = :m AND read_at IS NULL"), params
    ).rowcount
    if marked:
        bump(conn, params["m"])
    return int(marked)


def version(conn: Connection, principal: Principal, now: float) -> tuple[str, int, int]:
    """(version, unread bulletins, unread notifications): one aggregate over each source."""
    params = _params(principal, now)
    b = conn.execute(
        _bind(
            "SELECT COUNT(*) AS n, COALESCE(MAX(b.updated_at), 0) AS changed, "
            "COALESCE(MAX(b.publish_at), 0) AS newest, "
            "COALESCE(SUM(CASE WHEN r.read_at IS NULL THEN 1 ELSE 0 END), 0) AS unread "
            "FROM bulletins b LEFT JOIN bulletin_reads r ON r.bulletin_id = b.id AND r.member_id = :m "
            f"WHERE {VISIBLE}"
        ),
        params,
    ).one()
    n = conn.execute(
        sa.text(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN read_at IS NULL THEN 1 ELSE 0 END), 0) AS unread "
            "FROM notifications WHERE member_id = :m"
        ),
        params,
    ).one()
    state = (
        conn.execute(sa.text("SELECT version FROM member_state WHERE member_id = :m"), params).scalar() or 0
    )
    raw = json.dumps([b.n, b.changed, b.newest, int(b.unread), n.n, int(n.unread), state, params["anc"]])
    return hashlib.sha256(raw.encode()).hexdigest()[:20], int(b.unread), int(n.unread)


class MemberDirectory:
    """Remembers each member's unit ancestry (from their latest token) so the delivery worker
    can fan bulletins out to the channels of members it cannot see a token for. Touched on the
    calls that write anyway (marking read, preferences, push subscriptions), never on inbox reads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._known: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def touch(self, principal: Principal, recheck_seconds: float = 300.0) -> None:
        member_id, path = member_of(principal)
        seen = self._known.get(member_id)
        if seen is not None and seen[0] == path and time.monotonic() - seen[1] < recheck_seconds:
            return
        with self.db.read() as conn:
            stored = conn.execute(
                sa.text("SELECT unit_path FROM member_paths WHERE member_id = :m"), {"m": member_id}
            ).scalar()
        if stored != path:
            with self.db.write() as conn:
                record(conn, member_id, path)
        with self._lock:
            if len(self._known) > 100_000:
                self._known.clear()
            self._known[member_id] = (path, time.monotonic())


def record(conn: Connection, member_id: str, path: str) -> None:
    conn.execute(sa.text("DELETE FROM member_units WHERE member_id = :m"), {"m": member_id})
    conn.execute(sa.text("DELETE FROM member_paths WHERE member_id = :m"), {"m": member_id})
    if path:
        conn.execute(
            sa.text("INSERT INTO member_paths (member_id, unit_path, updated_at) VALUES (:m, :p, :t)"),
            {"m": member_id, "p": path, "t": time.time()},
        )
        conn.execute(
            sa.text("INSERT INTO member_units (member_id, unit_id) VALUES (:m, :u)"),
            [{"m": member_id, "u": u} for u in path_ids(path)],
        )


def forget(conn: Connection, member_id: str) -> None:
    """A member moved or left (identity event): no channel fan-out until they come back."""
    record(conn, member_id, "")


def check_filter(flt: str) -> str:
    if flt not in FILTERS:
        raise InvalidArgument("invalid_filter", "unknown inbox filter", field="filter")
    return flt
