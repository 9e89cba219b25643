"""/healthz: the process is alive. /readyz: every backend service answers its health check.

Kubernetes restarts a pod whose liveness probe (/healthz) fails and stops routing to one whose
readiness probe (/readyz) fails; so /healthz never depends on anything else.
"""

from __future__ import annotations

import grpc
from flask import Flask, Response, jsonify
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway import clients
from gateway.settings import Settings

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


def install(app: Flask, settings: Settings) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        backends = check_backends(settings.backends)
        failed = sorted(name for name, status in backends.items() if status != "SERVING")
        status = "not_ready" if failed else "ready"
        response = jsonify({"status": status, "backends": backends, "failed": failed})
        response.status_code = 503 if failed else 200
        response.headers["Cache-Control"] = "no-store"
        return response
