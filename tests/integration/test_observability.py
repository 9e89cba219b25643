"""Metrics of the running system (`sotay up`): the gateway's requests summed over its gunicorn
workers, and every worker's lag, progress and liveness, scraped over HTTP after real activity."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from pathlib import Path

import grpc
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from services import cli
from services.core.outbox import grpc_fetch
from tests.support.browser import demo_accounts
from tests.support.processes import login, running_system

pytestmark = pytest.mark.integration
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "observability.json"


def free_block(size: int) -> int:
    """The first of `size` consecutive loopback ports that are free now."""
    for _ in range(200):
        base = random.randrange(20000, 40000)
        try:
            for port in range(base, base + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no block of free ports")


def scrape(url: str) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], float]:
    """Every sample of a metrics endpoint by (name, labels), and how long the scrape took."""
    started = time.perf_counter()
    reply = requests.get(url, timeout=10)
    took = time.perf_counter() - started
    assert reply.status_code == 200, reply.text
    samples = {}
    for family in text_string_to_metric_families(reply.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, took


def value(samples: dict, name: str, **labels: str) -> float | None:
    for (n, found), v in samples.items():
        if n == name and all(dict(found).get(k) == want for k, want in labels.items()):
            return v
    return None


def test_metrics_of_the_gateway_and_every_worker_after_activity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = free_block(cli.WORKER_METRICS_STEP)
    monkeypatch.setenv("SOTAY_WORKER_METRICS_PORT", str(base))
    workers = {p.name: p.worker_metrics for p in cli.processes(1) if p.worker_metrics}
    figures: dict[str, object] = {}
    with running_system(tmp_path, timeout=180, extra_env={"SOTAY_WORKER_METRICS_PORT": str(base)}) as system:
        def notifications_head() -> int:
            """The head seq of notifications' event log, as its EventLogService tells it."""
            channel = grpc.insecure_channel(system.env["NOTIFICATIONS_ADDR"])
            try:
                return grpc_fetch(channel, [])(0)[3]
            finally:
                channel.close()

        def worker_url(name: str, path: str = "/metrics") -> str:
            return f"http://127.0.0.1:{workers[name]}{path}"

        # Every worker serves /healthz with its loops turning (they may still be starting).
        deadline = time.monotonic() + 60
        pending = set(workers)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                try:
                    reply = requests.get(worker_url(name, "/healthz"), timeout=5)
                except requests.ConnectionError:
                    continue
                if reply.status_code == 200 and reply.json()["loops"] and all(
                        loop["rounds"] > 0 for loop in reply.json()["loops"].values()):
                    pending.discard(name)
            time.sleep(0.5)
        assert not pending, f"workers without a healthy loop: {sorted(pending)}"

        accounts = demo_accounts(tmp_path)
        auth = login(system, *accounts["admin"])
        me = requests.get(system.url("/api/v1/me"), headers=auth, timeout=10).json()
        before, _ = scrape(worker_url("reports-consume"))
        cursor_before = value(before, "sotay_consumer_cursor_seq", service="reports", source="notifications") or 0
        published = requests.post(system.url("/api/v1/bulletins"), headers=auth, timeout=30,
                                  json={"publisher_unit_id": me["unit_id"], "title": "Đo độ trễ của hệ thống"})
        assert published.status_code == 201, published.text

        # reports reads notifications' log: the bulletin's events arrive, the lag returns to 0.
        lags, scrape_times = [], []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            samples, took = scrape(worker_url("reports-consume"))
            scrape_times.append(took)
            lag = value(samples, "sotay_consumer_lag_events", service="reports", source="notifications")
            cursor = value(samples, "sotay_consumer_cursor_seq", service="reports", source="notifications") or 0
            lags.append(lag)
            if lag == 0 and cursor > cursor_before:
                break
            time.sleep(0.2)
        assert lags[-1] == 0 and cursor > cursor_before, (lags, cursor_before, cursor)
        figures["reports_consumer_lag_after_one_bulletin"] = lags
        figures["reports_cursor_moved"] = [cursor_before, cursor]

        # A burst of bulletins from 4 clients: the lag rises while the consumer catches up, then 0.
        def publish(n: int) -> None:
            for i in range(n):
                reply = requests.post(system.url("/api/v1/bulletins"), headers=auth, timeout=30,
                                      json={"publisher_unit_id": me["unit_id"], "title": f"Đợt {i}"})
                assert reply.status_code == 201, reply.text

        clients = [threading.Thread(target=publish, args=(10,)) for _ in range(4)]
        started = time.monotonic()
        for t in clients:
            t.start()
        burst: list[float] = []
        head = -1
        while True:  # until every bulletin is published and numbered and the consumer is at the head
            samples, took = scrape(worker_url("reports-consume"))
            scrape_times.append(took)
            burst.append(value(samples, "sotay_consumer_lag_events", service="reports", source="notifications") or 0)
            cursor = value(samples, "sotay_consumer_cursor_seq", service="reports", source="notifications") or 0
            published_all = head < 0 and not any(t.is_alive() for t in clients)
            if published_all and value(scrape(worker_url("notifications-relay"))[0], "sotay_outbox_unrelayed_events",
                                       service="notifications") == 0:
                head = notifications_head()
            if head >= 0 and cursor >= head and burst[-1] == 0:
                break
            assert time.monotonic() - started < 180, burst
            time.sleep(0.1)
        assert head >= cursor_before + 41  # one event per bulletin at least
        figures["reports_consumer_lag_during_40_bulletins"] = {"max": max(burst), "samples": len(burst),
                                                               "caught_up_seconds": time.monotonic() - started}

        relay, took = scrape(worker_url("notifications-relay"))
        scrape_times.append(took)
        assert value(relay, "sotay_outbox_unrelayed_events", service="notifications") == 0
        assert value(relay, "outbox_relayed_total", service="notifications") >= 1
        last = value(relay, "sotay_worker_last_success_timestamp_seconds", service="notifications", loop="relay")
        assert last is not None and time.time() - last < 30

        delivery, took = scrape(worker_url("notifications-delivery"))
        scrape_times.append(took)
        for channel in ("webpush", "email"):
            assert value(delivery, "sotay_delivery_queue_depth", channel=channel) is not None
            assert value(delivery, "sotay_delivery_oldest_due_age_seconds", channel=channel) is not None
        # Its three sources, each caught up. A source's lag is known once a poll of it has answered:
        # on a loaded machine a consumer backing off after a source's slow start may not have yet.
        sources = ("identity", "documents", "meetings")
        deadline = time.monotonic() + 60
        while True:
            consume, took = scrape(worker_url("notifications-consume"))
            scrape_times.append(took)
            caught_up = {s: value(consume, "sotay_consumer_lag_events", service="notifications", source=s) == 0
                         and value(consume, "sotay_worker_loop_up", service="notifications", loop=f"consume-{s}") == 1
                         for s in sources}
            if all(caught_up.values()):
                break
            assert time.monotonic() < deadline, caught_up
            time.sleep(0.5)
        indexer, took = scrape(worker_url("documents-indexer"))
        scrape_times.append(took)
        assert value(indexer, "sotay_consumer_lag_events", service="documents", source="search-indexer") == 0

        # The gateway: the 41 bulletins' POSTs counted by their URL rule, whichever of the two
        # gunicorn workers answers the scrape (each scrape sums both).
        seen = set()
        gateway_times = []
        for _ in range(6):
            samples, took = scrape(system.url("/metrics"))
            gateway_times.append(took)
            seen.add(value(samples, "sotay_gateway_requests_total", method="POST", route="/api/v1/bulletins",
                           code="201"))
            assert value(samples, "sotay_gateway_request_duration_seconds_count", method="POST",
                         route="/api/v1/bulletins") == 41
            assert value(samples, "sotay_gateway_requests_total", route="/api/v1/auth/login", code="200") == 1
            assert value(samples, "sotay_gateway_streams_limit") == 2 * 4  # two workers × GATEWAY_THREADS/2
        assert seen == {41.0}
        figures["worker_scrape_seconds"] = {"median": sorted(scrape_times)[len(scrape_times) // 2],
                                            "max": max(scrape_times), "n": len(scrape_times)}
        figures["gateway_scrape_seconds"] = {"median": sorted(gateway_times)[len(gateway_times) // 2],
                                             "max": max(gateway_times), "n": len(gateway_times)}
    RESULTS.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
