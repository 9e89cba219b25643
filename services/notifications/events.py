"""Events from other services, turned into inbox items (worker `consume`).

Sources and topics follow docs/SERVICE-GUIDE.md:
  documents  documents.document.published / version_added -> a bulletin of kind "document" addressed
             to the document's audience units (fan-out on read, like any bulletin)
  meetings   meeting announced (+ its documents), poll opened, resolution published, task assigned,
             task due soon -> personal notifications for the listed members
  identity   identity.member.transferred / deactivated -> forget the member's place for channel
             fan-out until their next call (their inbox itself always follows their token)

Each event is applied once: EventConsumer records its id in the same transaction, and every item
also carries a dedupe key, so a re-published fact (a new event id for the same thing) is not
doubled either. Events of one source are applied in their log order by a single consumer, so a
member sees "task assigned" before "task due soon". Run one `consume` replica.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from services.core.db import Database
from services.core.outbox import Event, EventConsumer, Fetch, dispatch, run_consumers, service_consumer
from services.notifications import bulletins, inbox, personal
from services.notifications.delivery.queue import timezone

log = logging.getLogger("sotay.notifications.events")

TOPICS = {
    "documents": ["documents.document.published", "documents.document.version_added"],
    "meetings": [
        "meetings.meeting.announced",
        "meetings.poll.opened",
        "meetings.resolution.published",
        "meetings.task.assigned",
        "meetings.task.due_soon",
    ],
    "identity": ["identity.member.transferred", "identity.member.deactivated"],
}


def _ids(payload: dict[str, Any], key: str) -> list[str]:
    value = payload.get(key) or []
    return [str(v) for v in value if v] if isinstance(value, list) else []


def _local_time(value: Any) -> str:
    """An event's time (epoch seconds or ISO 8601) as members read it, in their time zone:
    "19:30 ngày 05/12/2026"; anything else as it came."""
    try:
        if isinstance(value, int | float):
            at = dt.datetime.fromtimestamp(value, dt.UTC)
        else:
            at = dt.datetime.fromisoformat(str(value))
            at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    except (TypeError, ValueError, OverflowError):
        return str(value)
    return at.astimezone(timezone()).strftime("%H:%M ngày %d/%m/%Y")


def _s(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    return "" if value is None else str(value)


def _document_published(conn: Connection, event: Event) -> None:
    p = event.payload
    doc_id = _s(p, "document_id") or event.key
    audience = _ids(p, "audience_unit_ids")
    source_key = f"document:{doc_id}"
    if not audience or bulletins.by_source_key(conn, source_key) is not None:
        return
    number = _s(p, "number")
    title = f"{number} {_s(p, 'title')}".strip() if number else _s(p, "title")
    _document_item(
        conn,
        doc_id,
        title or "Văn bản mới",
        audience,
        _s(p, "publisher_unit_id"),
        float(p.get("published_at") or time.time()),
        source_key,
    )


def _document_version(conn: Connection, event: Event) -> None:
    p = event.payload
    doc_id = _s(p, "document_id") or event.key
    version = _s(p, "version")
    source_key = f"document:{doc_id}:v{version}"
    if bulletins.by_source_key(conn, source_key) is not None:
        return
    first = bulletins.by_source_key(conn, f"document:{doc_id}")
    audience = _ids(p, "audience_unit_ids") or (bulletins.audience(conn, first.id) if first else [])
    if not audience:
        return
    title = f"{first.title} (phiên bản {version})" if first else f"Văn bản cập nhật (phiên bản {version})"
    _document_item(
        conn,
        doc_id,
        title,
        audience,
        first.publisher_unit_id if first else audience[0],
        time.time(),
        source_key,
    )


def _document_item(
    conn: Connection,
    doc_id: str,
    title: str,
    audience: list[str],
    publisher: str,
    published_at: float,
    source_key: str,
) -> None:
    draft = bulletins.Draft(
        publisher or audience[0], "document", title[:300], "", audience, [doc_id], published_at, None, False
    )
    now = time.time()
    draft = bulletins.validate(draft, min(now, published_at))
    draft.publish_at = min(published_at, now) if published_at else now
    bulletins.insert(conn, draft, "", now, source_key=source_key)


def _meeting_announced(conn: Connection, event: Event) -> None:
    p = event.payload
    meeting_id = _s(p, "meeting_id") or event.key
    members = _ids(p, "member_ids")
    title = _s(p, "title") or "Sinh hoạt chi bộ"
    starts = _s(p, "starts_at")
    link = {"meeting_id": meeting_id}
    when = _local_time(p["starts_at"]) if starts else ""
    personal.notify(
        conn,
        members,
        "meeting_announced",
        f"Thông báo họp: {title}",
        f"Thời gian: {when}" if when else "",
        link,
        f"meeting_announced:{meeting_id}:{starts}",
    )
    docs = _ids(p, "document_ids")
    if docs:
        digest = hashlib.sha256(",".join(sorted(docs)).encode()).hexdigest()[:16]
        personal.notify(
            conn,
            members,
            "meeting_documents",
            f"Tài liệu trước buổi họp: {title}",
            f"{len(docs)} tài liệu cần đọc trước buổi họp",
            {**link, "document_ids": docs},
            f"meeting_documents:{meeting_id}:{digest}",
        )


def _poll_opened(conn: Connection, event: Event) -> None:
    p = event.payload
    poll_id = _s(p, "poll_id") or event.key
    personal.notify(
        conn,
        _ids(p, "eligible_member_ids"),
        "poll_opened",
        "Mở biểu quyết",
        _s(p, "question"),
        {"meeting_id": _s(p, "meeting_id"), "poll_id": poll_id},
        f"poll_opened:{poll_id}",
    )


def _resolution(conn: Connection, event: Event) -> None:
    p = event.payload
    meeting_id = _s(p, "meeting_id") or event.key
    personal.notify(
        conn,
        _ids(p, "member_ids"),
        "resolution_published",
        f"Nghị quyết: {_s(p, 'title')}",
        "",
        {"meeting_id": meeting_id},
        f"resolution_published:{meeting_id}",
    )


def _task_assigned(conn: Connection, event: Event) -> None:
    p = event.payload
    task_id = _s(p, "task_id") or event.key
    due = _s(p, "due_on")
    personal.notify(
        conn,
        _ids(p, "assignee_member_ids"),
        "task_assigned",
        f"Nhiệm vụ: {_s(p, 'title')}",
        f"Hạn: {due}" if due else "",
        {"meeting_id": _s(p, "meeting_id"), "task_id": task_id},
        f"task_assigned:{task_id}",
    )


def _task_due(conn: Connection, event: Event) -> None:
    p = event.payload
    task_id = _s(p, "task_id") or event.key
    due = _s(p, "due_on")
    personal.notify(
        conn,
        _ids(p, "assignee_member_ids"),
        "task_due_soon",
        f"Sắp đến hạn: {_s(p, 'title')}",
        f"Hạn: {due}" if due else "",
        {"task_id": task_id},
        f"task_due_soon:{task_id}:{due}",
    )


def _member_moved(conn: Connection, event: Event) -> None:
    inbox.forget(conn, _s(event.payload, "member_id") or event.key)


HANDLERS: dict[str, Callable[[Connection, Event], None]] = {
    "documents.document.published": _document_published,
    "documents.document.version_added": _document_version,
    "meetings.meeting.announced": _meeting_announced,
    "meetings.poll.opened": _poll_opened,
    "meetings.resolution.published": _resolution,
    "meetings.task.assigned": _task_assigned,
    "meetings.task.due_soon": _task_due,
    "identity.member.transferred": _member_moved,
    "identity.member.deactivated": _member_moved,
}


# Unknown topics are skipped (producers may add topics freely); a malformed event is skipped.
handle = dispatch(HANDLERS)


def consumer(db: Database, source: str, fetch: Fetch) -> EventConsumer:
    return EventConsumer(db, source, fetch, handle)


def grpc_consumer(db: Database, source: str) -> EventConsumer:
    return service_consumer(db, source, TOPICS[source], handle)


def run(db: Database, stop: threading.Event) -> None:
    """Worker `consume`: one thread per source."""
    run_consumers(db, stop, TOPICS, handle)
