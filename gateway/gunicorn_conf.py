"""gunicorn settings of the gateway:  gunicorn -c gateway/gunicorn_conf.py 'gateway.app:create_app()'

    GATEWAY_BIND              127.0.0.1:8080 (comma-separated for several)
    GATEWAY_WORKERS           2 processes
    GATEWAY_THREADS           8 threads per process (gthread: requests mostly wait on gRPC), plus
                              2 for /healthz, /readyz, /metrics (gateway/worker.py)
    GATEWAY_TIMEOUT           60 s without a heartbeat before a worker is restarted
    GATEWAY_GRACEFUL_TIMEOUT  30 s for in-flight requests on shutdown
    GATEWAY_KEEPALIVE         5 s
    GATEWAY_CONTROL_SOCKET    unset: no gunicorn control socket; a path: gunicorn's control socket
    GATEWAY_ACCESS_LOG        unset: none (the app logs one JSON line per request itself);
                              a path such as /dev/stderr: gunicorn's access line too, as JSON
                              (it also has the bytes sent and the full time of streamed downloads)

Each worker listens on its own SO_REUSEPORT socket (reuse_port), so the kernel spreads
connections over the workers; on one shared socket a busy worker kept accepting, and one
process out of two could end up with every kept-alive connection (a third less throughput).

Metrics: the workers write them to PROMETHEUS_MULTIPROC_DIR (gateway/metrics.py), made here when
unset (a fresh folder under the temporary directory: /tmp, an emptyDir in Kubernetes) and emptied
when the master starts; a worker that exits is marked dead there (its live gauges leave the sum).

gRPC channels are never created in the master: the app is loaded in each worker (no
preload_app) and gateway.clients creates channels on first use; post_fork resets its registry
in case anything was created before the fork.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from gunicorn import glogging

from services.core.config import env, env_int
from services.core.logs import formatter

bind = [b.strip() for b in env("GATEWAY_BIND", "127.0.0.1:8080").split(",") if b.strip()]
workers = env_int("GATEWAY_WORKERS", 2)
worker_class = "gateway.worker.GatewayWorker"  # gthread; health paths on threads of their own
threads = env_int("GATEWAY_THREADS", 8)
timeout = env_int("GATEWAY_TIMEOUT", 60)
graceful_timeout = env_int("GATEWAY_GRACEFUL_TIMEOUT", 30)
keepalive = env_int("GATEWAY_KEEPALIVE", 5)
limit_request_line = 8190  # gunicorn's largest (its default is 4094): long search and list query strings fit
preload_app = False
reuse_port = True  # one listening socket per worker, balanced by the kernel
proc_name = "sotay-gateway"
# gunicorn's control socket defaults to one fixed path per user, which several gateways on one
# host (tests, replicas) would fight over, and a read-only root filesystem cannot hold: off
# unless GATEWAY_CONTROL_SOCKET names a path.
control_socket = env("GATEWAY_CONTROL_SOCKET") or "gunicorn.ctl"
control_socket_disable = not env("GATEWAY_CONTROL_SOCKET")

errorlog = "-"  # stderr
loglevel = env("LOG_LEVEL", "info").lower()
accesslog = env("GATEWAY_ACCESS_LOG") or None


class _Raw(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


class JsonLogger(glogging.Logger):
    """gunicorn's own messages like every service's (LOG_FORMAT), and (when enabled) its access
    lines as JSON."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(formatter("gateway"))
        for handler in self.access_log.handlers:
            handler.setFormatter(_Raw())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        headers = dict((k.lower(), v) for k, v in (resp.headers or []))
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "level": "info",
            "service": "gateway",
            "logger": "gunicorn.access",
            "msg": "access",
            "request_id": headers.get("x-request-id", ""),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": int(status) if str(status).isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "ms": round(request_time.total_seconds() * 1000, 2),
            "ip": environ.get("REMOTE_ADDR"),
            "agent": environ.get("HTTP_USER_AGENT", ""),
        }
        try:
            self.access_log.info(json.dumps(entry, ensure_ascii=False, default=str))
        except Exception:
            self.exception("cannot write the access log")


logger_class = JsonLogger

def on_starting(server: Any) -> None:
    """In the master, before any worker imports prometheus_client (the app is loaded in the
    workers only): the metrics folder, emptied so that counters start from zero with the master."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="sotay-gateway-metrics-")
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_fork(server: Any, worker: Any) -> None:
    from gateway import clients

    clients.reset_after_fork()


def worker_exit(server: Any, worker: Any) -> None:
    from gateway import clients

    clients.close_all()
