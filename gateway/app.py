"""The gateway's Flask app: `create_app()` (gunicorn: `gateway.app:create_app()`).

    gateway/api.py       route registry, request parsing, OpenAPI document
    gateway/routes/      the REST API, one module per area (each has `routes = Routes(...)`)
    gateway/schemas/     pydantic models of bodies, query strings and responses
    gateway/convert.py   protobuf <-> JSON
    gateway/clients.py   gRPC channels and stubs, created lazily per worker process
    gateway/errors.py    gRPC status -> HTTP, the JSON error shape
    gateway/security.py  request id, bearer token, client address, security headers
    gateway/health.py    /healthz, /readyz (this gateway), /readyz/backends, /metrics
    gateway/metrics.py   requests by route and code, latency, in-flight, streams (every worker's)
    gateway/streams.py   caps on live streams (SSE) per worker and per member
    gateway/worker.py    gunicorn worker: health paths on threads of their own, its errors as JSON
    gateway/web/         the members' web pages (HTML) at /
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider

from gateway import api, clients, errors, health, metrics, security, web
from gateway.routes import all_routes
from gateway.settings import Settings
from gateway.streams import StreamLimiter
from services.core import tracing
from services.core.auth import KeySource
from services.core.logs import setup_logging


class JSONProvider(DefaultJSONProvider):
    """JSON bodies encoded by orjson (a 50-member page costs a fifth of the json module's time):
    UTF-8, compact, keys in insertion order; other types as Flask's default provider."""

    ensure_ascii = False
    sort_keys = False
    compact = True

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:
            return super().dumps(obj, **kwargs)
        return self._encode(obj).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = self._encode(self._prepare_response_obj(args, kwargs))
        return Response(body, mimetype=self.mimetype)

    def _encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=self.default, option=orjson.OPT_NON_STR_KEYS)


class GatewayFlask(Flask):
    json_provider_class = JSONProvider


def create_app(settings: Settings | None = None, keys: KeySource | None = None) -> Flask:
    """`keys`: the public keys verifying access tokens (default: fetched from identity)."""
    settings = settings or Settings.from_env()
    setup_logging("gateway")
    tracing.setup("gateway")
    clients.configure(settings.rpc_timeout, settings.long_rpc_timeout)

    app = GatewayFlask("gateway", static_folder=None)  # the web blueprint serves /static
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        PROPAGATE_EXCEPTIONS=False,  # every exception goes to gateway.errors, also in tests
        TRAP_HTTP_EXCEPTIONS=False,
    )
    app.extensions["sotay.settings"] = settings
    # "/units//x" would otherwise be answered by an HTML redirect to "/units/x".
    app.url_map.merge_slashes = False

    errors.install(app)
    metrics.install(app, settings.max_streams)  # first: it also counts what security.install refuses
    security.install(app, settings, keys)
    streams = app.extensions["sotay.streams"] = StreamLimiter(settings.max_streams, settings.max_streams_per_member)
    health.install(app, settings, streams)
    api.install(app, all_routes(), settings)
    web.install(app)
    return app
