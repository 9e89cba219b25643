"""The gateway's gunicorn worker: gthread, with health paths on threads of their own and
gunicorn's own errors answered in the gateway's JSON error shape. gunicorn_conf.py names it.

Health: gthread hands every request to one pool of GATEWAY_THREADS threads. When all of them are
busy (live streams, slow uploads, a slow backend) a liveness probe would wait in the queue and the
pod be restarted for being busy. This worker looks at the first bytes of each request before
choosing a pool: `GET` of a path in HEALTH_PATHS goes to a pool of HEALTH_THREADS threads that
nothing else uses; everything else to the ordinary pool. New connections wait for their first
bytes on the worker's poller (as gthread does for idle kept-alive ones) instead of in a pool
thread, so the choice can be made from what they send.

Errors: a bad request line, a URI or headers too large, a malformed chunked body... are answered
as JSON (CLIENT_ERRORS) instead of gunicorn's HTML page.

Built on gunicorn 27's ThreadWorker (pinned in pyproject.toml); tests/integration cover it.
"""

from __future__ import annotations

import errno
import http
import re
import selectors
import socket
import ssl
import time
from concurrent import futures
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.http.errors import (
    ChunkMissingTerminator,
    ExpectationFailed,
    ForbiddenProxyRequest,
    InvalidChunkExtension,
    InvalidChunkSize,
    InvalidHeader,
    InvalidHeaderName,
    InvalidHTTPVersion,
    InvalidRequestLine,
    InvalidRequestMethod,
    InvalidResponseHeader,
    InvalidResponseHeaderName,
    LimitRequestHeaders,
    LimitRequestLine,
    NoMoreData,
    ParseException,
    UnsupportedTransferCoding,
)
from gunicorn.workers.gthread import DEFAULT_WORKER_DATA_TIMEOUT, TConn, ThreadWorker

# (errors, HTTP status, reason), first match wins; any other ParseException is a 400 bad_request.
CLIENT_ERRORS: list[tuple[tuple[type[BaseException], ...], int, str]] = [
    ((InvalidResponseHeader, InvalidResponseHeaderName), 500, "internal"),  # the app's fault
    ((LimitRequestLine,), 414, "uri_too_long"),
    ((LimitRequestHeaders,), 431, "headers_too_large"),
    ((UnsupportedTransferCoding,), 501, "unsupported_transfer_coding"),
    ((ExpectationFailed,), 417, "expectation_failed"),
    ((ForbiddenProxyRequest, ssl.SSLError), 403, "forbidden"),
    ((InvalidRequestLine, InvalidRequestMethod, InvalidHTTPVersion), 400, "bad_request_line"),
    ((InvalidHeader, InvalidHeaderName), 400, "bad_header"),
    ((InvalidChunkSize, ChunkMissingTerminator, InvalidChunkExtension, NoMoreData), 400, "malformed_body"),
    ((ParseException,), 400, "bad_request"),
]


def classify(exc: BaseException) -> tuple[int, str]:
    for kinds, code, reason in CLIENT_ERRORS:
        if isinstance(exc, kinds):
            return code, reason
    return 500, "internal"


def error_bytes(code: int, reason: str, message: str) -> bytes:
    """A whole HTTP/1.1 response carrying the JSON error shape; the connection closes after it."""
    import orjson

    from gateway.errors import error_document, status_for_http
    from services.core.context import new_request_id

    request_id = new_request_id()
    body = orjson.dumps(error_document(code, status_for_http(code), reason, message, {}, request_id))
    head = (
        f"HTTP/1.1 {code} {http.HTTPStatus(code).phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-Id: {request_id}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


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

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        code, reason = classify(exc)
        ip = (addr or ("", -1))[0]
        if code < 500:
            message = str(exc)[:300] or http.HTTPStatus(code).phrase
            self.log.warning("invalid request from ip=%s: %s (%d)", ip, message, code)
        else:
            message = "internal error"
            self.log.exception("error handling request from ip=%s", ip)
        try:
            util.write_nonblock(client, error_bytes(code, reason, message))
        except Exception:
            self.log.debug("cannot send the error response")

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
