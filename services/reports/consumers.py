"""The other services' events, applied to this service's read models (worker `consume`).

  identity       units (created, renamed, moved, deactivated); members (created, updated,
                 transferred, deactivated, imported: unit, status, gender, exemption, active);
                 account activity (`identity.account.active`: one event per member and day)
  meetings       `meetings.meeting.held`, `meetings.task.state`: the latest snapshot of each
  documents      documents published (publisher, category, day); study marks
  notifications  feedback received, answered, escalated; bulletins (created, withdrawn) and reads

`<source>.facts.*` events are the producers' snapshot of what they hold (`report-facts`, the
backfill of an installation upgraded from before the reports: docs/reports.md); they go through
the same upserts as the events they stand for.

Each event is applied once (EventConsumer), and every handler is an upsert or a set-once, so a
re-published fact changes nothing. Events of one source come in their log order (one consumer per
source: run one `consume` replica). An event this version cannot read is logged and skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.days import day_of
from services.core.db import Database
from services.core.outbox import Event, EventConsumer, Fetch, dispatch, run_consumers

TOPICS = {
    "identity": ["identity.unit.", "identity.member.", "identity.members.imported", "identity.account.active",
                 "identity.facts."],
    "meetings": ["meetings.meeting.held", "meetings.task.state", "meetings.facts."],
    "documents": ["documents.document.published", "documents.study.marked", "documents.facts."],
    "notifications": ["notifications.feedback.", "notifications.bulletin.", "notifications.facts."],
}


def _s(p: dict[str, Any], key: str) -> str:
    value = p.get(key)
    return "" if value is None else str(value)


def _required(p: dict[str, Any], key: str) -> str:
    value = _s(p, key)
    if not value:
        raise ValueError(f"{key} is missing")
    return value


def _run(conn: Connection, sql: str, params: dict[str, Any]) -> int:
    return int(conn.execute(sa.text(sql), params).rowcount)


# ---------- identity: units ----------


def _unit_created(conn: Connection, event: Event) -> None:
    p = event.payload
    uid = _required(p, "unit_id")
    parent = _s(p, "parent_id")
    if parent:
        parent_path = conn.execute(sa.text("SELECT path FROM units WHERE id = :id"), {"id": parent}).scalar()
        if parent_path is None:
            raise ValueError(f"parent unit {parent} is unknown")
    else:
        parent_path = "/"
    _run(
        conn,
        "INSERT INTO units (id, parent_id, path, name, kind, active) VALUES (:id, :p, :path, :n, :k, TRUE) "
        "ON CONFLICT (id) DO NOTHING",
        {"id": uid, "p": parent or None, "path": f"{parent_path}{uid}/", "n": _s(p, "name"), "k": _s(p, "kind")},
    )


def _unit_renamed(conn: Connection, event: Event) -> None:
    p = event.payload
    _run(conn, "UPDATE units SET name = :n WHERE id = :id", {"n": _required(p, "name"), "id": _required(p, "unit_id")})


def _unit_deactivated(conn: Connection, event: Event) -> None:
    path = _path(conn, _required(event.payload, "unit_id"))
    _run(conn, "UPDATE units SET active = FALSE WHERE path >= :lo AND path < :hi", subtree_range(path))


def _unit_moved(conn: Connection, event: Event) -> None:
    p = event.payload
    uid = _required(p, "unit_id")
    ancestors = p["ancestor_ids"]
    if not isinstance(ancestors, list) or not ancestors:
        raise ValueError("ancestor_ids is missing")
    old = _path(conn, uid)
    new = "/" + "".join(f"{a}/" for a in ancestors) + f"{uid}/"
    _run(
        conn,
        "UPDATE units SET path = :new || substr(path, :cut) WHERE path >= :lo AND path < :hi",
        {"new": new, "cut": len(old) + 1, **subtree_range(old)},
    )
    _run(conn, "UPDATE units SET parent_id = :p WHERE id = :id", {"p": str(ancestors[-1]), "id": uid})


def _path(conn: Connection, unit_id: str) -> str:
    path = conn.execute(sa.text("SELECT path FROM units WHERE id = :id"), {"id": unit_id}).scalar()
    if path is None:
        raise ValueError(f"unit {unit_id} is unknown")
    return str(path)


def subtree_range(path: str) -> dict[str, str]:
    """Bounds for `path >= :lo AND path < :hi`: every path that starts with `path`."""
    return {"lo": path, "hi": path[:-1] + chr(ord("/") + 1)}


# ---------- identity: members and activity ----------

MEMBER_UPSERT = (
    "INSERT INTO members (id, unit_id, status, gender, exempt, active, activated_on) "
    "VALUES (:id, :u, :s, :g, :e, :a, NULL) ON CONFLICT (id) DO UPDATE SET unit_id = excluded.unit_id, "
    "status = excluded.status, gender = excluded.gender, exempt = excluded.exempt, active = excluded.active"
)


def _member_params(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _required(p, "member_id"),
        "u": _required(p, "unit_id"),
        "s": _required(p, "status"),
        "g": _s(p, "gender") or "other",
        "e": bool(p.get("exempt")),
        "a": bool(p.get("active", True)),
    }


def _member(conn: Connection, event: Event) -> None:
    _upsert_members(conn, [_member_params(event.payload)])


def _members_imported(conn: Connection, event: Event) -> None:
    found = event.payload.get("members") or []
    if not isinstance(found, list):
        raise ValueError("members is not a list")
    _upsert_members(conn, [_member_params(m) for m in found if isinstance(m, dict)])


def _upsert_members(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """The members as they stand now; a member whose reads count elsewhere now (moved, (de)activated,
    or first known after their reads came) takes them along in the read roll-up."""
    if not rows:
        return
    before = {
        r.id: r.unit_id if r.active else None
        for r in conn.execute(
            sa.text("SELECT id, unit_id, active FROM members WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)),
            {"ids": [r["id"] for r in rows]},
        )
    }
    conn.execute(sa.text(MEMBER_UPSERT), rows)
    for r in {r["id"]: r for r in rows}.values():  # each member's last state
        now = r["u"] if r["a"] else None
        if before.get(r["id"]) != now:
            _move_reads(conn, r["id"], before.get(r["id"]), now)


# The read roll-up: unit_bulletin_reads(u, b).n = reads of bulletin b by the active members now
# in unit u (bulletin_reads joined with members), kept by deltas as reads and members change.
READ_ROLLUP_REBUILD = (
    "INSERT INTO unit_bulletin_reads (unit_id, bulletin_id, n) SELECT m.unit_id, r.bulletin_id, COUNT(*) "
    "FROM bulletin_reads r JOIN members m ON m.id = r.member_id WHERE m.active GROUP BY m.unit_id, r.bulletin_id"
)
_READS_ADD = (
    "INSERT INTO unit_bulletin_reads (unit_id, bulletin_id, n) SELECT :u, r.bulletin_id, {delta} "
    "FROM bulletin_reads r WHERE r.member_id = :m {only} "
    "ON CONFLICT (unit_id, bulletin_id) DO UPDATE SET n = unit_bulletin_reads.n + excluded.n"
)


def _move_reads(conn: Connection, member_id: str, old: str | None, new: str | None) -> None:
    """The member's reads leave `old`'s counts and join `new`'s (None: not counted anywhere)."""
    for unit_id, delta in ((old, -1), (new, 1)):
        if unit_id is not None:
            _run(conn, _READS_ADD.format(delta=delta, only=""), {"u": unit_id, "m": member_id})
    _run(conn, "DELETE FROM unit_bulletin_reads WHERE unit_id = :u AND n = 0", {"u": old or ""})


def day_bit(day: str) -> tuple[str, int]:
    """(month 'YYYY-MM', the day's bit in member_activity.days) of an ISO date."""
    if len(day) != 10 or day[4] != "-" or day[7] != "-":
        raise ValueError(f"not an ISO date: {day!r}")
    return day[:7], 1 << (int(day[8:10]) - 1)


def _account_active(conn: Connection, event: Event) -> None:
    _active_on(conn, _required(event.payload, "member_id"), _required(event.payload, "day"))


def _active_on(conn: Connection, member_id: str, day: str) -> None:
    month, bit = day_bit(day)
    _run(
        conn,
        "INSERT INTO member_activity (member_id, month, days) VALUES (:m, :month, :bit) "
        "ON CONFLICT (member_id, month) DO UPDATE SET days = member_activity.days | excluded.days",
        {"m": member_id, "month": month, "bit": bit},
    )
    _run(
        conn,
        "UPDATE members SET activated_on = :d WHERE id = :m AND (activated_on IS NULL OR activated_on > :d)",
        {"m": member_id, "d": day},
    )


# ---------- meetings ----------


def _meeting_held(conn: Connection, event: Event) -> None:
    _held(conn, event.payload)


def _held(conn: Connection, p: dict[str, Any]) -> None:
    _run(
        conn,
        "INSERT INTO meetings (id, cell_unit_id, kind, month, day, part1, part2, part3, attended, expected, "
        "rating, updated_at) VALUES (:id, :c, :k, :month, :day, :p1, :p2, :p3, :att, :exp, :r, :at) "
        "ON CONFLICT (id) DO UPDATE SET cell_unit_id = excluded.cell_unit_id, kind = excluded.kind, "
        "month = excluded.month, day = excluded.day, part1 = excluded.part1, part2 = excluded.part2, "
        "part3 = excluded.part3, attended = excluded.attended, expected = excluded.expected, "
        "rating = excluded.rating, updated_at = excluded.updated_at WHERE meetings.updated_at <= excluded.updated_at",
        {
            "id": _required(p, "meeting_id"),
            "c": _required(p, "cell_unit_id"),
            "k": _s(p, "kind"),
            "month": _required(p, "month"),
            "day": day_of(float(p["starts_at"])),
            "p1": bool(p.get("part1")),
            "p2": bool(p.get("part2")),
            "p3": bool(p.get("part3")),
            "att": int(p.get("attended") or 0),
            "exp": int(p.get("expected") or 0),
            "r": _s(p, "rating"),
            "at": float(p.get("at") or 0),
        },
    )


# ---------- documents ----------


def _document_published(conn: Connection, event: Event) -> None:
    _published(conn, {"document_id": event.key, **event.payload})


def _published(conn: Connection, p: dict[str, Any]) -> None:
    _run(
        conn,
        "INSERT INTO documents (id, publisher_unit_id, category, doc_type, day) VALUES (:id, :u, :c, :t, :d) "
        "ON CONFLICT (id) DO NOTHING",
        {
            "id": _required(p, "document_id"),
            "u": _required(p, "publisher_unit_id"),
            "c": _s(p, "category"),
            "t": _s(p, "doc_type"),
            "d": day_of(float(p["published_at"])),
        },
    )


def _studied(conn: Connection, event: Event) -> None:
    _study_mark(conn, event.payload)


def _study_mark(conn: Connection, p: dict[str, Any]) -> None:
    _run(
        conn,
        "INSERT INTO study_marks (document_id, member_id, day) VALUES (:d, :m, :day) "
        "ON CONFLICT (document_id, member_id) DO NOTHING",
        {"d": _required(p, "document_id"), "m": _required(p, "member_id"), "day": day_of(float(p["at"]))},
    )


# ---------- notifications: feedback ----------


def _feedback_received(conn: Connection, event: Event) -> None:
    _received(conn, event.payload)


def _received(conn: Connection, p: dict[str, Any]) -> None:
    _run(
        conn,
        "INSERT INTO feedback (id, unit_id, received_on) VALUES (:id, :u, :d) ON CONFLICT (id) DO NOTHING",
        {"id": _required(p, "feedback_id"), "u": _required(p, "unit_id"), "d": day_of(float(p["at"]))},
    )


def _feedback_answered(conn: Connection, event: Event) -> None:
    _answered(conn, event.payload)


def _answered(conn: Connection, p: dict[str, Any]) -> None:
    _run(
        conn,
        "UPDATE feedback SET answered_on = :d, answered_by_unit_id = :u WHERE id = :id AND answered_on IS NULL",
        {"id": _required(p, "feedback_id"), "u": _required(p, "unit_id"), "d": day_of(float(p["at"]))},
    )


def _feedback_escalated(conn: Connection, event: Event) -> None:
    _escalated(conn, event.payload)


def _escalated(conn: Connection, p: dict[str, Any]) -> None:
    _run(
        conn,
        "INSERT INTO feedback_escalations (feedback_id, from_unit_id, day) VALUES (:id, :u, :d) "
        "ON CONFLICT (feedback_id, from_unit_id) DO NOTHING",
        {"id": _required(p, "feedback_id"), "u": _required(p, "from_unit_id"), "d": day_of(float(p["at"]))},
    )


# ---------- notifications: bulletins ----------


def _bulletin(conn: Connection, p: dict[str, Any]) -> None:
    bid = _required(p, "bulletin_id")
    audience = p.get("audience_unit_ids") or []
    if not isinstance(audience, list):
        raise ValueError("audience_unit_ids is not a list")
    _run(
        conn,
        "INSERT INTO bulletins (id, publisher_unit_id, kind, day, withdrawn) VALUES (:id, :u, :k, :d, :w) "
        "ON CONFLICT (id) DO UPDATE SET withdrawn = excluded.withdrawn OR bulletins.withdrawn",
        {"id": bid, "u": _required(p, "publisher_unit_id"), "k": _s(p, "kind"), "d": day_of(float(p["publish_at"])),
         "w": bool(p.get("withdrawn"))},
    )
    rows = [{"b": bid, "u": str(u)} for u in audience]
    if rows:
        conn.execute(sa.text("INSERT INTO bulletin_audience (bulletin_id, unit_id) VALUES (:b, :u) "
                             "ON CONFLICT (bulletin_id, unit_id) DO NOTHING"), rows)


def _bulletin_created(conn: Connection, event: Event) -> None:
    _bulletin(conn, event.payload)


def _bulletin_withdrawn(conn: Connection, event: Event) -> None:
    _run(conn, "UPDATE bulletins SET withdrawn = TRUE WHERE id = :id", {"id": _required(event.payload, "bulletin_id")})


def _reads(conn: Connection, p: dict[str, Any]) -> None:
    member_id, found = _required(p, "member_id"), p.get("bulletin_ids") or []
    if not isinstance(found, list):
        raise ValueError("bulletin_ids is not a list")
    unit_id = conn.execute(sa.text("SELECT unit_id FROM members WHERE id = :m AND active"), {"m": member_id}).scalar()
    for b in dict.fromkeys(str(b) for b in found):
        added = _run(conn, "INSERT INTO bulletin_reads (bulletin_id, member_id) VALUES (:b, :m) "
                           "ON CONFLICT (bulletin_id, member_id) DO NOTHING", {"b": b, "m": member_id})
        if added and unit_id is not None:  # a read already known counts once
            _run(conn, _READS_ADD.format(delta=1, only="AND r.bulletin_id = :b"),
                 {"u": unit_id, "m": member_id, "b": b})


def _bulletin_read(conn: Connection, event: Event) -> None:
    _reads(conn, event.payload)


# ---------- meetings: tasks ----------


def _task(conn: Connection, p: dict[str, Any]) -> None:
    _run(
        conn,
        "INSERT INTO tasks (id, cell_unit_id, due_on, status, done_on, updated_at) "
        "VALUES (:id, :c, :due, :s, :done, :at) ON CONFLICT (id) DO UPDATE SET cell_unit_id = excluded.cell_unit_id, "
        "due_on = excluded.due_on, status = excluded.status, done_on = excluded.done_on, "
        "updated_at = excluded.updated_at WHERE tasks.updated_at <= excluded.updated_at",
        {"id": _required(p, "task_id"), "c": _required(p, "cell_unit_id"), "due": _required(p, "due_on"),
         "s": _required(p, "status"), "done": _s(p, "done_on") or None, "at": float(p.get("at") or 0)},
    )


def _task_state(conn: Connection, event: Event) -> None:
    _task(conn, event.payload)


# ---------- the producers' snapshots (backfill) ----------


def _unit_fact(conn: Connection, p: dict[str, Any]) -> None:
    """A unit as it stands (parents come before their children in a snapshot)."""
    uid, parent = _required(p, "unit_id"), _s(p, "parent_id")
    parent_path = _path(conn, parent) if parent else "/"
    _run(
        conn,
        "INSERT INTO units (id, parent_id, path, name, kind, active) VALUES (:id, :p, :path, :n, :k, :a) "
        "ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, path = excluded.path, "
        "name = excluded.name, kind = excluded.kind, active = excluded.active",
        {"id": uid, "p": parent or None, "path": f"{parent_path}{uid}/", "n": _s(p, "name"), "k": _s(p, "kind"),
         "a": bool(p.get("active", True))},
    )


def _activity_fact(conn: Connection, p: dict[str, Any]) -> None:
    """An account's two dates: the days identity still knows it was active on."""
    member_id = _required(p, "member_id")
    for key in ("activated_on", "last_active_on"):
        if day := _s(p, key):
            _active_on(conn, member_id, day)


def _feedback_fact(conn: Connection, p: dict[str, Any]) -> None:
    _received(conn, p)
    if p.get("answered_at"):
        _answered(conn, {"feedback_id": p["feedback_id"], "unit_id": p.get("answered_by_unit_id"),
                         "at": p["answered_at"]})
    for step in p.get("escalations") or []:
        _escalated(conn, {"feedback_id": p["feedback_id"], **step})


def _each(apply: Callable[[Connection, dict[str, Any]], None], key: str) -> Callable[[Connection, Event], None]:
    """A handler of a snapshot event: `apply` to each item of the payload's list `key`."""

    def handler(conn: Connection, event: Event) -> None:
        found = event.payload.get(key)
        if not isinstance(found, list):
            raise ValueError(f"{key} is not a list")
        for item in found:
            if isinstance(item, dict):
                apply(conn, item)

    return handler


HANDLERS: dict[str, Callable[[Connection, Event], None]] = {
    "identity.unit.created": _unit_created,
    "identity.unit.renamed": _unit_renamed,
    "identity.unit.moved": _unit_moved,
    "identity.unit.deactivated": _unit_deactivated,
    "identity.member.created": _member,
    "identity.member.updated": _member,
    "identity.member.transferred": _member,
    "identity.member.deactivated": _member,
    "identity.members.imported": _members_imported,
    "identity.account.active": _account_active,
    "meetings.meeting.held": _meeting_held,
    "meetings.task.state": _task_state,
    "documents.document.published": _document_published,
    "documents.study.marked": _studied,
    "notifications.feedback.received": _feedback_received,
    "notifications.feedback.answered": _feedback_answered,
    "notifications.feedback.escalated": _feedback_escalated,
    "notifications.bulletin.created": _bulletin_created,
    "notifications.bulletin.withdrawn": _bulletin_withdrawn,
    "notifications.bulletin.read": _bulletin_read,
    "identity.facts.units": _each(_unit_fact, "units"),
    "identity.facts.members": _members_imported,
    "identity.facts.activity": _each(_activity_fact, "accounts"),
    "meetings.facts.held": _each(_held, "meetings"),
    "meetings.facts.tasks": _each(_task, "tasks"),
    "documents.facts.documents": _each(_published, "documents"),
    "documents.facts.study": _each(_study_mark, "marks"),
    "notifications.facts.feedback": _each(_feedback_fact, "feedback"),
    "notifications.facts.bulletins": _each(_bulletin, "bulletins"),
    "notifications.facts.reads": _each(_reads, "reads"),
}

handle = dispatch(HANDLERS)


def consumer(db: Database, source: str, fetch: Fetch) -> EventConsumer:
    return EventConsumer(db, source, fetch, handle)


def run(db: Database, stop: threading.Event) -> None:
    """Worker `consume`: one thread per source."""
    run_consumers(db, stop, TOPICS, handle)
