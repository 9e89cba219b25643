"""Transactional outbox: events written with the change, numbered by a relay, read by cursor.

- `emit()` inserts an event (a typed message, services/core/events.py) in the caller's
  transaction (unnumbered).
- The relay (`python -m services.<name> relay`) numbers committed events in commit order under
  a lock, so a consumer reading `seq > cursor` never skips an event that committed late.
- `EventLogServicer` serves numbered events over gRPC (sotay.events.v1).
- `EventConsumer` pulls another service's log and applies each event once: the handler's
  writes, the processed-event mark and the cursor move commit in one transaction.

Epochs: a log restored from a backup numbers new events from where the backup stopped, below
cursors consumers may hold. Each log therefore has an epoch (a random id, a new one whenever the
database is restored or found to be another incarnation, see `ensure_epoch`); a consumer keeps
the epoch with its cursor and, on meeting a newer one, goes back to the restore point and reads
on from there (what it had applied already is skipped by id).

Pruning: numbered events older than OUTBOX_RETENTION_SECONDS that every known reader has read
are deleted by the relay; processed-event marks older than PROCESSED_EVENTS_RETENTION_SECONDS by
the consumers (docs/operations.md, "Event logs").
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
from google.protobuf.message import Message
from sqlalchemy.engine import Connection

from services.core.config import SERVICE_PORTS, env_float
from services.core.db import Database, Migration, execute
from services.core.events import encode, topic_of
from services.core.liveness import LOOPS
from services.core.metrics import (
    CONSUMER_APPLIED,
    CONSUMER_CURSOR,
    CONSUMER_LAG,
    OUTBOX_RELAYED,
    gauge,
    register_collector,
)
from sotay.events.v1 import events_pb2, events_pb2_grpc

log = logging.getLogger("sotay.outbox")

OUTBOX_STATEMENTS = (
    "CREATE TABLE outbox (id TEXT PRIMARY KEY, seq BIGINT UNIQUE, topic TEXT NOT NULL, "
    "key TEXT NOT NULL, payload TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX outbox_unnumbered ON outbox (created_at) WHERE seq IS NULL",
    "CREATE TABLE event_cursors (source TEXT PRIMARY KEY, seq BIGINT NOT NULL)",
    "CREATE TABLE processed_events (id TEXT PRIMARY KEY, processed_at DOUBLE PRECISION NOT NULL)",
)

# Added to every service's MIGRATIONS after its own (versions 1001+ are the event log's).
OUTBOX_MIGRATIONS = (
    Migration(
        1001,
        "event log epochs, readers, pruning indexes",
        (
            "CREATE TABLE event_log_epochs (id TEXT PRIMARY KEY, base_seq BIGINT NOT NULL, "
            "started_at DOUBLE PRECISION NOT NULL, fingerprint TEXT NOT NULL)",
            "CREATE TABLE event_readers (reader TEXT PRIMARY KEY, epoch TEXT NOT NULL, seq BIGINT NOT NULL, "
            "seen_at DOUBLE PRECISION NOT NULL)",
            "ALTER TABLE event_cursors ADD COLUMN epoch TEXT",
            "CREATE INDEX processed_events_at ON processed_events (processed_at)",
            "CREATE INDEX outbox_created ON outbox (created_at) WHERE seq IS NOT NULL",
        ),
    ),
)
DAY = 86400.0


@dataclass(frozen=True)
class Event:
    id: str
    seq: int
    topic: str
    key: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Epoch:
    id: str
    base_seq: int


class Page(tuple[list[Event], int, tuple[Epoch, ...], int]):
    """What a fetch returns: events, the last seq scanned, the log's epochs (oldest first;
    empty from a source that has none) and the log's head seq (-1: not told)."""

    __slots__ = ()

    def __new__(cls, events: list[Event], last: int, epochs: tuple[Epoch, ...] = (), head: int = -1) -> Page:
        return super().__new__(cls, (events, last, epochs, head))


def fingerprint(conn: Connection) -> str:
    """What identifies this incarnation of the database: on PostgreSQL the cluster's system id,
    its timeline (a point-in-time recovery or a promoted standby starts a new one) and the
    database's oid (a database created anew for a restore has another). SQLite: none (a restore
    through `sotay restore` starts the epoch itself)."""
    if conn.dialect.name != "postgresql":
        return "sqlite"
    oid = conn.execute(sa.text("SELECT oid FROM pg_database WHERE datname = current_database()")).scalar_one()
    try:
        with conn.begin_nested():
            system, timeline = conn.execute(
                sa.text("SELECT (SELECT system_identifier FROM pg_control_system()), "
                        "(SELECT timeline_id FROM pg_control_checkpoint())")
            ).one()
    except sa.exc.DBAPIError:  # pg_control_* need pg_monitor on some servers: the oid alone then
        return f"db{oid}"
    return f"{system}/{timeline}/db{oid}"


def epochs(conn: Connection) -> tuple[Epoch, ...]:
    found = conn.execute(sa.text("SELECT id, base_seq FROM event_log_epochs ORDER BY started_at, id")).all()
    return tuple(Epoch(r.id, int(r.base_seq)) for r in found)


def start_epoch(conn: Connection, mark: str) -> Epoch:
    """A new epoch beginning at the log's highest seq (call under the relay lock)."""
    top = int(conn.execute(sa.text("SELECT COALESCE(MAX(seq), 0) FROM outbox")).scalar_one())
    new = Epoch(uuid.uuid4().hex, top)
    conn.execute(
        sa.text("INSERT INTO event_log_epochs (id, base_seq, started_at, fingerprint) VALUES (:i, :b, :t, :f)"),
        {"i": new.id, "b": new.base_seq, "t": time.time(), "f": mark},
    )
    return new


def ensure_epoch(db: Database, service: str, restored: bool = False) -> Epoch:
    """The current epoch of the log, started anew when there is none, when the database is not
    the incarnation the last epoch was started in (restored into a new database, recovered to a
    point in time, a standby promoted), or when `restored` says so (`sotay restore`)."""
    with db.write() as conn:
        db.lock(conn, f"outbox-relay:{service}")
        mark = fingerprint(conn)
        last = conn.execute(
            sa.text("SELECT id, base_seq, fingerprint FROM event_log_epochs ORDER BY started_at DESC, id DESC LIMIT 1")
        ).first()
        if last is not None and last.fingerprint == mark and not restored:
            return Epoch(last.id, int(last.base_seq))
        new = start_epoch(conn, mark)
        if last is not None:
            log.warning("event log: new epoch (database restored or another incarnation)",
                        extra={"fields": {"service": service, "epoch": new.id, "base_seq": new.base_seq}})
        return new


def emit(conn: Connection, key: str, event: Message) -> str:
    """Write `event` under its topic (declared in protos/sotay/events/v1) for the aggregate `key`."""
    event_id = str(uuid.uuid4())
    execute(
        conn,
        "INSERT INTO outbox (id, seq, topic, key, payload, created_at) VALUES (:id, NULL, :topic, :key, :payload, :at)",
        {"id": event_id, "topic": topic_of(event), "key": key, "payload": encode(event), "at": time.time()},
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


class Every:
    """True once every `seconds` (the first call included)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._next = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.seconds
        return True


def prune_interval() -> float:
    return env_float("OUTBOX_PRUNE_INTERVAL", 3600.0)


def unrelayed(db: Database, now: float | None = None) -> tuple[int, float]:
    """Committed events the relay has not numbered yet, and the age of the oldest (0 when none)."""
    with db.read() as conn:
        count, oldest = conn.execute(sa.text("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE seq IS NULL")).one()
    return int(count), (max((now or time.time()) - float(oldest), 0.0) if oldest is not None else 0.0)


def relay_metrics(db: Database, service: str) -> None:
    """The relay's lag, measured at each scrape of its process."""

    def measure() -> Any:
        count, age = unrelayed(db)
        yield gauge("sotay_outbox_unrelayed_events", "Committed events not yet numbered by the relay",
                    ["service"], [([service], count)])
        yield gauge("sotay_outbox_oldest_unrelayed_age_seconds",
                    "Age of the oldest committed event not yet numbered (0 when none)", ["service"], [([service], age)])

    register_collector("outbox relay", measure)


def run_relay(db: Database, service: str, stop: threading.Event, idle_sleep: float = 0.1) -> None:
    """Number events until `stop`; prune the log every OUTBOX_PRUNE_INTERVAL seconds."""
    ensure_epoch(db, service)
    relay_metrics(db, service)
    prune_due = Every(prune_interval())
    loop = LOOPS.loop(service, "relay", idle_sleep)
    while not stop.is_set():
        try:
            if prune_due():
                prune_outbox(db, service, outbox_retention())
            numbered = relay_once(db, service)
            loop.done()
            if numbered == 0:
                stop.wait(idle_sleep)
        except sa.exc.OperationalError:
            log.warning("relay: database unavailable, retrying", exc_info=True)
            loop.done(ok=False)
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
    EPOCHS_TTL = 5.0  # seconds a server serves the epochs it read (a restore restarts it anyway)
    READER_RECORD_INTERVAL = 10.0  # seconds between records of one reader's position

    def __init__(self, db: Database) -> None:
        self.db = db
        self._epochs: tuple[Epoch, ...] = ()
        self._epochs_at = -1e18
        self._recorded: dict[str, float] = {}

    def current_epochs(self) -> tuple[Epoch, ...]:
        now = time.monotonic()
        if now - self._epochs_at > self.EPOCHS_TTL:
            with self.db.read() as conn:
                self._epochs = epochs(conn)
            self._epochs_at = now
        return self._epochs

    def ListEvents(
        self, request: events_pb2.ListEventsRequest, context: grpc.ServicerContext
    ) -> events_pb2.ListEventsResponse:
        size = min(max(request.page_size or 100, 1), 1000)
        chain = self.current_epochs()
        with self.db.read() as conn:
            events, last = read_events(conn, request.after_seq, size, list(request.topic_prefixes))
            head = int(conn.execute(sa.text("SELECT COALESCE(MAX(seq), 0) FROM outbox")).scalar_one())
        if request.reader and chain:
            self._record_reader(request.reader[:100], chain[-1].id, request.after_seq)
        return events_pb2.ListEventsResponse(
            events=[
                events_pb2.Event(
                    id=e.id, seq=e.seq, topic=e.topic, key=e.key, payload_json=json.dumps(e.payload)
                )
                for e in events
            ],
            last_seq=last,
            head_seq=max(head, last),
            epochs=[events_pb2.Epoch(id=e.id, base_seq=e.base_seq) for e in chain],
        )

    def _record_reader(self, reader: str, epoch: str, seq: int) -> None:
        """Where `reader` has read to (what it asks after), at most every few seconds."""
        now = time.monotonic()
        if now - self._recorded.get(reader, -1e18) < self.READER_RECORD_INTERVAL:
            return
        self._recorded[reader] = now
        with self.db.write() as conn:
            params = {"r": reader, "e": epoch, "q": seq, "t": time.time()}
            if not execute(conn, "UPDATE event_readers SET epoch = :e, seq = :q, seen_at = :t WHERE reader = :r",
                           params):
                execute(conn, "INSERT INTO event_readers (reader, epoch, seq, seen_at) VALUES (:r, :e, :q, :t)",
                        params)


def add_event_log(server: grpc.Server, db: Database) -> str:
    events_pb2_grpc.add_EventLogServiceServicer_to_server(EventLogServicer(db), server)
    return str(events_pb2.DESCRIPTOR.services_by_name["EventLogService"].full_name)


Fetch = Callable[[int], tuple[list[Event], int] | Page]
Handler = Callable[[Connection, Event], None]


def grpc_fetch(channel: grpc.Channel, topic_prefixes: list[str], page_size: int = 500, reader: str = "") -> Fetch:
    """Pages of a service's log over gRPC; `reader` names a consumer whose position the source
    keeps (so pruning waits for it)."""
    stub = events_pb2_grpc.EventLogServiceStub(channel)

    def fetch(after: int) -> Page:
        reply = stub.ListEvents(
            events_pb2.ListEventsRequest(
                after_seq=after, page_size=page_size, topic_prefixes=topic_prefixes, reader=reader
            ),
            timeout=10,
        )
        events = [Event(e.id, e.seq, e.topic, e.key, json.loads(e.payload_json)) for e in reply.events]
        return Page(events, reply.last_seq, tuple(Epoch(e.id, e.base_seq) for e in reply.epochs), reply.head_seq)

    return fetch


def rewind_point(cursor: int, epoch: str | None, chain: tuple[Epoch, ...]) -> int | None:
    """Where a consumer at `cursor` of `epoch` reads on from in a log with epochs `chain`: None
    when nothing changed (or the consumer had no epoch yet); else the lowest restore point after
    its epoch, or 0 when its epoch is not in the chain (a discarded incarnation: read it all)."""
    if not chain or epoch is None or epoch == chain[-1].id:
        return None
    ids = [e.id for e in chain]
    later = chain[ids.index(epoch) + 1:] if epoch in ids else ()
    return min(cursor, *(e.base_seq for e in later)) if later else 0


class EventConsumer:
    """Applies events from `source` to this service's database, each exactly once."""

    def __init__(self, db: Database, source: str, fetch: Fetch, handle: Handler) -> None:
        self.db = db
        self.source = source
        self.fetch = fetch
        self.handle = handle
        self.lag: int | None = None  # events beyond the cursor at the last poll (None: not known yet)

    def position(self) -> tuple[int, str | None]:
        """The cursor and the epoch of the source's log it counts in."""
        with self.db.read() as conn:
            found = conn.execute(
                sa.text("SELECT seq, epoch FROM event_cursors WHERE source = :s"), {"s": self.source}
            ).first()
        return (int(found.seq), found.epoch) if found else (0, None)

    def cursor(self) -> int:
        return self.position()[0]

    def poll_once(self) -> int:
        cursor, epoch = self.position()
        page = self.fetch(cursor)
        events, last = page[0], page[1]
        chain: tuple[Epoch, ...] = page[2] if isinstance(page, Page) else ()
        head = page[3] if isinstance(page, Page) else -1
        current = chain[-1].id if chain else None
        resume = rewind_point(cursor, epoch, chain)
        if resume is not None and current is not None:
            self._rewind(epoch, current, resume)
            return 0
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
            self._save_cursor(conn, last, current)
        self._measured(last, head, applied)
        return applied

    def _measured(self, cursor: int, head: int, applied: int) -> None:
        service = self.db.service
        CONSUMER_CURSOR.labels(service, self.source).set(cursor)
        CONSUMER_APPLIED.labels(service, self.source).inc(applied)
        if head >= 0:  # a source that tells its head (every gRPC log; 0: an empty log)
            self.lag = max(head - cursor, 0)
            CONSUMER_LAG.labels(service, self.source).set(self.lag)

    def _rewind(self, old: str | None, new: str, seq: int) -> None:
        """Move the cursor to `seq` of epoch `new` (if no other replica did it first)."""
        with self.db.write() as conn:
            moved = execute(
                conn, "UPDATE event_cursors SET seq = :q, epoch = :n WHERE source = :s AND epoch = :o",
                {"q": seq, "n": new, "s": self.source, "o": old},
            )
        if moved:
            log.warning("consumer %s: the source's log was restored (new epoch), reading again from %d",
                        self.source, seq, extra={"fields": {"source": self.source, "epoch": new, "seq": seq}})

    def prune_processed(self, retention: float) -> int:
        """Forget processed-event marks older than `retention` seconds (0: keep all)."""
        return prune_processed(self.db, retention)

    def run(self, stop: threading.Event, idle_sleep: float = 0.5) -> None:
        """Poll until `stop`; an unreachable source or database (or a race with another
        consumer, which the unique event id refuses) is retried."""
        prune_due = Every(prune_interval())
        # The fetch waits up to 10 s for a source that does not answer: a round may take that long.
        loop = LOOPS.loop(self.db.service, f"consume-{self.source}", idle_sleep, minimum=60.0)
        while not stop.is_set():
            try:
                if prune_due():
                    prune_processed(self.db, processed_retention())
                applied = self.poll_once()
                loop.done()
                if applied == 0:
                    stop.wait(idle_sleep)
            except grpc.RpcError as exc:  # the source is down or starting: one line, no trace
                code = exc.code() if isinstance(exc, grpc.Call) else None
                log.warning("consumer %s: source unavailable (%s), retrying", self.source, code)
                loop.done(ok=False)
                stop.wait(2.0)
            except (sa.exc.OperationalError, sa.exc.IntegrityError):
                log.warning("consumer %s: database unavailable or event raced, retrying", self.source, exc_info=True)
                loop.done(ok=False)
                stop.wait(2.0)

    def _save_cursor(self, conn: Connection, seq: int, epoch: str | None) -> None:
        """Move forward within the page's epoch (a cursor of another epoch is left for `_rewind`)."""
        same_epoch = "" if epoch is None else ", epoch = :e WHERE (epoch IS NULL OR epoch = :e) AND"
        updated = conn.execute(
            sa.text(f"UPDATE event_cursors SET seq = :q{same_epoch or ' WHERE'} source = :s AND seq < :q"),
            {"s": self.source, "q": seq, "e": epoch},
        ).rowcount
        if not updated:
            exists = conn.execute(
                sa.text("SELECT 1 FROM event_cursors WHERE source = :s"), {"s": self.source}
            ).first()
            if not exists:
                conn.execute(
                    sa.text("INSERT INTO event_cursors (source, seq, epoch) VALUES (:s, :q, :e)"),
                    {"s": self.source, "q": seq, "e": epoch},
                )


def outbox_retention() -> float:
    return env_float("OUTBOX_RETENTION_SECONDS", 7 * DAY)


def processed_retention() -> float:
    return env_float("PROCESSED_EVENTS_RETENTION_SECONDS", 35 * DAY)


def prune_outbox(db: Database, service: str, retention: float, reader_expiry: float | None = None,
                 batch: int = 5000) -> int:
    """Delete numbered events older than `retention` seconds that every known reader has read;
    returns how many. Known readers: the consumers that pulled this log (event_readers) in the
    last `reader_expiry` seconds (OUTBOX_READER_EXPIRY_SECONDS) — one still on an older epoch holds
    everything — and this service's own cursors on its log (event_cursors under a name that is
    not a service, e.g. the search indexer). The newest event is always kept: the relay numbers
    on from it. `retention` 0 keeps everything."""
    if retention <= 0:
        return 0
    expiry = env_float("OUTBOX_READER_EXPIRY_SECONDS", 30 * DAY) if reader_expiry is None else reader_expiry
    now = time.time()
    with db.write() as conn:
        db.lock(conn, f"outbox-relay:{service}")
        chain = epochs(conn)
        top = int(conn.execute(sa.text("SELECT COALESCE(MAX(seq), 0) FROM outbox")).scalar_one())
        limit = top - 1
        for r in conn.execute(
            sa.text("SELECT epoch, seq FROM event_readers WHERE seen_at >= :t"), {"t": now - expiry}
        ):
            limit = min(limit, int(r.seq) if chain and r.epoch == chain[-1].id else 0)
        for r in conn.execute(sa.text("SELECT source, seq FROM event_cursors")):
            if r.source not in SERVICE_PORTS:
                limit = min(limit, int(r.seq))
        if limit <= 0:
            return 0
        ids = list(conn.execute(
            sa.text("SELECT id FROM outbox WHERE seq IS NOT NULL AND seq <= :q AND created_at < :t LIMIT :n"),
            {"q": limit, "t": now - retention, "n": batch},
        ).scalars())
        if ids:
            conn.execute(sa.text("DELETE FROM outbox WHERE id = :id"), [{"id": i} for i in ids])
    if ids:
        log.info("outbox pruned", extra={"fields": {"service": service, "events": len(ids), "up_to_seq": limit}})
    return len(ids)


def prune_processed(db: Database, retention: float, batch: int = 5000) -> int:
    """Delete processed-event marks older than `retention` seconds (0: keep all). A mark is needed
    only while its event can be read again: after a source's restore, back to the restore point."""
    if retention <= 0:
        return 0
    with db.write() as conn:
        ids = list(conn.execute(
            sa.text("SELECT id FROM processed_events WHERE processed_at < :t LIMIT :n"),
            {"t": time.time() - retention, "n": batch},
        ).scalars())
        if ids:
            conn.execute(sa.text("DELETE FROM processed_events WHERE id = :id"), [{"id": i} for i in ids])
    return len(ids)


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
    return EventConsumer(db, source, grpc_fetch(channel, topic_prefixes, reader=db.service), handle)


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
