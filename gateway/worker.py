"""The gunicorn worker of the gateway: gunicorn's threaded worker, whose own error answers (a bad
request line, a URI or headers too large, a malformed chunked body...) are the gateway's JSON
error shape instead of gunicorn's HTML page. gunicorn_conf.py names it as `worker_class`."""

from __future__ import annotations

import http
import ssl
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
from gunicorn.workers.gthread import ThreadWorker

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


class JsonErrorWorker(ThreadWorker):
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
