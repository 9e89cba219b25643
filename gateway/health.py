"""/healthz: the process is alive. /readyz: this gateway can serve. /readyz/backends: the services.

Kubernetes restarts a pod whose liveness probe (/healthz) fails and stops routing to one whose
readiness probe (/readyz) fails. Neither depends on the backend services: a degraded service
must not take every gateway pod out of the load balancer (its errors are answered per request).
The services' state is /readyz/backends (503 when one does not answer) and the gauge
`sotay_gateway_backend_up{backend}` of /metrics, both checked when asked. /metrics also has the
request metrics of every worker of this gateway (gateway.metrics).

gateway.worker (HEALTH_PATHS) answers these paths on threads of their own, so they stay quick when every
request thread is busy.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from flask import Flask, Response, jsonify
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway import clients
from gateway.metrics import exposition
from gateway.settings import Settings
from gateway.streams import StreamLimiter

CHECK_TIMEOUT = 1.0


def check_backends(names: tuple[str, ...], timeout: float = CHECK_TIMEOUT) -> dict[str, str]:
    """Each backend's grpc.health.v1 status ("SERVING" when ready), checked concurrently."""
    calls = {}
    for name in names:
        stub = clients.stub(clients.Backend(name), health_pb2_grpc.HealthStub)
        calls[name] = stub.Check.future(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    results: dict[str, str] = {}
    for name, call in calls.items():
        try:
            reply = call.result()
            results[name] = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError as exc:
            results[name] = exc.code().name  # type: ignore[attr-defined]
    return results


class GatewayCollector(Collector):
    """Checks the backends when scraped."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("sotay_gateway_backend_up", "1 when the backend answers its health check as SERVING",
                               labels=["backend"])
        for name, status in sorted(check_backends(self.settings.backends).items()):
            up.add_metric([name], 1.0 if status == "SERVING" else 0.0)
        yield up


def install(app: Flask, settings: Settings, streams: StreamLimiter) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(settings))

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        # Loaded, configured and answering: the gateway serves (backends: /readyz/backends).
        response = jsonify({"status": "ready", "streams": {"open": streams.open, "limit": streams.total}})
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/readyz/backends")
    def readyz_backends() -> Response:
        backends = check_backends(settings.backends)
        failed = sorted(name for name, status in backends.items() if status != "SERVING")
        status = "degraded" if failed else "ready"
        response = jsonify({"status": status, "backends": backends, "failed": failed})
        response.status_code = 503 if failed else 200
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(exposition(registry), mimetype="text/plain; version=0.0.4")
