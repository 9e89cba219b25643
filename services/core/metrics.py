"""Prometheus metrics shared by every service process, and the HTTP endpoint serving them.

Servers serve `METRICS_PORT`, workers `METRICS_PORT + 100`: `/metrics`, and `/healthz` (200 while
every loop of the process completes rounds, 503 naming a stalled one: services.core.liveness).
Names of our own start with `sotay_`; the gRPC ones follow the go-grpc-prometheus names.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("sotay.metrics")

RPC_HANDLED = Counter(
    "grpc_server_handled_total", "RPCs completed, by method and status code", ["service", "method", "code"]
)
RPC_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "RPC latency",
    ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REVOCATION_SYNC_AGE = Gauge(
    "token_revocations_sync_age_seconds",
    "Seconds since this server last synced identity's token revocations (tokens are refused past "
    "REVOCATION_MAX_STALENESS)",
    ["service"],
)
OUTBOX_RELAYED = Counter("outbox_relayed_total", "Outbox events numbered by the relay", ["service"])

# Worker loops (services.core.liveness).
LOOP_ROUNDS = Counter(
    "sotay_worker_rounds_total", "Rounds a worker loop completed, by outcome (ok, error: retried)",
    ["service", "loop", "outcome"],
)
LOOP_LAST_SUCCESS = Gauge(
    "sotay_worker_last_success_timestamp_seconds", "Unix time of the loop's last successful round",
    ["service", "loop"],
)
LOOP_STALL_AFTER = Gauge(
    "sotay_worker_stall_after_seconds",
    "Seconds without a completed round after which the loop counts as stalled (the process's /healthz fails)",
    ["service", "loop"],
)
# Event logs (services.core.outbox).
CONSUMER_LAG = Gauge(
    "sotay_consumer_lag_events",
    "Events of the source's log beyond this consumer's cursor (the log's head seq minus the cursor), "
    "as of the consumer's last poll",
    ["service", "source"],
)
CONSUMER_CURSOR = Gauge("sotay_consumer_cursor_seq", "The consumer's cursor in the source's log", ["service", "source"])
CONSUMER_APPLIED = Counter(
    "sotay_consumer_events_applied_total", "Events the consumer applied (each once)", ["service", "source"],
)


class QueryCollector(Collector):
    """Gauges measured when scraped (e.g. a queue's depth from the database), so they stay true
    while the loop that should drain the queue is stuck. A failed measurement yields nothing
    (the series goes absent, which the alerts treat as unknown) and is logged."""

    def __init__(self, name: str, measure: Callable[[], Iterable[Metric]]) -> None:
        self.name, self.measure = name, measure

    def collect(self) -> Iterator[Metric]:
        try:
            families = list(self.measure())
        except Exception:  # the database is down: the scrape still answers the other metrics
            log.warning("cannot measure %s for the metrics", self.name, exc_info=True)
            return
        yield from families

    def describe(self) -> list[Metric]:
        return []


_collectors: dict[str, Collector] = {}
_collectors_lock = threading.Lock()


def register_collector(name: str, measure: Callable[[], Iterable[Metric]]) -> None:
    """Measure `measure` at every scrape of this process (once per name: a second registration
    replaces the first)."""
    with _collectors_lock:
        old = _collectors.pop(name, None)
        if old is not None:
            REGISTRY.unregister(old)
        _collectors[name] = QueryCollector(name, measure)
        REGISTRY.register(_collectors[name])


def gauge(name: str, documentation: str, labels: list[str],
          rows: Iterable[tuple[list[str], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


Health = Callable[[], tuple[bool, dict[str, Any]]]


def metrics_app(health: Health) -> Callable[..., Iterable[bytes]]:
    """WSGI: /healthz answers `health()` (200 or 503, JSON), every other path the metrics."""
    metrics = make_wsgi_app(REGISTRY)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            ok, detail = health()
            body = json.dumps({"status": "ok" if ok else "stalled", **detail}).encode()
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return metrics(environ, start_response)  # type: ignore[no-any-return]

    return app


def serve_metrics(port: int, health: Health | None = None) -> None:
    """Serve /metrics and /healthz on `port` (0: not at all) from a daemon thread."""
    if port <= 0:
        return
    from services.core.liveness import LOOPS

    try:
        server = make_server("0.0.0.0", port, metrics_app(health or LOOPS.check),  # noqa: S104 - scraped in the cluster
                             server_class=_Server, handler_class=_QuietHandler)
    except OSError as exc:  # the process still does its work; a liveness probe on the port will tell
        log.error("cannot serve metrics on port %d: %s", port, exc)
        return
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
