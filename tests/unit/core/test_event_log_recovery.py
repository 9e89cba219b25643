"""A restored source log (epochs), and pruning of the outbox and of processed-event marks."""

from __future__ import annotations

import time

import grpc
import pytest
import sqlalchemy as sa

from services.core.config import ServerConfig
from services.core.db import Database, Migration
from services.core.outbox import (
    OUTBOX_MIGRATIONS,
    OUTBOX_STATEMENTS,
    Epoch,
    Event,
    EventConsumer,
    EventLogServicer,
    add_event_log,
    emit,
    ensure_epoch,
    grpc_fetch,
    prune_outbox,
    prune_processed,
    relay_once,
    rewind_point,
)
from services.core.server import RunningServer, start_server
from sotay.events.v1.documents_events_pb2 import IndexRefresh

SCHEMA = [
    Migration(1, "outbox and a table", (*OUTBOX_STATEMENTS, "CREATE TABLE things (id TEXT PRIMARY KEY)")),
    *OUTBOX_MIGRATIONS,
]


@pytest.fixture
def source(database: Database) -> Database:
    database.migrate("test", SCHEMA)
    ensure_epoch(database, "test")
    return database


def produce(db: Database, *names: str) -> None:
    with db.write() as conn:
        for name in names:
            emit(conn, name, IndexRefresh(document_id=name))
    relay_once(db, "test")


def serve(db: Database) -> RunningServer:
    return start_server(ServerConfig("test", "127.0.0.1", 0, 0, 4, 0.1), lambda s: [add_event_log(s, db)], None, set())


def applied(db: Database) -> list[str]:
    with db.read() as conn:
        return sorted(conn.execute(sa.text("SELECT id FROM things")).scalars())


def insert_thing(conn: sa.Connection, event: Event) -> None:
    conn.execute(sa.text("INSERT INTO things VALUES (:id)"), {"id": event.payload["document_id"]})


def rewind_to(db: Database, seq: int) -> None:
    """What restoring a backup taken at `seq` leaves: the log up to it, then a new epoch."""
    with db.write() as conn:
        conn.execute(sa.text("DELETE FROM outbox WHERE seq > :q"), {"q": seq})
        conn.execute(sa.text("DELETE FROM things"))
    ensure_epoch(db, "test", restored=True)


def test_rewind_point_of_a_cursor() -> None:
    chain = (Epoch("a", 0), Epoch("b", 40), Epoch("c", 30))
    assert rewind_point(50, "c", chain) is None  # current epoch
    assert rewind_point(50, None, chain) is None  # a consumer from before epochs: adopts the current
    assert rewind_point(50, "a", chain) == 30  # the lowest restore point after its epoch
    assert rewind_point(20, "a", chain) == 20  # had not read as far as the restore point
    assert rewind_point(50, "b", chain) == 30
    assert rewind_point(50, "gone", chain) == 0  # an epoch the log does not know: read it all
    assert rewind_point(50, "a", ()) is None  # a source without epochs


def test_consumer_reads_new_events_of_a_restored_source(
    source: Database, make_database, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr(EventLogServicer, "EPOCHS_TTL", 0.0)  # a restarted server reads them anew
    consumer_db = make_database()
    consumer_db.migrate("consumer", SCHEMA)
    produce(source, "e1", "e2", "e3")
    server = serve(source)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            consumer = EventConsumer(consumer_db, "test", grpc_fetch(channel, [], reader="consumer"), insert_thing)
            assert consumer.poll_once() == 3
            produce(source, "e4", "e5")
            assert consumer.poll_once() == 2
            assert consumer.cursor() == 5
            rewind_to(source, 3)  # restored from a backup taken after e3
            produce(source, "n4", "n5")  # numbered 4 and 5 again: below the consumer's cursor
            assert consumer.poll_once() == 0  # sees the new epoch: back to the restore point
            assert consumer.cursor() == 3
            assert consumer.poll_once() == 2
            assert consumer.cursor() == 5
            produce(source, "n6")
            assert consumer.poll_once() == 1
    finally:
        server.stop(0)
    assert applied(consumer_db) == ["e1", "e2", "e3", "e4", "e5", "n4", "n5", "n6"]


def test_epoch_is_kept_until_the_database_changes(source: Database) -> None:
    first = ensure_epoch(source, "test")
    assert ensure_epoch(source, "test") == first
    produce(source, "a", "b")
    again = ensure_epoch(source, "test", restored=True)
    assert again != first and again.base_seq == 2
    assert ensure_epoch(source, "test") == again


def test_prune_keeps_what_a_reader_has_not_read(source: Database) -> None:
    produce(source, *(f"t{i}" for i in range(10)))
    with source.write() as conn:
        conn.execute(sa.text("UPDATE outbox SET created_at = created_at - 3600"))
        epoch = conn.execute(sa.text("SELECT id FROM event_log_epochs")).scalar_one()
        conn.execute(
            sa.text("INSERT INTO event_readers (reader, epoch, seq, seen_at) VALUES ('slow', :e, 4, :t)"),
            {"e": epoch, "t": time.time()},
        )
    assert prune_outbox(source, "test", retention=0) == 0  # 0 keeps everything
    assert prune_outbox(source, "test", retention=7200) == 0  # not old enough
    assert prune_outbox(source, "test", retention=60) == 4  # up to what "slow" has read
    with source.write() as conn:
        conn.execute(sa.text("UPDATE event_readers SET seq = 10"))
        # the service's own reader of its log (like the search indexer) holds events too
        conn.execute(sa.text("INSERT INTO event_cursors (source, seq) VALUES ('search-indexer', 7)"))
    assert prune_outbox(source, "test", retention=60) == 3
    with source.write() as conn:
        conn.execute(sa.text("UPDATE event_cursors SET seq = 10"))
    assert prune_outbox(source, "test", retention=60) == 2  # the newest stays: the relay numbers on
    with source.read() as conn:
        assert list(conn.execute(sa.text("SELECT seq FROM outbox")).scalars()) == [10]
    produce(source, "next")
    with source.read() as conn:
        assert conn.execute(sa.text("SELECT MAX(seq) FROM outbox")).scalar_one() == 11


def test_prune_waits_for_a_reader_of_an_older_epoch_until_it_expires(source: Database) -> None:
    produce(source, "a", "b", "c")
    with source.write() as conn:
        conn.execute(sa.text("UPDATE outbox SET created_at = created_at - 3600"))
        conn.execute(
            sa.text("INSERT INTO event_readers (reader, epoch, seq, seen_at) VALUES ('old', 'gone', 3, :t)"),
            {"t": time.time() - 100},
        )
    assert prune_outbox(source, "test", retention=60) == 0
    assert prune_outbox(source, "test", retention=60, reader_expiry=50) == 2


def test_readers_are_recorded_by_the_event_log(source: Database) -> None:
    produce(source, "a", "b")
    server = serve(source)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            grpc_fetch(channel, [], reader="reports")(1)
            grpc_fetch(channel, [])(0)  # anonymous: not recorded
    finally:
        server.stop(0)
    with source.read() as conn:
        found = conn.execute(sa.text("SELECT reader, seq FROM event_readers")).all()
    assert [(r.reader, r.seq) for r in found] == [("reports", 1)]


def test_processed_marks_are_pruned_by_age(source: Database) -> None:
    now = time.time()
    with source.write() as conn:
        for i, age in enumerate((10, 100, 1000)):
            conn.execute(sa.text("INSERT INTO processed_events (id, processed_at) VALUES (:i, :t)"),
                         {"i": f"p{i}", "t": now - age})
    assert prune_processed(source, 0) == 0
    assert prune_processed(source, 50) == 2
    with source.read() as conn:
        assert list(conn.execute(sa.text("SELECT id FROM processed_events")).scalars()) == ["p0"]


def test_revocation_watcher_takes_a_new_snapshot_when_identity_is_restored() -> None:
    from services.core.outbox import Page
    from services.core.revocation import RevocationWatcher

    log: dict[str, object] = {"floors": {"a": 1}, "events": [], "epochs": (Epoch("e1", 0),)}
    snapshots = []

    def snapshot() -> tuple[dict[str, int], int]:
        snapshots.append(1)
        return dict(log["floors"]), len(log["events"])  # type: ignore[call-overload, arg-type]

    def fetch(after: int) -> Page:
        events = [e for e in log["events"] if e.seq > after]  # type: ignore[attr-defined]
        return Page(events, events[-1].seq if events else after, log["epochs"])  # type: ignore[arg-type]

    watcher = RevocationWatcher(snapshot, fetch)
    watcher.sync_once()
    log["events"] = [Event("x1", 1, "identity.token.revoked", "k", {"subject": "b", "min_version": 2}),
                     Event("x2", 2, "identity.token.revoked", "k", {"subject": "c", "min_version": 3})]
    watcher.sync_once()
    assert len(snapshots) == 1 and watcher._floors == {"a": 1, "b": 2, "c": 3}
    # identity restored from a backup taken after x1: its next event is numbered 2 again
    log["events"] = [log["events"][0],  # type: ignore[index]
                     Event("y2", 2, "identity.token.revoked", "k", {"subject": "d", "min_version": 4})]
    log["floors"], log["epochs"] = {"a": 1, "b": 2, "d": 4}, (Epoch("e1", 0), Epoch("e2", 1))
    watcher.sync_once()
    assert len(snapshots) == 2 and watcher._floors["d"] == 4
