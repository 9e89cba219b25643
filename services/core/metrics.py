"""Prometheus metrics shared by every gRPC server."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

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


def serve_metrics(port: int) -> None:
    if port > 0:
        start_http_server(port, addr="0.0.0.0")  # noqa: S104 - scraped by Prometheus inside the cluster
