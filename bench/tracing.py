"""Benchmark of tracing's cost: GET /api/v1/me through the gateway and identity, traced and not.

Two gateway + identity pairs on one identity database, in alternated rounds under 32 connections:
  - the baseline: tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT), as the system runs by default;
  - traced: every request and RPC a span, exported by OTLP/HTTP to a collector on loopback (this
    process: it reads and counts the exports, as a real collector's receiver would before storing);
  - traced_sampled_10pct: the same with OTEL_TRACES_SAMPLER=parentbased_traceidratio at 0.1.
Reports requests/s, p50, p99 of each, the spans received, and each ratio to the baseline (requests/s).
Usage: python -m bench.tracing [--seconds 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.common import machine, stop, wait_http, write_result
from bench.gateway_throughput import PASSWORD, prepare, start
from bench.loadgen import run_wrk
from services.cli import grpc_healthy
from services.core.db import Database
from tests.support.processes import free_port


class Collector(ThreadingHTTPServer):
    spans = 0

    def __init__(self) -> None:
        lock = threading.Lock()
        collector = self

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                export = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
                n = sum(len(scope.spans) for r in export.resource_spans for scope in r.scope_spans)
                with lock:
                    collector.spans += n
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Receiver)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    py = sys.executable
    gunicorn = str(Path(py).with_name("gunicorn"))
    collector = Collector()
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        base = dict(os.environ, SOTAY_DATA_DIR=tmp, METRICS_PORT="0", LOG_LEVEL="WARNING", GATEWAY_WORKERS="2",
                    GATEWAY_THREADS="8", GATEWAY_BACKENDS="identity")
        for key in ("DATABASE_URL", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            base.pop(key, None)
        db = Database(f"sqlite:///{data / 'identity.db'}")
        prepare(db)
        db.dispose()
        traced = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}"}
        sampled = {**traced, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
        urls: dict[str, str] = {}
        try:
            for name, extra in (("baseline_untraced", {}), ("traced", traced), ("traced_sampled_10pct", sampled)):
                env = dict(base, IDENTITY_ADDR=f"127.0.0.1:{free_port()}", **extra)
                bind = f"127.0.0.1:{free_port()}"
                procs.append(start([py, "-m", "services.identity", "serve"], env, data / f"identity-{name}.log"))
                procs.append(start([gunicorn, "-c", "python:gateway.gunicorn_conf", "gateway.app:create_app()"],
                                   dict(env, GATEWAY_BIND=bind), data / f"gateway-{name}.log"))
                while not grpc_healthy(env["IDENTITY_ADDR"]):
                    time.sleep(0.2)
                wait_http(f"http://{bind}/readyz")
                urls[name] = f"http://{bind}/api/v1/me"
            token = requests.post(urls["traced"].replace("/me", "/auth/login"), timeout=10,
                                  json={"username": "0913000000", "password": PASSWORD}).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}  # both identities share the database and signing key
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in urls}
            spans = dict.fromkeys(urls, 0)
            time.sleep(6)
            collector.spans = 0  # the login's
            for r in range(args.rounds):
                for name, url in urls.items():
                    print(f"load: {name} (round {r + 1}) for {args.seconds}s at 32 connections ...", flush=True)
                    runs[name].append(run_wrk(url, auth, connections=32, seconds=args.seconds))
                    time.sleep(6)  # its last batches (sent every 5 s by default), counted as its own
                    spans[name], collector.spans = spans[name] + collector.spans, 0
            result: dict[str, Any] = {}
            for name, rs in runs.items():
                result[name] = {
                    "requests_per_s": round(sum(x["requests_per_s"] for x in rs) / len(rs), 1),
                    "p50_ms": round(sorted(x["p50_ms"] for x in rs)[len(rs) // 2], 2),
                    "p99_ms": round(sorted(x["p99_ms"] for x in rs)[len(rs) // 2], 2),
                    "non_2xx": sum(x.get("non_2xx", 0) for x in rs),
                }
                done = sum(x["requests_per_s"] for x in rs) * args.seconds
                result[name]["spans_received"] = spans[name]
                result[name]["spans_per_request"] = round(spans[name] / done, 3)
                result[name]["ratio_rps_to_baseline"] = round(
                    result[name]["requests_per_s"] / result["baseline_untraced"]["requests_per_s"], 3)
            write_result("tracing", {
                "connections": 32, "seconds": args.seconds, "rounds": args.rounds,
                "machine": machine(),
                **result,
            })
        finally:
            stop(procs)
            collector.shutdown()


if __name__ == "__main__":
    main()
