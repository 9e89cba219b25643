"""Transactional outbox: events written with the change, numbered by a relay, read by cursor.

- `emit()` inserts an event in the caller's transaction (unnumbered).
- The relay (`python -m services.<name> relay`) numbers committed events in commit order under
  a lock, so a consumer reading `seq > cursor` never skips an event that committed late.
- `EventLogServicer` serves numbered events over gRPC (sotay.events.v1).
- `EventConsumer` pulls another service's log and applies each event once: the handler's
  writes, the processed-event mark and the cursor move commit in one transaction.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.engine import Connection

from services.core.db import Database, execute
from services.core.metrics import OUTBOX_RELAYED
from sotay.events.v1 import events_pb2, events_pb2_grpc

log = logging.getLogger("sotay.outbox")

OUTBOX_STATEMENTS = (
    "CREATE TABLE outbox (id TEXT PRIMARY KEY, seq BIGINT UNIQUE, topic TEXT NOT NULL, "
    "key TEXT NOT NULL, payload TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX outbox_unnumbered ON outbox (created_at) WHERE seq IS NULL",
    "CREATE TABLE event_cursors (source TEXT PRIMARY KEY, seq BIGINT NOT NULL)",
    "CREATE TABLE processed_events (id TEXT PRIMARY KEY, processed_at DOUBLE PRECISION NOT NULL)",
)


@dataclass(frozen=True)
class Event:
    id: str
    seq: int
    topic: str
    key: str
    payload: dict[str, Any]


def emit(conn: Connection, topic: str, key: str, payload: dict[str, Any]) -> str:
    event_id = str(uuid.uuid4())
    execute(
        conn,
        "INSERT INTO outbox (id, seq, topic, key, payload, created_at) VALUES (:id, NULL, :topic, :key, :payload, :at)",
        {"id": event_id, "topic": topic, "key": key, "payload": json.dumps(payload), "at": time.time()},
    )
    return event_id


def relay_once(db: Database, service: str, batch: int = 1000) -> int:
    """Number up to `batch` committed events; returns how many were numbered."""
    with db.write() as conn:
        db.lock(conn, f"outbox-relay:{service}")
        ids = list(
            conn.execute(
                sa.text("SELECT id FROM outbox WHERE seq IS NULL ORDER BY created_at, id LIMIT :n"),
                {"n": batch},
            ).scalars()
        )
        if not ids:
            return 0
        top = conn.execute(sa.text("SELECT COALESCE(MAX(seq), 0) FROM outbox")).scalar_one()
        conn.execute(
            sa.text("UPDATE outbox SET seq = :seq WHERE id = :id"),
            [{"seq": top + i + 1, "id": event_id} for i, event_id in enumerate(ids)],
        )
    OUTBOX_RELAYED.labels(service).inc(len(ids))
    return len(ids)


def run_relay(db: Database, service: str, stop: threading.Event, idle_sleep: float = 0.1) -> None:
    while not stop.is_set():
        try:
            if relay_once(db, service) == 0:
                stop.wait(idle_sleep)
        except sa.exc.OperationalError:
            log.warning("relay: database unavailable, retrying", exc_info=True)
            stop.wait(1.0)


def read_events(
    conn: Connection, after_seq: int, limit: int, topic_prefixes: list[str]
) -> tuple[list[Event], int]:
    found = conn.execute(
        sa.text(
            "SELECT id, seq, topic, key, payload FROM outbox "
            "WHERE seq > :after ORDER BY seq LIMIT :n"
        ),
        {"after": after_seq, "n": limit},
    ).all()
    last = found[-1].seq if found else after_seq
    events = [
        Event(r.id, r.seq, r.topic, r.key, json.loads(r.payload))
        for r in found
        if not topic_prefixes or r.topic.startswith(tuple(topic_prefixes))
    ]
    return events, last


class EventLogServicer(events_pb2_grpc.EventLogServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    def ListEvents(
        self, request: events_pb2.ListEventsRequest, context: grpc.ServicerContext
    ) -> events_pb2.ListEventsResponse:
        size = min(max(request.page_size or 100, 1), 1000)
        with self.db.read() as conn:
            events, last = read_events(conn, request.after_seq, size, list(request.topic_prefixes))
        return events_pb2.ListEventsResponse(
            events=[
                events_pb2.Event(
                    id=e.id, seq=e.seq, topic=e.topic, key=e.key, payload_json=json.dumps(e.payload)
                )
                for e in events
            ],
            last_seq=last,
        )


def add_event_log(server: grpc.Server, db: Database) -> str:
    events_pb2_grpc.add_EventLogServiceServicer_to_server(EventLogServicer(db), server)
    return str(events_pb2.DESCRIPTOR.services_by_name["EventLogService"].full_name)


Fetch = Callable[[int], tuple[list[Event], int]]
Handler = Callable[[Connection, Event], None]


def grpc_fetch(channel: grpc.Channel, topic_prefixes: list[str], page_size: int = 500) -> Fetch:
    stub = events_pb2_grpc.EventLogServiceStub(channel)

    def fetch(after: int) -> tuple[list[Event], int]:
        reply = stub.ListEvents(
            events_pb2.ListEventsRequest(after_seq=after, page_size=page_size, topic_prefixes=topic_prefixes),
            timeout=10,
        )
        events = [Event(e.id, e.seq, e.topic, e.key, json.loads(e.payload_json)) for e in reply.events]
        return events, reply.last_seq

    return fetch


class EventConsumer:
    """Applies events from `source` to this service's database, each exactly once."""

    def __init__(self, db: Database, source: str, fetch: Fetch, handle: Handler) -> None:
        self.db = db
        self.source = source
        self.fetch = fetch
        self.handle = handle

    def cursor(self) -> int:
        with self.db.read() as conn:
            seq = conn.execute(
                sa.text("SELECT seq FROM event_cursors WHERE source = :s"), {"s": self.source}
            ).scalar()
        return int(seq or 0)

    def poll_once(self) -> int:
        events, last = self.fetch(self.cursor())
        applied = 0
        with self.db.write() as conn:
            for event in events:
                seen = conn.execute(
                    sa.text("SELECT 1 FROM processed_events WHERE id = :id"), {"id": event.id}
                ).first()
                if seen:
                    continue
                self.handle(conn, event)
                conn.execute(
                    sa.text("INSERT INTO processed_events (id, processed_at) VALUES (:id, :t)"),
                    {"id": event.id, "t": time.time()},
                )
                applied += 1
            self._save_cursor(conn, last)
        return applied

    def run(self, stop: threading.Event, idle_sleep: float = 0.5) -> None:
        """Poll until `stop`; an unreachable source or database (or a race with another
        consumer, which the unique event id refuses) is retried."""
        while not stop.is_set():
            try:
                if self.poll_once() == 0:
                    stop.wait(idle_sleep)
            except grpc.RpcError as exc:  # the source is down or starting: one line, no trace
                code = exc.code() if isinstance(exc, grpc.Call) else None
                log.warning("consumer %s: source unavailable (%s), retrying", self.source, code)
                stop.wait(2.0)
            except (sa.exc.OperationalError, sa.exc.IntegrityError):
                log.warning("consumer %s: database unavailable or event raced, retrying", self.source, exc_info=True)
                stop.wait(2.0)

    def _save_cursor(self, conn: Connection, seq: int) -> None:
        updated = conn.execute(
            sa.text("UPDATE event_cursors SET seq = :q WHERE source = :s AND seq < :q"),
            {"s": self.source, "q": seq},
        ).rowcount
        if not updated:
            exists = conn.execute(
                sa.text("SELECT 1 FROM event_cursors WHERE source = :s"), {"s": self.source}
            ).first()
            if not exists:
                conn.execute(
                    sa.text("INSERT INTO event_cursors (source, seq) VALUES (:s, :q)"),
                    {"s": self.source, "q": seq},
                )


def timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def dispatch(handlers: dict[str, Handler]) -> Handler:
    """A handler applying each event with the function for its topic; other topics are skipped.
    An event that cannot be applied (a payload that is not an object or lacks what its handler
    reads, a change the service refuses) is logged and skipped inside a savepoint, so that one
    bad event never blocks the log."""
    from services.core.errors import ServiceError

    def handle(conn: Connection, event: Event) -> None:
        handler = handlers.get(event.topic)
        if handler is None:
            return
        fields: dict[str, Any] = {"id": event.id, "topic": event.topic}
        if not isinstance(event.payload, dict):
            log.warning("event with a non-object payload skipped", extra={"fields": fields})
            return
        try:
            with conn.begin_nested():
                handler(conn, event)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("event skipped", extra={"fields": {**fields, "error": str(exc)}})
        except ServiceError as exc:
            log.warning("event skipped", extra={"fields": {**fields, "reason": exc.reason}})

    return handle


def service_consumer(db: Database, source: str, topic_prefixes: list[str], handle: Handler) -> EventConsumer:
    """A consumer of service `source`'s event log over gRPC (its address from <SOURCE>_ADDR)."""
    from services.core.clients import make_channel
    from services.core.config import service_addr

    channel = make_channel(service_addr(source), [events_pb2.DESCRIPTOR.services_by_name["EventLogService"]])
    return EventConsumer(db, source, grpc_fetch(channel, topic_prefixes), handle)


def run_consumers(db: Database, stop: threading.Event, topics: dict[str, list[str]], handle: Handler) -> None:
    """A `consume` worker: one consumer thread per source service (its topics), until `stop`."""
    threads = [
        threading.Thread(
            target=service_consumer(db, source, prefixes, handle).run, args=(stop,), name=f"consume-{source}",
            daemon=True,
        )
        for source, prefixes in topics.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
