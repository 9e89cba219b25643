"""Per-request plumbing: request id, bearer token, client address, security headers, request log."""

from __future__ import annotations

import logging
import re
import time

from flask import Flask, Response, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway.errors import ApiError
from gateway.settings import Settings
from services.core.context import new_request_id, request_id_var

log = logging.getLogger("sotay.gateway.http")

REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Bearer token characters (RFC 6750 b64token); anything else is refused before it reaches gRPC
# metadata, which must be printable ASCII.
BEARER_RE = re.compile(r"Bearer +([A-Za-z0-9\-._~+/]+=*) *", re.IGNORECASE)
MAX_TOKEN_CHARS = 8192

CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"


def incoming_request_id() -> str:
    """The caller's X-Request-Id when it is sane (short, plain characters), else a new one."""
    given = request.headers.get("X-Request-Id", "")
    return given if REQUEST_ID_RE.fullmatch(given) else new_request_id()


def bearer_token() -> str:
    """The access token of the Authorization header; 401 when it is missing or malformed."""
    header = request.headers.get("Authorization", "")
    match = BEARER_RE.fullmatch(header) if len(header) <= MAX_TOKEN_CHARS else None
    if match is None:
        raise ApiError(
            401,
            "unauthenticated",
            "this request needs an access token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": 'Bearer realm="sotay"'},
        )
    return match.group(1)


def auth_metadata() -> list[tuple[str, str]]:
    """gRPC metadata carrying the caller's token to the services, which verify it."""
    token = g.get("access_token") or bearer_token()
    return [("authorization", f"Bearer {token}")]


def client_ip() -> str:
    """The client's address (X-Forwarded-For is honoured only through GATEWAY_TRUSTED_PROXIES)."""
    return request.remote_addr or ""


def install(app: Flask, settings: Settings) -> None:
    if settings.trusted_proxies > 0:
        # Take the client address from the N-th X-Forwarded-For entry from the right: the one our
        # own proxies appended. Entries further left are whatever the client claimed.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]

    @app.before_request
    def start() -> None:
        g.started = time.perf_counter()
        rid = incoming_request_id()
        g.request_id = rid
        # The core gRPC client interceptor sends this as x-request-id metadata.
        g.request_id_token = request_id_var.set(rid)

    @app.after_request
    def finish(response: Response) -> Response:
        headers = response.headers
        headers["X-Request-Id"] = g.get("request_id") or request_id_var.get()
        headers.setdefault("Content-Security-Policy", CSP)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        if settings.hsts:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.path.startswith("/api/"):
            headers["Cache-Control"] = "no-store"
        if not log.isEnabledFor(logging.INFO):
            return response
        started = g.get("started")
        fields = {
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "ip": client_ip(),
        }
        if started is not None:
            fields["ms"] = round((time.perf_counter() - started) * 1000, 2)
        if response.content_length is not None:
            fields["bytes"] = response.content_length
        log.info("request", extra={"fields": fields})
        return response

    @app.teardown_request
    def forget(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            try:
                request_id_var.reset(token)
            except ValueError:  # set in another context (cannot happen under gunicorn); harmless
                request_id_var.set("")
