"""The access token is checked before anything else of a request: whatever the path, query or
body, a request to a non-public route without a valid token is a 401 in the JSON error shape."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient

from gateway.api import API_PREFIX, Route
from gateway.app import create_app
from gateway.routes import all_routes
from gateway.settings import Settings
from services.core.auth import issue_access_token
from tests.unit.gateway.conftest import CALLER, KID, access_token, make_app

ROUTES = [r for group in all_routes() for r in group.routes]
PROTECTED = [r for r in ROUTES if r.auth]
PUBLIC = {(r.method, r.path) for r in ROUTES if not r.auth}

BAD_TOKENS = {
    "missing": None,
    "not a bearer": "Basic YWRtaW46YWRtaW4=",
    "not a JWT": "Bearer test-token",
    "garbage characters": "Bearer abc<>def",
    "forged signature": "Bearer " + issue_access_token(Ed25519PrivateKey.generate(), KID, CALLER, 3600),
    "unknown key": "Bearer " + issue_access_token(Ed25519PrivateKey.generate(), "other-kid", CALLER, 3600),
    "expired": "Bearer " + access_token(ttl=60, now=time.time() - 3600),
    "truncated": "Bearer " + access_token()[:-10],
}

# Requests that fail validation (or used to reach a 500) when the token is good.
BAD_INPUTS: dict[str, dict[str, Any]] = {
    "malformed JSON": {"data": b"{not json", "content_type": "application/json"},
    "JSON 1000 deep": {"data": b"[" * 1000 + b"]" * 1000, "content_type": "application/json"},
    "huge integers": {"data": b'{"approve": 1e400, "scores": {"a": 99999999999999999999999}}',
                      "content_type": "application/json", "query_string": "since_version=" + "9" * 30},
    "unknown query": {"query_string": "page_size=-1&nonsense=1&page_token=%ff%fe"},
    "wrong media type": {"data": b"x=1", "content_type": "application/x-www-form-urlencoded"},
}


@pytest.fixture(scope="module")
def shared() -> FlaskClient:
    """One app for the module (building one costs a second); no request here reaches a backend."""
    return make_app().test_client()


def _path(route: Route) -> str:
    return API_PREFIX + re.sub(r"<(?:\w+:)?(\w+)>", r"\1-x", route.path)


def _assert_401(response: Any, what: str) -> None:
    assert response.status_code == 401, f"{what}: {response.status_code} {response.get_data(as_text=True)[:300]}"
    error = response.get_json()["error"]
    assert error["status"] == "UNAUTHENTICATED" and error["reason"] and error["message"], what
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_public_routes_are_only_these() -> None:
    signed_download = ("GET", "/files/<token>")
    assert {("POST", "/auth/login"), ("POST", "/auth/refresh"), ("POST", "/auth/logout"), signed_download} == PUBLIC


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: f"{r.method} {r.path}")
def test_every_route_authenticates_before_it_validates(shared: FlaskClient, route: Route) -> None:
    inputs = list(BAD_INPUTS)
    # Every bad token with some bad input, and every bad input with a forged token.
    cases = {(name, inputs[i % len(inputs)]) for i, name in enumerate(BAD_TOKENS)}
    cases |= {("forged signature", name) for name in inputs}
    for token_name, input_name in sorted(cases):
        header = BAD_TOKENS[token_name]
        response = shared.open(_path(route), method=route.method, headers={"Authorization": header} if header else {},
                               **BAD_INPUTS[input_name])
        _assert_401(response, f"{route.method} {route.path}, {token_name}, {input_name}")


def test_the_reason_says_what_is_wrong(client: FlaskClient) -> None:
    reasons = {}
    for name, header in BAD_TOKENS.items():
        response = client.get("/api/v1/me", headers={"Authorization": header} if header else {})
        _assert_401(response, name)
        reasons[name] = response.get_json()["error"]["reason"]
    assert reasons["expired"] == "token_expired"
    assert reasons["forged signature"] == "token_invalid"
    assert reasons["unknown key"] == "token_key_unknown"
    assert reasons["missing"] == "unauthenticated"


def test_the_live_inbox_stream_refuses_a_bad_token_before_the_first_byte(client: FlaskClient) -> None:
    forged = {"Authorization": str(BAD_TOKENS["forged signature"])}
    response = client.get("/api/v1/inbox/events?max_seconds=5", headers=forged)
    _assert_401(response, "inbox events")
    assert response.mimetype == "application/json"


def test_a_good_token_gets_past_authentication(client: FlaskClient) -> None:
    """The same bad inputs with a valid token are validation errors (400/415), not 401."""
    response = client.post("/api/v1/units", data=b"{not json", content_type="application/json",
                           headers={"Authorization": f"Bearer {access_token()}"})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["reason"] == "malformed_json"


def test_keys_that_cannot_be_fetched_are_a_503_not_a_401(closed_port: int) -> None:
    """identity is down and the key is not known yet: the token may be good, so the client is
    told to try again rather than to sign in again."""
    app: Flask = create_app(Settings())  # public keys from identity, which does not answer
    app.testing = True
    response = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {access_token()}"})
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["error"]["status"] == "UNAVAILABLE"
