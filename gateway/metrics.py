"""The gateway's request metrics, summed over gunicorn's worker processes.

gunicorn runs several worker processes and a scrape of /metrics reaches one of them (each has its
own SO_REUSEPORT socket). So the metrics use prometheus_client's multiprocess mode: every worker
writes its values to files in PROMETHEUS_MULTIPROC_DIR (gunicorn_conf.py makes one per master
when it is unset and empties it at start) and the worker answering a scrape adds up the files of
them all. Without the variable (tests, `flask run`) they are this process's own.

- `sotay_gateway_requests_total{method, route, code}`: route is the Flask URL rule
  (`/api/v1/meetings/<meeting_id>`), never the raw path; `unmatched` for paths no rule knows.
- `sotay_gateway_request_duration_seconds{method, route}`: until the response is ready (a
  stream's or a download's first byte, not its end).
- `sotay_gateway_requests_in_flight`, `sotay_gateway_streams_open`, `sotay_gateway_streams_limit`.
The health paths (/healthz, /readyz, /metrics) are not counted: probes would drown the rest.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from services.core import tracing

UNMATCHED = "unmatched"
NOT_COUNTED = ("/healthz", "/readyz", "/readyz/backends", "/metrics")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter("sotay_gateway_requests_total", "HTTP requests answered, by route (URL rule) and status code",
                   ["method", "route", "code"])
DURATION = Histogram("sotay_gateway_request_duration_seconds",
                     "Time until the response is ready (first byte of a stream), by route", ["method", "route"],
                     buckets=BUCKETS)
IN_FLIGHT = Gauge("sotay_gateway_requests_in_flight", "Requests being handled", multiprocess_mode="livesum")
STREAMS_OPEN = Gauge("sotay_gateway_streams_open", "Live streams (Server-Sent Events) open",
                     multiprocess_mode="livesum")
STREAMS_LIMIT = Gauge("sotay_gateway_streams_limit", "Live streams the workers admit at once",
                      multiprocess_mode="livesum")


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def exposition(*extra: CollectorRegistry) -> bytes:
    """The text of a scrape: every worker's metrics (or this process's), then `extra`."""
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + b"".join(generate_latest(r) for r in extra)


def route_of() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


def install(app: Flask, streams_limit: int) -> None:
    STREAMS_LIMIT.set(streams_limit)

    @app.before_request
    def started() -> None:
        if request.path in NOT_COUNTED:
            return
        g.sotay_started = time.perf_counter()
        IN_FLIGHT.inc()

    @app.after_request
    def answered(response: Response) -> Response:
        started_at = g.pop("sotay_started", None)
        if started_at is None:
            return response
        IN_FLIGHT.dec()
        route = route_of()
        tracing.http_route(request.method, route)
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        DURATION.labels(request.method, route).observe(time.perf_counter() - started_at)
        return response
