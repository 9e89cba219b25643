"""The baseline for gateway benchmarks: a minimal Flask endpoint making one trivial gRPC call.

Run under the same gunicorn settings as the gateway:
  gunicorn -c python:gateway.gunicorn_conf "bench.baseline_app:create_app()"
with BASELINE_GRPC_ADDR pointing at bench/trivial_grpc_server.py.
"""

from __future__ import annotations

import os

import grpc
from flask import Flask, jsonify
from grpc_health.v1 import health_pb2, health_pb2_grpc

_stubs: dict[int, health_pb2_grpc.HealthStub] = {}


def _stub() -> health_pb2_grpc.HealthStub:
    pid = os.getpid()  # channels are made per worker, after fork
    if pid not in _stubs:
        _stubs[pid] = health_pb2_grpc.HealthStub(grpc.insecure_channel(os.environ["BASELINE_GRPC_ADDR"]))
    return _stubs[pid]


def create_app() -> Flask:
    app = Flask("baseline")

    @app.get("/ping")
    def ping():  # type: ignore[no-untyped-def]
        reply = _stub().Check(health_pb2.HealthCheckRequest(), timeout=5)
        return jsonify(status=int(reply.status))

    return app
