"""The other services' events, applied to this service's read models (worker `consume`).

  identity       units (created, renamed, moved, deactivated); members (created, updated,
                 transferred, deactivated, imported: unit, status, gender, exemption, active);
                 account activity (`identity.account.active`: one event per member and day)
  meetings       held meetings and task states: the latest snapshot of each
  documents      documents published (publisher, category, day); study marks
  notifications  feedback received, answered, escalated; bulletins (created, withdrawn) and reads

The `*Facts` events (`<source>.facts.*`) are the producers' snapshot of what they hold (`report-facts`, the
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
from google.protobuf.message import Message
from sqlalchemy.engine import Connection

from services.core.days import day_of
from services.core.db import Database
from services.core.events import On, Subscriptions, snapshot_items
from services.core.outbox import EventConsumer, Fetch, run_consumers
from sotay.events.v1.documents_events_pb2 import DocumentFacts, DocumentPublished, StudyFacts, StudyMarked
from sotay.events.v1.identity_events_pb2 import (
    AccountActive,
    AccountActivity,
    ActivityFacts,
    Member,
    MemberCreated,
    MemberDeactivated,
    MemberFacts,
    MembersImported,
    MemberTransferred,
    MemberUpdated,
    Unit,
    UnitCreated,
    UnitDeactivated,
    UnitFacts,
    UnitMoved,
    UnitRenamed,
)
from sotay.events.v1.meetings_events_pb2 import HeldFacts, MeetingHeld, TaskFacts, TaskState
from sotay.events.v1.notifications_events_pb2 import (
    Bulletin,
    BulletinCreated,
    BulletinFacts,
    BulletinRead,
    BulletinWithdrawn,
    Feedback,
    FeedbackAnswered,
    FeedbackEscalated,
    FeedbackFacts,
    FeedbackReceived,
    ReadFacts,
)


def _required(value: str, name: str) -> str:
    if not value:
        raise ValueError(f"{name} is missing")
    return value


def _day(at: float, name: str) -> str:
    if not at:
        raise ValueError(f"{name} is missing")
    return day_of(at)


def _run(conn: Connection, sql: str, params: dict[str, Any]) -> int:
    return int(conn.execute(sa.text(sql), params).rowcount)


# ---------- identity: units ----------


def _unit_created(conn: Connection, p: UnitCreated) -> None:
    uid = _required(p.unit_id, "unit_id")
    if p.parent_id:
        parent_path = conn.execute(sa.text("SELECT path FROM units WHERE id = :id"), {"id": p.parent_id}).scalar()
        if parent_path is None:
            raise ValueError(f"parent unit {p.parent_id} is unknown")
    else:
        parent_path = "/"
    _run(
        conn,
        "INSERT INTO units (id, parent_id, path, name, kind, active) VALUES (:id, :p, :path, :n, :k, TRUE) "
        "ON CONFLICT (id) DO NOTHING",
        {"id": uid, "p": p.parent_id or None, "path": f"{parent_path}{uid}/", "n": p.name, "k": p.kind},
    )


def _unit_renamed(conn: Connection, p: UnitRenamed) -> None:
    _run(conn, "UPDATE units SET name = :n WHERE id = :id",
         {"n": _required(p.name, "name"), "id": _required(p.unit_id, "unit_id")})


def _unit_deactivated(conn: Connection, p: UnitDeactivated) -> None:
    path = _path(conn, _required(p.unit_id, "unit_id"))
    _run(conn, "UPDATE units SET active = FALSE WHERE path >= :lo AND path < :hi", subtree_range(path))


def _unit_moved(conn: Connection, p: UnitMoved) -> None:
    uid = _required(p.unit_id, "unit_id")
    ancestors = list(p.ancestor_ids)
    if not ancestors:
        raise ValueError("ancestor_ids is missing")
    old = _path(conn, uid)
    new = "/" + "".join(f"{a}/" for a in ancestors) + f"{uid}/"
    _run(
        conn,
        "UPDATE units SET path = :new || substr(path, :cut) WHERE path >= :lo AND path < :hi",
        {"new": new, "cut": len(old) + 1, **subtree_range(old)},
    )
    _run(conn, "UPDATE units SET parent_id = :p WHERE id = :id", {"p": ancestors[-1], "id": uid})


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

# The messages carrying a member's facts (the fields of identity_events.Member).
MemberLike = Member | MemberCreated | MemberUpdated | MemberTransferred | MemberDeactivated


def _member_params(m: MemberLike) -> dict[str, Any]:
    return {
        "id": _required(m.member_id, "member_id"),
        "u": _required(m.unit_id, "unit_id"),
        "s": _required(m.status, "status"),
        "g": m.gender or "other",
        "e": m.exempt,
        "a": m.active,
    }


def _member(conn: Connection, m: MemberLike) -> None:
    _upsert_members(conn, [_member_params(m)])


def _members(conn: Connection, p: MembersImported | MemberFacts) -> None:
    _upsert_members(conn, [_member_params(m) for m in p.members])


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


# The month roll-ups: active_years / study_years (member, year).months = bit m-1 for each month m
# of the year the member signed in on a day of / made a study mark (on a known document) in.
# The figures read them for the months a period covers whole (figures._months_condition).
_MONTH_BIT = "(1 << (CAST(substr({day}, 6, 2) AS INTEGER) - 1))"
_MONTHS_ADD = (
    "INSERT INTO {table} (member_id, year, months) {select} "
    "ON CONFLICT (member_id, year) DO UPDATE SET months = {table}.months | excluded.months"
)
ACTIVE_ROLLUP_REBUILD = _MONTHS_ADD.split(" ON CONFLICT")[0].format(
    table="active_years",
    select=f"SELECT member_id, substr(month, 1, 4), SUM({_MONTH_BIT.format(day='month')}) FROM member_activity "
    "WHERE days <> 0 GROUP BY member_id, substr(month, 1, 4)",  # one row per (member, month): SUM is OR
)
_STUDY_MONTHS = (
    "SELECT member_id, year, SUM(bit) FROM (SELECT DISTINCT s.member_id, substr(s.day, 1, 4) AS year, {bit} AS bit "
    "FROM study_marks s JOIN documents d ON d.id = s.document_id WHERE {{where}}) x WHERE TRUE GROUP BY member_id, year"
).format(bit=_MONTH_BIT.format(day="s.day"))
STUDY_ROLLUP_REBUILD = _MONTHS_ADD.split(" ON CONFLICT")[0].format(
    table="study_years", select=_STUDY_MONTHS.format(where="TRUE")
)


def _study_months_add(conn: Connection, where: str, params: dict[str, Any]) -> None:
    """The marks matching `where` (on study_marks s) into the study roll-up."""
    _run(conn, _MONTHS_ADD.format(table="study_years", select=_STUDY_MONTHS.format(where=where)), params)


def _account_active(conn: Connection, p: AccountActive) -> None:
    _active_on(conn, _required(p.member_id, "member_id"), _required(p.day, "day"))


def _active_on(conn: Connection, member_id: str, day: str) -> None:
    month, bit = day_bit(day)
    _run(
        conn,
        "INSERT INTO member_activity (member_id, month, days) VALUES (:m, :month, :bit) "
        "ON CONFLICT (member_id, month) DO UPDATE SET days = member_activity.days | excluded.days",
        {"m": member_id, "month": month, "bit": bit},
    )
    _run(conn, _MONTHS_ADD.format(table="active_years", select="VALUES (:m, :y, :bit)"),
         {"m": member_id, "y": month[:4], "bit": 1 << (int(month[5:7]) - 1)})
    _run(
        conn,
        "UPDATE members SET activated_on = :d WHERE id = :m AND (activated_on IS NULL OR activated_on > :d)",
        {"m": member_id, "d": day},
    )


# ---------- meetings ----------


def _held(conn: Connection, p: MeetingHeld) -> None:
    _run(
        conn,
        "INSERT INTO meetings (id, cell_unit_id, kind, month, day, part1, part2, part3, attended, expected, "
        "rating, updated_at) VALUES (:id, :c, :k, :month, :day, :p1, :p2, :p3, :att, :exp, :r, :at) "
        "ON CONFLICT (id) DO UPDATE SET cell_unit_id = excluded.cell_unit_id, kind = excluded.kind, "
        "month = excluded.month, day = excluded.day, part1 = excluded.part1, part2 = excluded.part2, "
        "part3 = excluded.part3, attended = excluded.attended, expected = excluded.expected, "
        "rating = excluded.rating, updated_at = excluded.updated_at WHERE meetings.updated_at <= excluded.updated_at",
        {
            "id": _required(p.meeting_id, "meeting_id"),
            "c": _required(p.cell_unit_id, "cell_unit_id"),
            "k": p.kind,
            "month": _required(p.month, "month"),
            "day": _day(p.starts_at, "starts_at"),
            "p1": p.part1,
            "p2": p.part2,
            "p3": p.part3,
            "att": p.attended,
            "exp": p.expected,
            "r": p.rating,
            "at": p.at,
        },
    )


# ---------- documents ----------


def _published(conn: Connection, p: DocumentPublished) -> None:
    added = _run(
        conn,
        "INSERT INTO documents (id, publisher_unit_id, category, doc_type, day) VALUES (:id, :u, :c, :t, :d) "
        "ON CONFLICT (id) DO NOTHING",
        {
            "id": _required(p.document_id, "document_id"),
            "u": _required(p.publisher_unit_id, "publisher_unit_id"),
            "c": p.category,
            "t": p.doc_type,
            "d": _day(p.published_at, "published_at"),
        },
    )
    if added:  # its marks made before it was known count now
        _study_months_add(conn, "s.document_id = :d", {"d": p.document_id})


def _study_mark(conn: Connection, p: StudyMarked) -> None:
    params = {"d": _required(p.document_id, "document_id"), "m": _required(p.member_id, "member_id"),
              "day": _day(p.at, "at")}
    added = _run(conn, "INSERT INTO study_marks (document_id, member_id, day) VALUES (:d, :m, :day) "
                       "ON CONFLICT (document_id, member_id) DO NOTHING", params)
    if added:
        _study_months_add(conn, "s.document_id = :d AND s.member_id = :m", params)


# ---------- notifications: feedback ----------


def _received(conn: Connection, p: FeedbackReceived | Feedback) -> None:
    _run(
        conn,
        "INSERT INTO feedback (id, unit_id, received_on) VALUES (:id, :u, :d) ON CONFLICT (id) DO NOTHING",
        {"id": _required(p.feedback_id, "feedback_id"), "u": _required(p.unit_id, "unit_id"), "d": _day(p.at, "at")},
    )


def _answered(conn: Connection, feedback_id: str, unit_id: str, at: float) -> None:
    _run(
        conn,
        "UPDATE feedback SET answered_on = :d, answered_by_unit_id = :u WHERE id = :id AND answered_on IS NULL",
        {"id": _required(feedback_id, "feedback_id"), "u": _required(unit_id, "unit_id"), "d": _day(at, "at")},
    )


def _escalated(conn: Connection, feedback_id: str, from_unit_id: str, at: float) -> None:
    _run(
        conn,
        "INSERT INTO feedback_escalations (feedback_id, from_unit_id, day) VALUES (:id, :u, :d) "
        "ON CONFLICT (feedback_id, from_unit_id) DO NOTHING",
        {"id": _required(feedback_id, "feedback_id"), "u": _required(from_unit_id, "from_unit_id"),
         "d": _day(at, "at")},
    )


def _feedback_answered(conn: Connection, p: FeedbackAnswered) -> None:
    _answered(conn, p.feedback_id, p.unit_id, p.at)


def _feedback_escalated(conn: Connection, p: FeedbackEscalated) -> None:
    _escalated(conn, p.feedback_id, p.from_unit_id, p.at)


# ---------- notifications: bulletins ----------


def _bulletin(conn: Connection, p: BulletinCreated | Bulletin) -> None:
    bid = _required(p.bulletin_id, "bulletin_id")
    _run(
        conn,
        "INSERT INTO bulletins (id, publisher_unit_id, kind, day, withdrawn) VALUES (:id, :u, :k, :d, :w) "
        "ON CONFLICT (id) DO UPDATE SET withdrawn = excluded.withdrawn OR bulletins.withdrawn",
        {"id": bid, "u": _required(p.publisher_unit_id, "publisher_unit_id"), "k": p.kind,
         "d": _day(p.publish_at, "publish_at"), "w": isinstance(p, Bulletin) and p.withdrawn},
    )
    rows = [{"b": bid, "u": u} for u in p.audience_unit_ids]
    if rows:
        conn.execute(sa.text("INSERT INTO bulletin_audience (bulletin_id, unit_id) VALUES (:b, :u) "
                             "ON CONFLICT (bulletin_id, unit_id) DO NOTHING"), rows)


def _bulletin_withdrawn(conn: Connection, p: BulletinWithdrawn) -> None:
    _run(conn, "UPDATE bulletins SET withdrawn = TRUE WHERE id = :id", {"id": _required(p.bulletin_id, "bulletin_id")})


def _reads(conn: Connection, p: BulletinRead) -> None:
    member_id = _required(p.member_id, "member_id")
    unit_id = conn.execute(sa.text("SELECT unit_id FROM members WHERE id = :m AND active"), {"m": member_id}).scalar()
    for b in dict.fromkeys(p.bulletin_ids):
        added = _run(conn, "INSERT INTO bulletin_reads (bulletin_id, member_id) VALUES (:b, :m) "
                           "ON CONFLICT (bulletin_id, member_id) DO NOTHING", {"b": b, "m": member_id})
        if added and unit_id is not None:  # a read already known counts once
            _run(conn, _READS_ADD.format(delta=1, only="AND r.bulletin_id = :b"),
                 {"u": unit_id, "m": member_id, "b": b})


# ---------- meetings: tasks ----------


def _task(conn: Connection, p: TaskState) -> None:
    _run(
        conn,
        "INSERT INTO tasks (id, cell_unit_id, due_on, status, done_on, updated_at) "
        "VALUES (:id, :c, :due, :s, :done, :at) ON CONFLICT (id) DO UPDATE SET cell_unit_id = excluded.cell_unit_id, "
        "due_on = excluded.due_on, status = excluded.status, done_on = excluded.done_on, "
        "updated_at = excluded.updated_at WHERE tasks.updated_at <= excluded.updated_at",
        {"id": _required(p.task_id, "task_id"), "c": _required(p.cell_unit_id, "cell_unit_id"),
         "due": _required(p.due_on, "due_on"), "s": _required(p.status, "status"), "done": p.done_on or None,
         "at": p.at},
    )


# ---------- the producers' snapshots (backfill) ----------


def _unit_fact(conn: Connection, p: Unit) -> None:
    """A unit as it stands (parents come before their children in a snapshot)."""
    uid = _required(p.unit_id, "unit_id")
    parent_path = _path(conn, p.parent_id) if p.parent_id else "/"
    _run(
        conn,
        "INSERT INTO units (id, parent_id, path, name, kind, active) VALUES (:id, :p, :path, :n, :k, :a) "
        "ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, path = excluded.path, "
        "name = excluded.name, kind = excluded.kind, active = excluded.active",
        {"id": uid, "p": p.parent_id or None, "path": f"{parent_path}{uid}/", "n": p.name, "k": p.kind,
         "a": p.active},
    )


def _activity_fact(conn: Connection, p: AccountActivity) -> None:
    """An account's two dates: the days identity still knows it was active on."""
    member_id = _required(p.member_id, "member_id")
    for day in (p.activated_on, p.last_active_on):
        if day:
            _active_on(conn, member_id, day)


def _feedback_fact(conn: Connection, p: Feedback) -> None:
    _received(conn, p)
    if p.answered_at:
        _answered(conn, p.feedback_id, p.answered_by_unit_id, p.answered_at)
    for step in p.escalations:
        _escalated(conn, p.feedback_id, step.from_unit_id, step.at)


def _each(apply: Callable[[Connection, Any], None]) -> Callable[[Connection, Message], None]:
    """A handler of a snapshot event: `apply` to each of its items."""

    def handler(conn: Connection, snapshot: Message) -> None:
        for item in snapshot_items(snapshot):
            apply(conn, item)

    return handler


handle = Subscriptions(
    "reports",
    On(UnitCreated, _unit_created),
    On(UnitRenamed, _unit_renamed),
    On(UnitMoved, _unit_moved),
    On(UnitDeactivated, _unit_deactivated),
    On(MemberCreated, _member),
    On(MemberUpdated, _member),
    On(MemberTransferred, _member),
    On(MemberDeactivated, _member),
    On(MembersImported, _members),
    On(AccountActive, _account_active),
    On(MeetingHeld, _held),
    On(TaskState, _task),
    On(DocumentPublished, _published),
    On(StudyMarked, _study_mark),
    On(FeedbackReceived, _received),
    On(FeedbackAnswered, _feedback_answered),
    On(FeedbackEscalated, _feedback_escalated),
    On(BulletinCreated, _bulletin),
    On(BulletinWithdrawn, _bulletin_withdrawn),
    On(BulletinRead, _reads),
    On(UnitFacts, _each(_unit_fact)),
    On(MemberFacts, _members),
    On(ActivityFacts, _each(_activity_fact)),
    On(HeldFacts, _each(_held)),
    On(TaskFacts, _each(_task)),
    On(DocumentFacts, _each(_published)),
    On(StudyFacts, _each(_study_mark)),
    On(FeedbackFacts, _each(_feedback_fact)),
    On(BulletinFacts, _each(_bulletin)),
    On(ReadFacts, _each(_reads)),
)
# The sources and the topics read from each.
TOPICS = handle.sources()


def consumer(db: Database, source: str, fetch: Fetch) -> EventConsumer:
    return EventConsumer(db, source, fetch, handle)


def run(db: Database, stop: threading.Event) -> None:
    """Worker `consume`: one thread per source."""
    run_consumers(db, stop, TOPICS, handle)
