"""Worker loops: a loop that stops completing rounds fails the process's /healthz; metrics of
the relay's and the consumers' lag."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client import REGISTRY

from services.core.db import Database
from services.core.liveness import Loops, stall_after
from services.core.metrics import serve_metrics
from services.core.outbox import Event, EventConsumer, Page, emit, relay_once, run_relay, unrelayed
from sotay.events.v1.documents_events_pb2 import IndexRefresh
from tests.unit.core.test_outbox import SCHEMA


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_stall_limit_is_intervals_times_the_interval_with_a_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_STALL_INTERVALS", "4")
    monkeypatch.setenv("WORKER_STALL_MIN_SECONDS", "30")
    assert stall_after(0.1) == 30  # a fast idle loop: the floor
    assert stall_after(300) == 1200  # the reminders: 4 intervals
    assert stall_after(1, minimum=3600) == 3600  # OCR: one round is long


def test_a_stalled_loop_fails_health_and_a_progressing_one_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_STALL_MIN_SECONDS", "60")
    clock, loops = Clock(), Loops()
    busy = loops.loop("test", "busy", 1.0, clock=clock)
    idle = loops.loop("test", "idle", 1.0, clock=clock)
    assert loops.check()[0]
    for _ in range(10):  # `busy` turns every 10 s, `idle` never again
        clock.now += 10
        busy.done()
    healthy, detail = loops.check()
    assert not healthy
    assert detail["loops"]["idle"]["stalled"] and detail["loops"]["idle"]["seconds_since_round"] == 100
    assert not detail["loops"]["busy"]["stalled"] and detail["loops"]["busy"]["rounds"] == 10
    idle.done(ok=False)  # a round that met an error it retries still shows the loop turns
    assert loops.check()[0]
    loops.remove(idle)
    clock.now += 61
    assert not loops.check()[0]  # `busy` has now stalled too


def test_healthz_of_the_metrics_port_follows_the_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_STALL_MIN_SECONDS", "60")
    clock, loops = Clock(), Loops()
    loop = loops.loop("test", "relay", 0.1, clock=clock)
    port = free_port()
    serve_metrics(port, loops.check)
    base = f"http://127.0.0.1:{port}"
    assert get(base + "/healthz") == (200, {"status": "ok", "loops": {"relay": {
        "seconds_since_round": 0.0, "stall_after": 60.0, "rounds": 0, "stalled": False}}})
    clock.now += 61
    status, body = get(base + "/healthz")
    assert status == 503 and body["status"] == "stalled" and body["loops"]["relay"]["stalled"]
    loop.done()
    assert get(base + "/healthz")[0] == 200
    with urllib.request.urlopen(base + "/metrics", timeout=5) as reply:
        text = reply.read().decode()
    assert 'sotay_worker_rounds_total{loop="relay",outcome="ok",service="test"} 1.0' in text


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


@pytest.fixture
def db(database: Database) -> Database:
    database.migrate("test", SCHEMA)
    database.service = "test"
    return database


def test_relay_lag_is_measured_at_scrape_and_the_running_relay_is_alive(db: Database) -> None:
    with db.write() as conn:
        for i in range(3):
            emit(conn, str(i), IndexRefresh(document_id=f"t{i}"))
    with db.write() as conn:  # the oldest unrelayed event was written 40 s ago
        conn.exec_driver_sql("UPDATE outbox SET created_at = created_at - 40 WHERE key = '0'")
    count, age = unrelayed(db)
    assert count == 3 and 40 <= age < 60
    stop = threading.Event()
    relay = threading.Thread(target=run_relay, args=(db, "test", stop), daemon=True)
    relay.start()
    try:
        deadline = time.monotonic() + 30
        while unrelayed(db)[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sample("sotay_outbox_unrelayed_events", service="test") == 0
        assert sample("sotay_outbox_oldest_unrelayed_age_seconds", service="test") == 0
        last = sample("sotay_worker_last_success_timestamp_seconds", service="test", loop="relay")
        assert last is not None and last > time.time() - 30
        assert sample("sotay_worker_loop_up", service="test", loop="relay") == 1
    finally:
        stop.set()
        relay.join(10)


def test_consumer_lag_is_the_head_minus_the_cursor(db: Database) -> None:
    log = [Event(f"e{i}", i, "test.n", str(i), {"i": i}) for i in range(1, 11)]

    def fetch(after: int) -> Page:  # pages of 4 from a log whose head is 10
        page = [e for e in log if e.seq > after][:4]
        return Page(page, page[-1].seq if page else after, (), 10)

    seen: list[str] = []
    consumer = EventConsumer(db, "source-a", fetch, lambda conn, e: seen.append(e.id))
    assert consumer.poll_once() == 4
    assert consumer.lag == 6 and sample("sotay_consumer_lag_events", service="test", source="source-a") == 6
    assert sample("sotay_consumer_cursor_seq", service="test", source="source-a") == 4
    while consumer.poll_once():
        pass
    assert consumer.lag == 0 and sample("sotay_consumer_lag_events", service="test", source="source-a") == 0
    assert len(seen) == 10


def test_relay_once_keeps_counting(db: Database) -> None:
    before = sample("outbox_relayed_total", service="test") or 0
    with db.write() as conn:
        emit(conn, "x", IndexRefresh(document_id="x"))
    assert relay_once(db, "test") == 1
    assert sample("outbox_relayed_total", service="test") == before + 1
