"""gRPC server bootstrap shared by every service.

Health (grpc.health.v1) reports SERVING once the servicers are registered; on SIGTERM or
SIGINT it flips to NOT_SERVING (load balancers stop sending), in-flight calls drain for the
grace period, then the server stops.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.core import tracing
from services.core.auth import TokenVerifier
from services.core.config import ServerConfig
from services.core.db import Database
from services.core.interceptors import ServerInterceptor
from services.core.metrics import serve_metrics

log = logging.getLogger("sotay.server")

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
Register = Callable[[grpc.Server], Iterable[str]]


def service_with_event_log(
    add_to_server: Callable[[Any, grpc.Server], None], servicer: object, service_name: str, db: Database
) -> Register:
    """The Register of a service: its servicer and its outbox's event log, both named for health."""
    from services.core.outbox import add_event_log

    def register(server: grpc.Server) -> Iterable[str]:
        add_to_server(servicer, server)
        return [service_name, add_event_log(server, db)]

    return register


class RunningServer:
    def __init__(self, server: grpc.Server, health_servicer: health.HealthServicer, port: int) -> None:
        self.server = server
        self.health = health_servicer
        self.port = port

    def stop(self, grace: float) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()


def start_server(
    config: ServerConfig,
    register: Register,
    verifier: TokenVerifier | None,
    public_methods: set[str],
) -> RunningServer:
    """Start serving; `register` adds the servicers and returns their full service names."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix=config.service),
        interceptors=[ServerInterceptor(config.service, verifier, public_methods)],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
            # Clients reconnect (and re-resolve) now and then, so new replicas get traffic; the
            # grace is at least the longest deadline (config.connection_age_grace), so no call is
            # cut by the ageing.
            ("grpc.max_connection_age_ms", int(config.max_connection_age * 1000)),
            ("grpc.max_connection_age_grace_ms", int(config.max_connection_age_grace * 1000)),
            # Clients ping every 30 s during a call (services.core.clients): allowed, so a long
            # quiet call (a live inbox, an export being built) is not cut as "too many pings".
            ("grpc.http2.min_ping_interval_without_data_ms", 10 * 1000),
        ],
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = list(register(server))
    port = server.add_insecure_port(f"{config.host}:{config.port}")
    if port == 0:
        raise SystemExit(f"{config.service}: cannot bind {config.host}:{config.port}")
    server.start()
    for name in ["", *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving", extra={"fields": {"addr": f"{config.host}:{port}", "services": names}})
    return RunningServer(server, health_servicer, port)


def serve_forever(
    config: ServerConfig,
    register: Register,
    verifier: TokenVerifier | None,
    public_methods: set[str],
) -> None:
    serve_metrics(config.metrics_port)
    tracing.setup(config.service)
    running = start_server(config, register, verifier, public_methods)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("shutting down", extra={"fields": {"signal": signum}})
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stopping.wait()
    running.stop(config.grace_seconds)
    log.info("stopped")
