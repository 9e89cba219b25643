"""The gateway's gunicorn worker: gthread, with the health paths on threads of their own.

gthread hands every request to one pool of GATEWAY_THREADS threads. When all of them are busy
(live streams, slow uploads, a slow backend) a liveness probe would wait in the queue and the
pod be restarted for being busy. This worker looks at the first bytes of each request before
choosing a pool: `GET` of a path in HEALTH_PATHS goes to a pool of
HEALTH_THREADS threads that nothing else uses; everything else to the ordinary pool.

New connections wait for their first bytes on the worker's poller (as gthread does for idle
kept-alive ones) instead of in a pool thread, so the choice can be made from what they send.
Built on gunicorn 27's ThreadWorker (pinned in pyproject.toml); tests/integration cover it.
"""

from __future__ import annotations

import errno
import re
import selectors
import socket
import time
from concurrent import futures
from functools import partial
from typing import Any

from gunicorn.workers.gthread import DEFAULT_WORKER_DATA_TIMEOUT, TConn, ThreadWorker

HEALTH_THREADS = 2
# Served by gateway.health (this module is imported by the gunicorn master: no app imports here).
HEALTH_PATHS = ("/healthz", "/readyz", "/readyz/backends", "/metrics")
_HEALTH_REQUEST = re.compile(rb"GET (" + b"|".join(re.escape(p.encode()) for p in HEALTH_PATHS) + rb")[ ?]")


class GatewayWorker(ThreadWorker):
    health_pool: futures.ThreadPoolExecutor

    def init_process(self) -> None:
        self.health_pool = futures.ThreadPoolExecutor(max_workers=HEALTH_THREADS, thread_name_prefix="health")
        super().init_process()

    def accept(self, listener: Any) -> None:
        """Accept a connection and wait on the poller for its request (not in a pool thread)."""
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())  # non-blocking
        # As long as gthread lets a new connection be silent (also with GATEWAY_KEEPALIVE=0).
        conn.timeout = time.monotonic() + max(self.cfg.keepalive, DEFAULT_WORKER_DATA_TIMEOUT)
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn))

    def enqueue_req(self, conn: TConn) -> None:
        if not _is_health_request(conn):
            super().enqueue_req(conn)
            return
        fs = self.health_pool.submit(self.handle, conn)
        fs.add_done_callback(lambda fut: self.method_queue.defer(self.finish_request, conn, fut))

    def run(self) -> None:
        try:
            super().run()
        finally:
            self.health_pool.shutdown(wait=False)


def _is_health_request(conn: TConn) -> bool:
    if conn.parser is not None and conn.parser.unreader.buf.getvalue():
        return False  # bytes already read: not on the socket to look at
    try:
        head = conn.sock.recv(64, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:
        return False
    return _HEALTH_REQUEST.match(head) is not None
