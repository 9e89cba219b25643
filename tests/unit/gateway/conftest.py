"""Gateway unit tests: the Flask app with no backend behind it.

Every request here is answered by the gateway itself (health, validation, errors, limits)
before any gRPC call; IDENTITY_ADDR points at a port nothing listens on, so a call that slipped
through would fail fast rather than reach a real service. Calls through a real identity are in
tests/integration. Access tokens are real EdDSA tokens signed by a key made here, whose public
half the app verifies them with (in production: identity's public keys).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from flask.testing import FlaskClient

from gateway.app import create_app
from gateway.settings import Settings
from services.core.auth import Principal, issue_access_token

SIGNING_KEY = Ed25519PrivateKey.generate()
KID = "gateway-test"
PUBLIC_KEYS = {KID: SIGNING_KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()}
CALLER = Principal("account-1", "member-1", "cell-1", ("root-1", "cell-1"))


def access_token(ttl: int = 3600, now: float | None = None) -> str:
    return issue_access_token(SIGNING_KEY, KID, CALLER, ttl, now)


AUTH = {"Authorization": f"Bearer {access_token()}"}


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening) for the test's duration."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture(autouse=True)
def no_backend(monkeypatch: pytest.MonkeyPatch, closed_port: int) -> None:
    for name in ("identity", "documents", "meetings", "notifications"):
        monkeypatch.setenv(f"{name.upper()}_ADDR", f"127.0.0.1:{closed_port}")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")


def make_app(**overrides: object) -> Flask:
    settings = Settings(**{"max_body_bytes": 4096, "max_import_bytes": 8192, **overrides})  # type: ignore[arg-type]
    app = create_app(settings, keys=lambda: PUBLIC_KEYS)
    app.testing = True
    return app


@pytest.fixture
def app() -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
