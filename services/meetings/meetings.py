"""Meetings of a cell: the record, its agenda and documents, and the state flow (states.py).

A combined session (regular + thematic, one after the other) is two meeting rows sharing a
session_id, each with its own roster, attendance, opinions, polls and minutes; the second may
start only once the first is closed.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core.errors import FailedPrecondition, InvalidArgument, NotFound
from services.core.ids import new_id, require_id
from services.core.outbox import emit
from services.core.paging import counted_page
from services.meetings import facts, states
from sotay.events.v1.meetings_events_pb2 import ResolutionPublished

KINDS = ("regular", "thematic")
MODES = ("in_person", "online", "hybrid")
VN_OFFSET = 7 * 3600  # Asia/Ho_Chi_Minh, no daylight saving
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MAX_TEXT = 20_000
DAY = 86400.0
CLOCK_SKEW = 60.0  # seconds a client's clock may run ahead of the server's


@dataclass
class Fields:
    """MeetingFields as given; `given` names the ones to apply."""

    title: str = ""
    starts_at: float = 0.0
    ends_at: float = 0.0
    place: str = ""
    mode: str = ""
    agenda: list[tuple[str, str, str]] = field(default_factory=list)  # (id, title, description)
    chair_member_id: str = ""
    minutes_secretary_member_id: str = ""
    conclusion: str = ""
    given: set[str] = field(default_factory=set)


def month_of(ts: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(ts + VN_OFFSET))


def check_month(month: str) -> str:
    if not MONTH_RE.match(month):
        raise InvalidArgument("invalid_month", "month must be YYYY-MM", field="month")
    return month


def _text(value: str, name: str, limit: int, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidArgument(f"{name}_required", f"{name} is required", field=name)
    if len(value) > limit:
        raise InvalidArgument(f"{name}_too_long", f"{name} has at most {limit} characters", field=name)
    return value


def validate(f: Fields, creating: bool) -> Fields:
    if creating:
        f.given |= {"title", "starts_at", "place", "mode"}
    if "title" in f.given:
        f.title = _text(f.title, "title", 300, required=True)
    if "starts_at" in f.given and f.starts_at <= 0:
        raise InvalidArgument("starts_at_required", "starts_at is required", field="starts_at")
    if "ends_at" in f.given and f.ends_at and f.starts_at and f.ends_at <= f.starts_at:
        raise InvalidArgument("invalid_ends_at", "ends_at must be after starts_at", field="ends_at")
    if "place" in f.given:
        f.place = _text(f.place, "place", 300)
    if "mode" in f.given:
        if creating and not f.mode:
            f.mode = "in_person"
        if f.mode not in MODES:
            raise InvalidArgument("invalid_mode", "mode must be in person, online or hybrid", field="mode")
    if "agenda" in f.given:
        if len(f.agenda) > 100:
            raise InvalidArgument("agenda_too_long", "an agenda has at most 100 items", field="agenda")
        f.agenda = [
            (i, _text(t, "agenda_title", 500, required=True), _text(d, "agenda_description", MAX_TEXT))
            for i, t, d in f.agenda
        ]
    if "conclusion" in f.given:
        f.conclusion = _text(f.conclusion, "conclusion", MAX_TEXT)
    return f


COLUMNS = "m.*, (SELECT COUNT(*) FROM roster r WHERE r.meeting_id = m.id) AS roster_size"


def get(conn: Connection, meeting_id: str, lock: bool = False) -> Row[Any]:
    """A meeting row; `lock` serialises writers of this meeting until the transaction ends."""
    mid = require_id(meeting_id, "meeting_id", "meeting")
    if lock:  # writers need the row, not the roster count
        suffix = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
        row = conn.execute(
            sa.text(f"SELECT m.*, 0 AS roster_size FROM meetings m WHERE m.id = :id{suffix}"), {"id": mid}
        ).first()
    else:
        row = conn.execute(sa.text(f"SELECT {COLUMNS} FROM meetings m WHERE m.id = :id"), {"id": mid}).first()
    if row is None:
        raise NotFound("meeting_not_found", f"meeting {meeting_id} does not exist", meeting_id=meeting_id)
    return row


def bump(conn: Connection, meeting_id: str) -> None:
    """Something participants see live changed: a new live version (GetLiveState)."""
    conn.execute(
        sa.text("UPDATE meetings SET live_version = live_version + 1, updated_at = :t WHERE id = :id"),
        {"id": meeting_id, "t": time.time()},
    )


def create(conn: Connection, cell_id: str, cell_name: str, kind: str, f: Fields, actor: str, follows: str = "") -> str:
    if kind not in KINDS:
        raise InvalidArgument("invalid_kind", "kind must be regular or thematic", field="kind")
    f = validate(f, creating=True)
    session_id, order = new_id(), 1
    if follows:
        first = get(conn, follows, lock=True)
        if first.cell_unit_id != cell_id:
            raise InvalidArgument(
                "session_other_cell", "a combined session is held by one cell", field="follows_meeting_id"
            )
        if first.kind == kind:
            raise FailedPrecondition(
                "session_same_kind", "a combined session is a regular and a thematic meeting, one of each"
            )
        taken = conn.execute(
            sa.text("SELECT COUNT(*) FROM meetings WHERE session_id = :s"), {"s": first.session_id}
        ).scalar_one()
        if taken >= 2:
            raise FailedPrecondition("session_full", "this session already has two meetings")
        session_id, order = first.session_id, first.session_order + 1
    now = time.time()
    meeting_id = new_id()
    conn.execute(
        sa.text(
            "INSERT INTO meetings (id, cell_unit_id, cell_name, kind, title, state, starts_at, ends_at, month, "
            "place, mode, session_id, session_order, chair_member_id, minutes_secretary_member_id, conclusion, "
            "created_by, created_at, updated_at, live_version) VALUES (:id, :cell, :cell_name, :kind, :title, "
            ":state, :starts, :ends, :month, :place, :mode, :sid, :so, NULL, NULL, '', :by, :t, :t, 1)"
        ),
        {
            "id": meeting_id,
            "cell": cell_id,
            "cell_name": cell_name,
            "kind": kind,
            "title": f.title,
            "state": states.DRAFT,
            "starts": f.starts_at,
            "ends": f.ends_at or None,
            "month": month_of(f.starts_at),
            "place": f.place,
            "mode": f.mode,
            "sid": session_id,
            "so": order,
            "by": actor,
            "t": now,
        },
    )
    if "agenda" in f.given:
        _replace_agenda(conn, meeting_id, f.agenda)
    return meeting_id


def update(conn: Connection, meeting: Row[Any], f: Fields) -> None:
    states.require_editable(meeting.state, f.given)
    if "starts_at" in f.given and "ends_at" not in f.given and meeting.ends_at:
        f.ends_at, f.given = meeting.ends_at, f.given | {"ends_at"}
    if "ends_at" in f.given and "starts_at" not in f.given:
        f.starts_at = meeting.starts_at
    f = validate(f, creating=False)
    sets: dict[str, Any] = {}
    for name in ("title", "place", "mode", "conclusion"):
        if name in f.given:
            sets[name] = getattr(f, name)
    if "starts_at" in f.given:
        sets["starts_at"] = f.starts_at
        sets["month"] = month_of(f.starts_at)
    if "ends_at" in f.given:
        sets["ends_at"] = f.ends_at or None
    for name in ("chair_member_id", "minutes_secretary_member_id"):
        if name in f.given:
            value = getattr(f, name)
            if value:
                require_roster_member(conn, meeting.id, value, name)
            sets[name] = value or None
    if sets:
        assignments = ", ".join(f"{k} = :{k}" for k in sets)
        conn.execute(sa.text(f"UPDATE meetings SET {assignments} WHERE id = :id"), {**sets, "id": meeting.id})
    if "agenda" in f.given:
        _replace_agenda(conn, meeting.id, f.agenda)
    bump(conn, meeting.id)


def _replace_agenda(conn: Connection, meeting_id: str, items: list[tuple[str, str, str]]) -> None:
    existing = set(
        conn.execute(sa.text("SELECT id FROM agenda_items WHERE meeting_id = :m"), {"m": meeting_id}).scalars()
    )
    keep: set[str] = set()
    for position, (item_id, title, description) in enumerate(items, start=1):
        if item_id:
            if item_id not in existing:
                raise InvalidArgument(
                    "agenda_item_not_found", f"agenda item {item_id} is not in this meeting", field="agenda"
                )
            keep.add(item_id)
            conn.execute(
                sa.text("UPDATE agenda_items SET position = :p, title = :t, description = :d WHERE id = :id"),
                {"p": position, "t": title, "d": description, "id": item_id},
            )
        else:
            conn.execute(
                sa.text(
                    "INSERT INTO agenda_items (id, meeting_id, position, title, description) "
                    "VALUES (:id, :m, :p, :t, :d)"
                ),
                {"id": new_id(), "m": meeting_id, "p": position, "t": title, "d": description},
            )
    for gone in existing - keep:
        conn.execute(sa.text("DELETE FROM agenda_items WHERE id = :id"), {"id": gone})


def agenda(conn: Connection, meeting_id: str) -> list[Row[Any]]:
    return list(
        conn.execute(
            sa.text("SELECT * FROM agenda_items WHERE meeting_id = :m ORDER BY position"), {"m": meeting_id}
        ).all()
    )


def require_agenda_item(conn: Connection, meeting_id: str, item_id: str) -> str:
    if not item_id:
        return ""
    found = conn.execute(
        sa.text("SELECT id FROM agenda_items WHERE meeting_id = :m AND id = :i"), {"m": meeting_id, "i": item_id}
    ).first()
    if found is None:
        raise NotFound("agenda_item_not_found", "no such agenda item in this meeting", agenda_item_id=item_id)
    return item_id


def require_roster_member(conn: Connection, meeting_id: str, member_id: str, field_name: str) -> Row[Any]:
    row = conn.execute(
        sa.text("SELECT * FROM roster WHERE meeting_id = :m AND member_id = :p"), {"m": meeting_id, "p": member_id}
    ).first()
    if row is None:
        raise NotFound("member_not_in_roster", "that member is not in this meeting's roster", field=field_name)
    return row


def documents(conn: Connection, meeting_id: str) -> list[Row[Any]]:
    return list(
        conn.execute(
            sa.text(
                "SELECT d.*, (SELECT COUNT(DISTINCT o.member_id) FROM document_opens o WHERE o.meeting_id = "
                "d.meeting_id AND o.document_id = d.document_id) AS opened_by FROM meeting_documents d "
                "WHERE d.meeting_id = :m ORDER BY d.attached_at, d.document_id"
            ),
            {"m": meeting_id},
        ).all()
    )


def attach_document(conn: Connection, meeting: Row[Any], document_id: str, title: str) -> None:
    states.require(meeting.state, "documents")
    doc = require_id(document_id, "document_id")
    title = _text(title, "title", 500)
    exists = conn.execute(
        sa.text("SELECT 1 FROM meeting_documents WHERE meeting_id = :m AND document_id = :d"),
        {"m": meeting.id, "d": doc},
    ).first()
    if exists:
        conn.execute(
            sa.text("UPDATE meeting_documents SET title = :t WHERE meeting_id = :m AND document_id = :d"),
            {"m": meeting.id, "d": doc, "t": title},
        )
    else:
        conn.execute(
            sa.text(
                "INSERT INTO meeting_documents (meeting_id, document_id, title, attached_at) VALUES (:m, :d, :t, :at)"
            ),
            {"m": meeting.id, "d": doc, "t": title, "at": time.time()},
        )
    bump(conn, meeting.id)


def detach_document(conn: Connection, meeting: Row[Any], document_id: str) -> None:
    states.require(meeting.state, "documents")
    doc = require_id(document_id, "document_id", "document")
    gone = conn.execute(
        sa.text("DELETE FROM meeting_documents WHERE meeting_id = :m AND document_id = :d"),
        {"m": meeting.id, "d": doc},
    ).rowcount
    if not gone:
        raise NotFound("document_not_attached", "that document is not attached to this meeting")
    bump(conn, meeting.id)


def record_document_opened(conn: Connection, meeting: Row[Any], document_id: str, member_id: str) -> float:
    states.require(meeting.state, "open_document")
    doc = require_id(document_id, "document_id", "document")
    attached = conn.execute(
        sa.text("SELECT 1 FROM meeting_documents WHERE meeting_id = :m AND document_id = :d"),
        {"m": meeting.id, "d": doc},
    ).first()
    if attached is None:
        raise NotFound("document_not_attached", "that document is not attached to this meeting")
    now = time.time()
    updated = conn.execute(
        sa.text(
            "UPDATE document_opens SET times = times + 1 WHERE meeting_id = :m AND document_id = :d AND member_id = :p"
        ),
        {"m": meeting.id, "d": doc, "p": member_id},
    ).rowcount
    if not updated:
        conn.execute(
            sa.text(
                "INSERT INTO document_opens (meeting_id, document_id, member_id, first_opened_at, times) "
                "VALUES (:m, :d, :p, :t, 1)"
            ),
            {"m": meeting.id, "d": doc, "p": member_id, "t": now},
        )
        return now
    return float(
        conn.execute(
            sa.text(
                "SELECT first_opened_at FROM document_opens WHERE meeting_id = :m AND document_id = :d "
                "AND member_id = :p"
            ),
            {"m": meeting.id, "d": doc, "p": member_id},
        ).scalar_one()
    )


def list_document_opens(conn: Connection, meeting_id: str, offset: int, limit: int) -> tuple[list[Row[Any]], int]:
    return counted_page(
        conn,
        "document_opens o LEFT JOIN roster r ON r.meeting_id = o.meeting_id AND r.member_id = o.member_id",
        "o.meeting_id = :m",
        "o.first_opened_at, o.member_id, o.document_id",
        {"m": meeting_id},
        offset,
        limit,
        "o.*, COALESCE(r.full_name, '') AS full_name",
    )


def session_meetings(conn: Connection, session_id: str) -> list[Row[Any]]:
    return list(
        conn.execute(
            sa.text(
                "SELECT id, state, session_order, closed_at FROM meetings WHERE session_id = :s ORDER BY session_order"
            ),
            {"s": session_id},
        ).all()
    )


def held_at(given: float | None, field: str) -> float:
    """When a meeting began or ended: now, or the time the secretary gives for a meeting entered
    after it was held (a client's clock may run a minute ahead; never later than now)."""
    now = time.time()
    if given is None:
        return now
    if given > now + CLOCK_SKEW:
        raise InvalidArgument(f"{field}_in_future", f"{field} is in the future", field=field)
    return min(given, now)


def start(
    conn: Connection, meeting: Row[Any], chair: str, minutes_secretary: str, started_at: float | None = None
) -> None:
    states.advance(meeting.state, states.IN_PROGRESS)
    began = held_at(started_at, "started_at")
    if started_at is not None and began < meeting.starts_at - DAY:
        raise InvalidArgument(
            "started_before_schedule",
            "a meeting begins at most a day before its scheduled start; change the schedule first",
            field="started_at",
        )
    for other in session_meetings(conn, meeting.session_id):
        if other.session_order >= meeting.session_order:
            continue
        if other.state in (states.DRAFT, states.ANNOUNCED, states.IN_PROGRESS):
            raise FailedPrecondition(
                "session_previous_not_closed",
                "in a combined session the first meeting must be closed before the second starts",
                previous_meeting_id=other.id,
            )
        if other.closed_at is not None and began < other.closed_at:
            raise InvalidArgument(
                "started_before_previous_closed",
                "in a combined session the second meeting begins after the first closed",
                field="started_at",
                previous_meeting_id=other.id,
            )
    for name, value in (("chair_member_id", chair), ("minutes_secretary_member_id", minutes_secretary)):
        if value:
            require_roster_member(conn, meeting.id, value, name)
    conn.execute(
        sa.text(
            "UPDATE meetings SET state = :s, started_at = :t, chair_member_id = COALESCE(:c, chair_member_id), "
            "minutes_secretary_member_id = COALESCE(:w, minutes_secretary_member_id) WHERE id = :id"
        ),
        {
            "s": states.IN_PROGRESS,
            "t": began,
            "c": chair or None,
            "w": minutes_secretary or None,
            "id": meeting.id,
        },
    )
    bump(conn, meeting.id)


def close(conn: Connection, meeting: Row[Any], conclusion: str, closed_at: float | None = None) -> None:
    states.advance(meeting.state, states.CLOSED)
    ended = held_at(closed_at, "closed_at")
    if closed_at is not None and ended < meeting.started_at:
        raise InvalidArgument("closed_before_start", "a meeting ends after it began", field="closed_at")
    if closed_at is not None and ended - meeting.started_at > DAY:
        raise InvalidArgument("meeting_too_long", "a meeting ends less than a day after it began", field="closed_at")
    open_polls = conn.execute(
        sa.text("SELECT COUNT(*) FROM polls WHERE meeting_id = :m AND state = 'open'"), {"m": meeting.id}
    ).scalar_one()
    if open_polls:
        raise FailedPrecondition("polls_open", "close every poll before closing the meeting", open_polls=open_polls)
    conclusion = _text(conclusion, "conclusion", MAX_TEXT)
    conn.execute(
        sa.text(
            "UPDATE meetings SET state = :s, closed_at = :t, conclusion = CASE WHEN :c = '' THEN conclusion "
            "ELSE :c END WHERE id = :id"
        ),
        {"s": states.CLOSED, "t": ended, "c": conclusion, "id": meeting.id},
    )
    bump(conn, meeting.id)
    facts.emit_held(conn, meeting.id)


def publish_resolution(conn: Connection, meeting: Row[Any], text: str, document_id: str) -> list[str]:
    states.require(meeting.state, "publish_resolution")
    text = _text(text, "text", MAX_TEXT)
    doc = require_id(document_id, "document_id") if document_id else None
    if not text and not doc:
        raise InvalidArgument("resolution_required", "a resolution needs its text or a document id", field="text")
    now = time.time()
    conn.execute(
        sa.text(
            "UPDATE meetings SET state = :s, resolution_text = :x, resolution_document_id = :d, "
            "resolution_published_at = :t WHERE id = :id"
        ),
        {"s": states.RESOLUTION_PUBLISHED, "x": text, "d": doc, "t": now, "id": meeting.id},
    )
    bump(conn, meeting.id)
    members = roster_member_ids(conn, meeting.id)
    emit(conn, meeting.id, ResolutionPublished(meeting_id=meeting.id, cell_unit_id=meeting.cell_unit_id,
                                               title=meeting.title, member_ids=members))
    facts.emit_held(conn, meeting.id)
    return members


def roster_member_ids(conn: Connection, meeting_id: str) -> list[str]:
    return list(
        conn.execute(
            sa.text("SELECT member_id FROM roster WHERE meeting_id = :m ORDER BY name_order"), {"m": meeting_id}
        ).scalars()
    )


def delete(conn: Connection, meeting: Row[Any]) -> None:
    states.require(meeting.state, "delete")
    conn.execute(sa.text("DELETE FROM agenda_items WHERE meeting_id = :m"), {"m": meeting.id})
    conn.execute(sa.text("DELETE FROM meeting_documents WHERE meeting_id = :m"), {"m": meeting.id})
    conn.execute(sa.text("DELETE FROM meetings WHERE id = :m"), {"m": meeting.id})


def list_meetings(
    conn: Connection, cell_id: str, month: str, state: str, offset: int, limit: int
) -> tuple[list[Row[Any]], int]:
    where = ["m.cell_unit_id = :cell"]
    params: dict[str, Any] = {"cell": cell_id}
    if month:
        where.append("m.month = :month")
        params["month"] = check_month(month)
    if state:
        where.append("m.state = :state")
        params["state"] = state
    order = "m.starts_at DESC, m.session_order, m.id"
    return counted_page(conn, "meetings m", " AND ".join(where), order, params, offset, limit, COLUMNS)
