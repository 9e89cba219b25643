"""Every error the gateway answers, as one JSON shape.

    {"error": {"code": 404, "status": "NOT_FOUND", "reason": "unit_not_found",
               "message": "...", "details": {...}, "request_id": "..."}}

gRPC status codes map to HTTP exactly as google/rpc/code.proto says. Flask's own errors (unknown
route, wrong method, body too large) use the same shape. A client never sees an HTML page or a
stack trace: anything unexpected is a 500 that names only the request id (the log has the rest).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import grpc
from flask import Flask, Response, jsonify
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import HTTPException

from gateway.convert import ConversionError
from services.core.context import current_request_id
from services.core.errors import error_info

log = logging.getLogger("sotay.gateway.errors")

# google/rpc/code.proto, "HTTP Mapping" of each code.
GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

# The "status" of errors raised by the HTTP layer itself (no gRPC call behind them).
HTTP_TO_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    411: "INVALID_ARGUMENT",
    413: "INVALID_ARGUMENT",
    414: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    431: "INVALID_ARGUMENT",
    499: "CANCELLED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# Reasons of Flask/werkzeug errors (anything else: the snake_case of the HTTP phrase).
HTTP_REASONS: dict[int, str] = {
    400: "bad_request",
    404: "route_not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}

# Messages shown instead of the transport's own text, which may name internal addresses.
GENERIC_MESSAGES: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAVAILABLE: "a backend service is unavailable, try again shortly",
    grpc.StatusCode.DEADLINE_EXCEEDED: "a backend service did not answer in time",
    grpc.StatusCode.CANCELLED: "the request was cancelled",
    grpc.StatusCode.UNIMPLEMENTED: "not implemented",
    grpc.StatusCode.INTERNAL: "internal error",
    grpc.StatusCode.UNKNOWN: "internal error",
    grpc.StatusCode.DATA_LOSS: "internal error",
}


def http_status(code: grpc.StatusCode) -> int:
    return GRPC_TO_HTTP.get(code, 500)


def status_for_http(code: int) -> str:
    if code in HTTP_TO_STATUS:
        return HTTP_TO_STATUS[code]
    return "INTERNAL" if code >= 500 else "FAILED_PRECONDITION"


class ApiError(Exception):
    """An error the gateway itself answers (bad input, missing token, rate limit...)."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def invalid_field(field: str, message: str, problem: str = "invalid") -> ApiError:
    return ApiError(400, "invalid_field", message, {"field": field, "problem": problem})


def error_document(
    code: int, status: str, reason: str, message: str, details: dict[str, Any] | None = None, request_id: str = ""
) -> dict[str, Any]:
    """The JSON error shape (also written by gateway.worker for errors gunicorn answers itself)."""
    return {
        "error": {
            "code": code,
            "status": status,
            "reason": reason,
            "message": message,
            "details": details or {},
            "request_id": request_id or current_request_id(),
        }
    }


def error_response(
    code: int,
    status: str,
    reason: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    response = jsonify(error_document(code, status, reason, message, details))
    response.status_code = code
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if code == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="sotay"')
    return response


def _retry_after(metadata: dict[str, str]) -> dict[str, str]:
    raw = metadata.get("retry_after", "")
    return {"Retry-After": raw} if re.fullmatch(r"\d{1,9}", raw) else {}


def rpc_error_response(exc: grpc.RpcError) -> Response:
    code: grpc.StatusCode = exc.code()  # type: ignore[attr-defined]
    reason, metadata = error_info(exc)
    status = http_status(code)
    if reason:
        message = exc.details() or code.name.lower()  # type: ignore[attr-defined]
    else:
        # No ErrorInfo: the error came from the transport or an unexpected failure.
        reason = code.name.lower()
        message = GENERIC_MESSAGES.get(code) or exc.details() or reason  # type: ignore[attr-defined]
    level = logging.WARNING if status >= 500 else logging.INFO
    log.log(
        level,
        "rpc failed",
        extra={"fields": {"code": code.name, "reason": reason, "detail": exc.details()}},  # type: ignore[attr-defined]
    )
    return error_response(status, code.name, reason, message, metadata, _retry_after(metadata))


def api_error_response(exc: ApiError) -> Response:
    status = status_for_http(exc.code)
    return error_response(exc.code, status, exc.reason, exc.message, exc.details, exc.headers)


def http_error_response(exc: HTTPException) -> Response:
    code = exc.code or 500
    if code < 400:  # a routing redirect: keep it as werkzeug made it
        return exc.get_response()  # type: ignore[return-value]
    reason = HTTP_REASONS.get(code) or re.sub(r"[^a-z0-9]+", "_", (exc.name or "error").lower()).strip("_")
    message = exc.description or exc.name or "error"
    headers = {}
    if code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    return error_response(code, status_for_http(code), reason, message, {}, headers)


def unexpected_error_response(exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return error_response(500, "INTERNAL", "internal", "internal error")


def install(app: Flask) -> None:
    """Register the handlers that turn every failure into the JSON error shape."""

    def handle(exc: Exception) -> Response:
        if isinstance(exc, ApiError):
            return api_error_response(exc)
        if isinstance(exc, ConversionError):  # a value that passed validation but does not fit the proto
            return api_error_response(invalid_field(exc.field, str(exc)))
        if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
            return rpc_error_response(exc)
        if isinstance(exc, HTTPException):
            return http_error_response(exc)
        if isinstance(exc, (ParseException, NoMoreData)):
            # gunicorn, reading the body for the app: a malformed chunked body, a body cut short.
            # The connection cannot carry another request after it.
            error = ApiError(400, "malformed_body", f"the request body cannot be read: {exc}"[:300],
                             headers={"Connection": "close"})
            return api_error_response(error)
        return unexpected_error_response(exc)

    app.register_error_handler(Exception, handle)
