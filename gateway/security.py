"""Per-request plumbing: request id, bearer token (verified here before anything else reads the
request), client address, security headers, request log."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import grpc
from flask import Flask, current_app, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway import clients
from gateway.errors import ApiError
from gateway.settings import Settings
from services.core import tracing
from services.core.auth import KeySource, TokenVerifier
from services.core.context import new_request_id, request_id_var
from services.core.errors import Unauthenticated
from sotay.identity.v1 import identity_pb2

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


def _unauthenticated(reason: str, message: str) -> ApiError:
    return ApiError(401, reason, message, headers={"WWW-Authenticate": 'Bearer realm="sotay"'})


def bearer_token() -> str:
    """The access token of the Authorization header; 401 when it is missing or malformed."""
    header = request.headers.get("Authorization", "")
    match = BEARER_RE.fullmatch(header) if len(header) <= MAX_TOKEN_CHARS else None
    if match is None:
        raise _unauthenticated("unauthenticated", "this request needs an access token (Authorization: Bearer <token>)")
    return match.group(1)


class IdentityKeys:
    """identity's public keys (GetPublicKeys), for the gateway's token verifier. A failed fetch
    raises the gRPC error (503) and is remembered, so that a token whose key could not be fetched
    is a 503, not a 401 that would make a client drop a good token."""

    def __init__(self) -> None:
        self.failed = False

    def __call__(self) -> dict[str, str]:
        try:
            reply = clients.identity().GetPublicKeys(identity_pb2.GetPublicKeysRequest())
        except grpc.RpcError:
            self.failed = True
            raise
        self.failed = False
        return {k.kid: k.public_key_pem for k in reply.keys}


def authenticate() -> str:
    """The caller's access token, verified here (signature, issuer, expiry) with identity's public
    keys before the route reads anything else of the request: a missing, malformed, forged or
    expired token is a 401 whatever the path, query or body. The services verify it again and
    decide what the caller may do."""
    token = bearer_token()
    verifier: TokenVerifier = current_app.extensions["sotay.verifier"]
    try:
        verifier.verify(token)
    except Unauthenticated as exc:
        keys = current_app.extensions["sotay.keys"]
        if exc.reason == "token_key_unknown" and getattr(keys, "failed", False):
            raise ApiError(503, "keys_unavailable", "cannot check the access token now, try again shortly") from None
        raise _unauthenticated(exc.reason, exc.message) from None
    g.access_token = token
    return token


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
        path = environ.get("PATH_INFO", "")
        extra, replaced = (self.api, self.replaced) if path.startswith("/api/") else (self.fixed, self.replaced_web)
        traced = tracing.NO_SPAN if path in POLLED_PATHS else tracing.http_span(environ.get("REQUEST_METHOD", ""))
        span: Any = None

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
            tracing.http_status(span, int(status[:3]))
            level = logging.DEBUG if polled(environ, status) else logging.INFO
            if log.isEnabledFor(level):
                _log_request(environ, status, kept, started, level)
            return start_response(status, kept, exc_info)

        try:
            with traced as span:
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


def install(app: Flask, settings: Settings, keys: KeySource | None = None) -> None:
    """`keys`: where public keys come from (identity's GetPublicKeys unless given)."""
    keys = keys or IdentityKeys()
    app.extensions["sotay.keys"] = keys
    app.extensions["sotay.verifier"] = TokenVerifier(keys)
    app.wsgi_app = ResponsePlumbing(app.wsgi_app, settings)  # type: ignore[method-assign]
    if settings.trusted_proxies > 0:
        # Take the client address from the N-th X-Forwarded-For entry from the right: the one our
        # own proxies appended. Entries further left are whatever the client claimed. Outermost, so
        # the request log sees the corrected address too.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
