"""The gateway's Flask app: `create_app()` (gunicorn: `gateway.app:create_app()`).

    gateway/api.py       route registry, request parsing, OpenAPI document
    gateway/routes/      the REST API, one module per area (each has `routes = Routes(...)`)
    gateway/schemas/     pydantic models of bodies, query strings and responses
    gateway/convert.py   protobuf <-> JSON
    gateway/clients.py   gRPC channels and stubs, created lazily per worker process
    gateway/errors.py    gRPC status -> HTTP, the JSON error shape
    gateway/security.py  request id, bearer token, client address, security headers
    gateway/health.py    /healthz and /readyz
"""

from __future__ import annotations

from flask import Flask

from gateway import api, clients, errors, health, security
from gateway.routes import all_routes
from gateway.settings import Settings
from services.core.logs import setup_logging


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    setup_logging("gateway")
    clients.configure(settings.rpc_timeout, settings.long_rpc_timeout)

    app = Flask("gateway", static_folder=None)  # no web UI yet: no /static route
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        PROPAGATE_EXCEPTIONS=False,  # every exception goes to gateway.errors, also in tests
        TRAP_HTTP_EXCEPTIONS=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.compact = True  # type: ignore[attr-defined]
    app.extensions["sotay.settings"] = settings
    # "/units//x" would otherwise be answered by an HTML redirect to "/units/x".
    app.url_map.merge_slashes = False

    errors.install(app)
    security.install(app, settings)
    health.install(app, settings)
    api.install(app, all_routes(), settings)
    return app
