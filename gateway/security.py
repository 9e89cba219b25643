"""Per-request plumbing: request id, bearer token, client address, security headers, request log."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway.errors import ApiError
from gateway.settings import Settings
from services.core.context import new_request_id, request_id_var

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("sotay.gateway.http")

REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Bearer token characters (RFC 6750 b64token); anything else is refused before it reaches gRPC
# metadata, which must be printable ASCII.
BEARER_RE = re.compile(r"Bearer +([A-Za-z0-9\-._~+/]+=*) *", re.IGNORECASE)
MAX_TOKEN_CHARS = 8192

POLLED_PATHS = frozenset({"/healthz", "/readyz", "/api/v1/inbox/version"})
CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"


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


class ResponsePlumbing:
    """WSGI middleware around the Flask app: the request id (kept from X-Request-Id when sane, for
    the whole request as `request_id_var`, which the gRPC client channel sends on), the security
    headers on every response, and the request log. Plain WSGI costs a fraction of Flask's
    before/after/teardown hooks, which run for every request."""

    def __init__(self, app: WSGIApplication, settings: Settings) -> None:
        self.app = app
        fixed = [("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
                 ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer")]
        if settings.hsts:
            fixed.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
        self.fixed = fixed
        self.api = [*fixed, ("Cache-Control", "no-store")]
        # The app's own value wins only for the CSP (a page may narrow it), and outside /api for
        # Cache-Control (web pages and static files choose theirs).
        self.replaced = {name.lower() for name, _ in self.api if name != "Content-Security-Policy"}
        self.replaced.add("x-request-id")
        self.replaced_web = self.replaced - {"cache-control"}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        given = environ.get("HTTP_X_REQUEST_ID", "")
        rid = given if REQUEST_ID_RE.fullmatch(given) else new_request_id()
        token = request_id_var.set(rid)
        started = time.perf_counter()
        api = environ.get("PATH_INFO", "").startswith("/api/")
        extra, replaced = (self.api, self.replaced) if api else (self.fixed, self.replaced_web)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            has_csp = False
            kept = []
            for name, value in headers:
                low = name.lower()
                if low not in replaced:
                    kept.append((name, value))
                    has_csp = has_csp or low == "content-security-policy"
            kept.append(("X-Request-Id", rid))
            kept.extend(extra[1:] if has_csp else extra)
            level = logging.DEBUG if polled(environ, status) else logging.INFO
            if log.isEnabledFor(level):
                _log_request(environ, status, kept, started, level)
            return start_response(status, kept, exc_info)

        try:
            return self.app(environ, start)
        finally:
            request_id_var.reset(token)


def polled(environ: WSGIEnvironment, status: str) -> bool:
    """A health probe or an inbox version poll that succeeded: logged at DEBUG, not INFO."""
    return environ.get("PATH_INFO", "") in POLLED_PATHS and status[:1] in ("2", "3")


def _log_request(environ: WSGIEnvironment, status: str, headers: list[tuple[str, str]], started: float,
                 level: int = logging.INFO) -> None:
    fields: dict[str, Any] = {
        "method": environ.get("REQUEST_METHOD"),
        "path": environ.get("PATH_INFO"),
        "status": int(status.split(None, 1)[0]),
        "ip": environ.get("REMOTE_ADDR", ""),
        "ms": round((time.perf_counter() - started) * 1000, 2),
    }
    length = next((v for k, v in headers if k.lower() == "content-length"), None)
    if length is not None:
        fields["bytes"] = int(length)
    log.log(level, "request", extra={"fields": fields})


def install(app: Flask, settings: Settings) -> None:
    app.wsgi_app = ResponsePlumbing(app.wsgi_app, settings)  # type: ignore[method-assign]
    if settings.trusted_proxies > 0:
        # Take the client address from the N-th X-Forwarded-For entry from the right: the one our
        # own proxies appended. Entries further left are whatever the client claimed. Outermost, so
        # the request log sees the corrected address too.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
