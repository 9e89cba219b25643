"""Each member's inbox, computed when it is read (fan-out on read).

The inbox of a member is
  - every bulletin with an audience unit among the member's unit and its ancestors (the `anc`
    claim of their access token), published (publish_at <= now), not expired, not withdrawn;
  - plus their personal notifications (rows keyed by member id, made from events).
Publishing to a whole province writes nothing per member: one bulletin row, one audience row per
addressed unit. Read state is a row written when a member reads.

A page is assembled in Python (`page`): the visible bulletins of the member's ancestry come from
services/notifications/visible.py (kept in memory per unit and ancestry, exact against the
bulletin change counter), merged with the member's personal items and read state, which are read
from the database on every page — usually in one statement, never with a COUNT over more than the
member's own notifications. The HISTORY filter stays one SQL query (it follows read rows).

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
import heapq
import itertools
import json
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core.auth import Principal
from services.core.db import Database
from services.core.errors import InvalidArgument, NotFound
from services.core.ids import require_id
from services.core.outbox import emit
from services.core.timestamps import timestamp
from services.notifications.convert import inbox_item
from services.notifications.units import member_of, path_ids
from services.notifications.visible import VERSION_SQL as _VERSION_SQL
from services.notifications.visible import Entry, Key, VisibleBulletins, sort_key
from sotay.events.v1.notifications_events_pb2 import BulletinRead
from sotay.notifications.v1 import notifications_pb2 as pb

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


_PERSONAL_COUNT = "SELECT COUNT(*) FROM notifications WHERE member_id = :m"
PERSONAL_PAGE = sa.text(PERSONAL_ITEMS + " ORDER BY n.created_at DESC, n.id LIMIT :k")
PERSONAL_PAGE_UNREAD = sa.text(PERSONAL_ITEMS + " AND n.read_at IS NULL ORDER BY n.created_at DESC, n.id LIMIT :k")
MEMBER_READS = sa.text("SELECT bulletin_id, read_at FROM bulletin_reads WHERE member_id = :m")
_statements: dict[tuple[str, int], sa.TextClause] = {}


def _reads_of(n: int) -> str:
    listed = ", ".join(f":b{i}" for i in range(n))
    return f"SELECT bulletin_id, read_at FROM bulletin_reads WHERE member_id = :m AND bulletin_id IN ({listed})"


def _head(unread_only: bool, candidates: int) -> sa.TextClause:
    """One statement: the bulletin change counter and the member's personal count (first row,
    bulletin_id ''), then the member's read rows among `candidates` bulletin ids (:b0, :b1, ...).
    Kept per shape: numbered parameters compile once, where an expanding IN would each time."""
    key = ("head-unread" if unread_only else "head", candidates)
    found = _statements.get(key)
    if found is None:
        count = _PERSONAL_COUNT + (" AND read_at IS NULL" if unread_only else "")
        sql = (
            "SELECT '' AS bulletin_id, CAST(NULL AS DOUBLE PRECISION) AS read_at, "
            f"({_VERSION_SQL}) AS version, ({count}) AS personal"
        )
        if candidates:
            sql += " UNION ALL " + _reads_of(candidates).replace(
                "SELECT bulletin_id, read_at ", "SELECT bulletin_id, read_at, NULL, NULL ", 1
            )
        found = _statements[key] = sa.text(sql)
    return found


def _page_reads(conn: Connection, member_id: str, ids: list[str]) -> dict[str, float]:
    key = ("reads", len(ids))
    statement = _statements.get(key)
    if statement is None:
        statement = _statements[key] = sa.text(_reads_of(len(ids)))
    rows = conn.execute(statement, {"m": member_id, **{f"b{i}": b for i, b in enumerate(ids)}})
    return {r.bulletin_id: r.read_at for r in rows}


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
    """The HISTORY filter (bulletins the member has read, newest read first), in SQL: it follows
    the member's read rows, not their current ancestry. The other filters: `page`."""
    params = _params(principal, now)
    sql = BULLETIN_ITEMS.replace("LEFT JOIN", "JOIN") + "WHERE b.withdrawn_at IS NULL"
    found = conn.execute(
        _bind(f"SELECT t.*, COUNT(*) OVER () AS total FROM ({sql}) t "
              "ORDER BY read_at DESC, id LIMIT :lim OFFSET :off"),
        {**params, "lim": limit, "off": offset},
    ).all()
    if found:
        return list(found), int(found[0].total)
    total = conn.execute(_bind(f"SELECT COUNT(*) FROM ({sql}) t"), params).scalar_one()
    return [], int(total)


def page(
    conn: Connection,
    cache: VisibleBulletins,
    principal: Principal,
    flt: str,
    offset: int,
    limit: int,
    now: float,
) -> tuple[list[pb.InboxItem], int]:
    """A page of the ALL, UNREAD, BULLETINS or PERSONAL inbox: the visible bulletins from the
    cache (checked against the change counter), the member's read state and personal items from
    the database, usually in one or two statements. The first reads the counter, the personal
    count and the member's read state of the bulletins that can reach the page if the kept list
    is current (its first offset+limit); a second fetches the personal items that can reach the
    page, when there are any. Only when the kept list was stale is the page's read state read
    again. UNREAD reads the member's read bulletins instead (an index range)."""
    member_id, _ = member_of(principal)
    unread_only = flt == "unread"
    with_bulletins = flt != "personal"
    guess = cache.peek(principal.ancestors) if with_bulletins and not unread_only else None
    candidates = [e.id for e in guess.entries[: offset + limit]] if guess is not None else []
    rows = conn.execute(
        _head(unread_only, len(candidates)), {"m": member_id, **{f"b{i}": b for i, b in enumerate(candidates)}}
    ).all()
    head = rows[0]
    read: dict[str, float] = {r.bulletin_id: r.read_at for r in rows[1:]}
    personal: list[Row[Any]] = []
    personal_total = 0
    if flt != "bulletins":
        personal_total = int(head.personal)
        if personal_total:
            personal = list(
                conn.execute(PERSONAL_PAGE_UNREAD if unread_only else PERSONAL_PAGE,
                             {"m": member_id, "k": offset + limit}).all()
            )
    entries: Sequence[Entry] = ()
    current = None
    if with_bulletins:
        current = cache.for_chain(conn, principal.ancestors, int(head.version or 0), now)
        entries = current.entries
        if unread_only:
            read = {r.bulletin_id: r.read_at for r in conn.execute(MEMBER_READS, {"m": member_id})}
            entries = [e for e in entries if e.id not in read]
    ranked: list[tuple[Key, Row[Any]]] = sorted(
        ((sort_key(False, r.at, r.id), r) for r in personal), key=lambda pair: pair[0]
    )
    merged: Iterator[tuple[Key, Entry | Row[Any]]] = heapq.merge(
        ((e.key, e) for e in entries), ranked, key=lambda pair: pair[0]
    )
    chosen = [x for _, x in itertools.islice(merged, offset, offset + limit)]
    wanted = [x.id for x in chosen if isinstance(x, Entry)]
    if wanted and not unread_only and current is not guess:  # the guess was stale: read again
        read = _page_reads(conn, member_id, wanted)
    items = []
    for x in chosen:
        if isinstance(x, Entry):
            item = pb.InboxItem()
            item.CopyFrom(x.item)
            at = read.get(x.id)
            if at is not None:
                item.read_at.CopyFrom(timestamp(at))
            items.append(item)
        else:
            items.append(inbox_item(x))
    return items, len(entries) + personal_total


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
    read: list[str] = []
    for raw in ids:
        bid = require_id(raw, "bulletin_ids", "bulletin")
        if read_at(conn, member_id, bid) is not None:
            continue
        if not visible(conn, principal, bid, now):
            raise NotFound("bulletin_not_found", f"bulletin {raw} is not in your inbox", bulletin_id=raw)
        if conn.execute(
            sa.text(
                "INSERT INTO bulletin_reads (bulletin_id, member_id, unit_path, read_at) "
                "VALUES (:b, :m, :p, :now) ON CONFLICT DO NOTHING"
            ),
            {"b": bid, "m": member_id, "p": path, "now": now},
        ).rowcount:
            read.append(bid)
    if read:
        bump(conn, member_id)
        emit_read(conn, member_id, read, now)
    return len(read)


def emit_read(conn: Connection, member_id: str, bulletin_ids: list[str], now: float) -> None:
    """For the reports' read rates (issue 15): which bulletins a member read, once each."""
    emit(conn, member_id, BulletinRead(member_id=member_id, bulletin_ids=bulletin_ids, at=now))


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
    read = list(conn.execute(
        _bind(
            "INSERT INTO bulletin_reads (bulletin_id, member_id, unit_path, read_at) "
            f"SELECT b.id, :m, :p, :now FROM bulletins b WHERE {VISIBLE} AND NOT EXISTS "
            "(SELECT 1 FROM bulletin_reads r WHERE r.bulletin_id = b.id AND r.member_id = :m) RETURNING bulletin_id"
        ),
        {**params, "p": path},
    ).scalars())
    if read:
        emit_read(conn, params["m"], read, now)
    marked = len(read) + conn.execute(
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
