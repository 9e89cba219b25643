"""Events from other services, turned into inbox items (worker `consume`).

Sources and messages (protos/sotay/events/v1):
  documents  DocumentPublished / DocumentVersionAdded -> a bulletin of kind "document" addressed
             to the document's audience units (fan-out on read, like any bulletin)
  meetings   meeting announced (+ its documents), poll opened, resolution published, task assigned,
             task due soon -> personal notifications for the listed members
  identity   MemberTransferred / MemberDeactivated -> forget the member's place for channel
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
from collections.abc import Iterable

from sqlalchemy.engine import Connection

from services.core.db import Database
from services.core.events import On, Subscriptions
from services.core.outbox import EventConsumer, Fetch, run_consumers, service_consumer
from services.notifications import bulletins, inbox, personal
from services.notifications.delivery.queue import timezone
from sotay.events.v1.documents_events_pb2 import DocumentPublished, DocumentVersionAdded
from sotay.events.v1.identity_events_pb2 import MemberDeactivated, MemberTransferred
from sotay.events.v1.meetings_events_pb2 import (
    MeetingAnnounced,
    PollOpened,
    ResolutionPublished,
    TaskAssigned,
    TaskDueSoon,
)

log = logging.getLogger("sotay.notifications.events")


def _ids(values: Iterable[str]) -> list[str]:
    return [v for v in values if v]


def _local_time(at: float) -> str:
    """An event's time (epoch seconds) as members read it, in their time zone: "19:30 ngày 05/12/2026"."""
    try:
        moment = dt.datetime.fromtimestamp(at, dt.UTC)
    except (ValueError, OverflowError, OSError):
        return ""
    return moment.astimezone(timezone()).strftime("%H:%M ngày %d/%m/%Y")


def _document_published(conn: Connection, p: DocumentPublished) -> None:
    audience = _ids(p.audience_unit_ids)
    source_key = f"document:{p.document_id}"
    if not p.document_id or not audience or bulletins.by_source_key(conn, source_key) is not None:
        return
    title = f"{p.number} {p.title}".strip() if p.number else p.title
    _document_item(
        conn,
        p.document_id,
        title or "Văn bản mới",
        audience,
        p.publisher_unit_id,
        p.published_at or time.time(),
        source_key,
    )


def _document_version(conn: Connection, p: DocumentVersionAdded) -> None:
    doc_id, version = p.document_id, p.version
    source_key = f"document:{doc_id}:v{version}"
    if not doc_id or bulletins.by_source_key(conn, source_key) is not None:
        return
    first = bulletins.by_source_key(conn, f"document:{doc_id}")
    audience = _ids(p.audience_unit_ids) or (bulletins.audience(conn, first.id) if first else [])
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


def _meeting_announced(conn: Connection, p: MeetingAnnounced) -> None:
    members = _ids(p.member_ids)
    title = p.title or "Sinh hoạt chi bộ"
    starts = str(p.starts_at) if p.starts_at else ""
    link = {"meeting_id": p.meeting_id}
    when = _local_time(p.starts_at) if p.starts_at else ""
    personal.notify(
        conn,
        members,
        "meeting_announced",
        f"Thông báo họp: {title}",
        f"Thời gian: {when}" if when else "",
        link,
        f"meeting_announced:{p.meeting_id}:{starts}",
    )
    docs = _ids(p.document_ids)
    if docs:
        digest = hashlib.sha256(",".join(sorted(docs)).encode()).hexdigest()[:16]
        personal.notify(
            conn,
            members,
            "meeting_documents",
            f"Tài liệu trước buổi họp: {title}",
            f"{len(docs)} tài liệu cần đọc trước buổi họp",
            {**link, "document_ids": docs},
            f"meeting_documents:{p.meeting_id}:{digest}",
        )


def _poll_opened(conn: Connection, p: PollOpened) -> None:
    personal.notify(
        conn,
        _ids(p.eligible_member_ids),
        "poll_opened",
        "Mở biểu quyết",
        p.question,
        {"meeting_id": p.meeting_id, "poll_id": p.poll_id},
        f"poll_opened:{p.poll_id}",
    )


def _resolution(conn: Connection, p: ResolutionPublished) -> None:
    personal.notify(
        conn,
        _ids(p.member_ids),
        "resolution_published",
        f"Nghị quyết: {p.title}",
        "",
        {"meeting_id": p.meeting_id},
        f"resolution_published:{p.meeting_id}",
    )


def _task_assigned(conn: Connection, p: TaskAssigned) -> None:
    personal.notify(
        conn,
        _ids(p.assignee_member_ids),
        "task_assigned",
        f"Nhiệm vụ: {p.title}",
        f"Hạn: {p.due_on}" if p.due_on else "",
        {"meeting_id": p.meeting_id, "task_id": p.task_id},
        f"task_assigned:{p.task_id}",
    )


def _task_due(conn: Connection, p: TaskDueSoon) -> None:
    personal.notify(
        conn,
        _ids(p.assignee_member_ids),
        "task_due_soon",
        f"Sắp đến hạn: {p.title}",
        f"Hạn: {p.due_on}" if p.due_on else "",
        {"task_id": p.task_id},
        f"task_due_soon:{p.task_id}:{p.due_on}",
    )


def _member_moved(conn: Connection, p: MemberTransferred | MemberDeactivated) -> None:
    inbox.forget(conn, p.member_id)


# Other topics are skipped (producers may add topics freely); a malformed event is skipped.
handle = Subscriptions(
    "notifications",
    On(DocumentPublished, _document_published),
    On(DocumentVersionAdded, _document_version),
    On(MeetingAnnounced, _meeting_announced),
    On(PollOpened, _poll_opened),
    On(ResolutionPublished, _resolution),
    On(TaskAssigned, _task_assigned),
    On(TaskDueSoon, _task_due),
    On(MemberTransferred, _member_moved),
    On(MemberDeactivated, _member_moved),
)
TOPICS = handle.sources()


def consumer(db: Database, source: str, fetch: Fetch) -> EventConsumer:
    return EventConsumer(db, source, fetch, handle)


def grpc_consumer(db: Database, source: str) -> EventConsumer:
    return service_consumer(db, source, TOPICS[source], handle)


def run(db: Database, stop: threading.Event) -> None:
    """Worker `consume`: one thread per source."""
    run_consumers(db, stop, TOPICS, handle)
