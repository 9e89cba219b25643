"""The outbox: events commit with the change, are numbered in commit order, applied once."""

from __future__ import annotations

import threading

import grpc
import pytest
import sqlalchemy as sa

from services.core.config import ServerConfig
from services.core.db import Database, Migration
from services.core.outbox import (
    OUTBOX_MIGRATIONS,
    OUTBOX_STATEMENTS,
    Event,
    EventConsumer,
    add_event_log,
    emit,
    grpc_fetch,
    read_events,
    relay_once,
)
from services.core.server import start_server
from sotay.events.v1.documents_events_pb2 import DocumentPublished, DocumentVersionAdded, IndexRefresh

SCHEMA = [
    Migration(1, "outbox and a table", (*OUTBOX_STATEMENTS, "CREATE TABLE things (id TEXT PRIMARY KEY)")),
    *OUTBOX_MIGRATIONS,
]


@pytest.fixture
def db(database: Database) -> Database:
    database.migrate("test", SCHEMA)
    return database


def numbered(db: Database) -> list[Event]:
    with db.read() as conn:
        return read_events(conn, 0, 1000, [])[0]


def test_event_commits_or_rolls_back_with_the_change(db: Database) -> None:
    with db.write() as conn:
        conn.execute(sa.text("INSERT INTO things VALUES ('a')"))
        emit(conn, "a", IndexRefresh(document_id="a"))
    with pytest.raises(RuntimeError), db.write() as conn:
        conn.execute(sa.text("INSERT INTO things VALUES ('b')"))
        emit(conn, "b", IndexRefresh(document_id="b"))
        raise RuntimeError("the change fails after the event was written")
    assert numbered(db) == []  # nothing is visible before the relay numbers it
    assert relay_once(db, "test") == 1
    assert [(e.seq, e.topic, e.key, e.payload) for e in numbered(db)] == [
        (1, "documents.index.refresh", "a", {"document_id": "a"})]


def test_relay_numbers_in_commit_order_and_never_twice(db: Database) -> None:
    for i in range(5):
        with db.write() as conn:
            emit(conn, str(i), DocumentVersionAdded(version=i))
    assert relay_once(db, "test", batch=3) == 3
    assert relay_once(db, "test", batch=3) == 2
    assert relay_once(db, "test") == 0
    events = numbered(db)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert [e.payload["version"] for e in events] == [0, 1, 2, 3, 4]


def test_concurrent_relays_give_unique_gapless_numbers(db: Database) -> None:
    for i in range(200):
        with db.write() as conn:
            emit(conn, str(i), DocumentVersionAdded(version=i))
    threads = [threading.Thread(target=lambda: [relay_once(db, "test", batch=7) for _ in range(20)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [e.seq for e in numbered(db)] == list(range(1, 201))


def test_consumer_applies_each_event_once_across_redelivery(db: Database, make_database) -> None:  # type: ignore[no-untyped-def]
    consumer_db = make_database()
    consumer_db.migrate("consumer", SCHEMA)
    for i in range(3):
        with db.write() as conn:
            emit(conn, str(i), IndexRefresh(document_id=f"t{i}"))
    relay_once(db, "test")

    def apply(conn: sa.Connection, event: Event) -> None:
        conn.execute(sa.text("INSERT INTO things VALUES (:id)"), {"id": event.payload["document_id"]})

    def fetch_everything_again(after: int) -> tuple[list[Event], int]:
        with db.read() as conn:
            events, last = read_events(conn, 0, 100, [])  # ignores the cursor: at-least-once delivery
        return events, last

    consumer = EventConsumer(consumer_db, "test", fetch_everything_again, apply)
    assert consumer.poll_once() == 3
    assert consumer.poll_once() == 0  # redelivered, applied once
    with consumer_db.read() as conn:
        assert sorted(conn.execute(sa.text("SELECT id FROM things")).scalars()) == ["t0", "t1", "t2"]
    assert consumer.cursor() == 3


def test_failed_handler_leaves_the_cursor_and_retries(db: Database, make_database) -> None:  # type: ignore[no-untyped-def]
    consumer_db = make_database()
    consumer_db.migrate("consumer", SCHEMA)
    with db.write() as conn:
        emit(conn, "x", IndexRefresh(document_id="x"))
    relay_once(db, "test")
    calls = {"n": 0}

    def flaky(conn: sa.Connection, event: Event) -> None:
        calls["n"] += 1
        conn.execute(sa.text("INSERT INTO things VALUES (:id)"), {"id": event.payload["document_id"]})
        if calls["n"] == 1:
            raise ConnectionError("downstream is down")

    def fetch(after: int) -> tuple[list[Event], int]:
        with db.read() as conn:
            return read_events(conn, after, 100, [])

    consumer = EventConsumer(consumer_db, "test", fetch, flaky)
    with pytest.raises(ConnectionError):
        consumer.poll_once()
    assert consumer.cursor() == 0
    assert consumer.poll_once() == 1
    with consumer_db.read() as conn:
        assert list(conn.execute(sa.text("SELECT id FROM things")).scalars()) == ["x"]


def test_event_log_over_grpc_filters_topics(db: Database) -> None:
    with db.write() as conn:
        emit(conn, "d1", DocumentPublished(document_id="d1"))
        emit(conn, "d1", IndexRefresh(document_id="d1"))
        emit(conn, "d2", DocumentPublished(document_id="d2"))
    relay_once(db, "test")
    server = start_server(ServerConfig("test", "127.0.0.1", 0, 0, 4, 0.1), lambda s: [add_event_log(s, db)],
                          None, set())
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            fetch = grpc_fetch(channel, ["documents.document."])
            events, last = fetch(0)[:2]
            assert [e.key for e in events] == ["d1", "d2"]
            assert last == 3
            assert fetch(last)[:2] == ([], 3)
    finally:
        server.stop(0)
