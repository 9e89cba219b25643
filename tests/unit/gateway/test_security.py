"""Security headers, request ids and the client address."""

from __future__ import annotations

import logging

import pytest
from flask import Response
from flask.testing import FlaskClient

from tests.unit.gateway.conftest import make_app


def test_security_headers_on_every_response(client: FlaskClient) -> None:
    for response in (client.get("/healthz"), client.get("/api/v1/nothing"),
                     client.post("/api/v1/auth/login", data=b"{", content_type="application/json")):
        headers = response.headers
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in headers


def test_hsts_only_when_configured() -> None:
    response = make_app(hsts=True).test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_api_responses_are_not_cached(client: FlaskClient) -> None:
    assert client.get("/api/v1/openapi.json").headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/nothing").headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/healthz").headers.get("Cache-Control", "")


def test_a_sane_request_id_is_kept(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": "abc-123.x:y_z"})
    assert response.headers["X-Request-Id"] == "abc-123.x:y_z"
    error = client.get("/api/v1/nothing", headers={"X-Request-Id": "trace-42"}).get_json()["error"]
    assert error["request_id"] == "trace-42"


def test_an_odd_request_id_is_replaced(client: FlaskClient) -> None:
    for odd in ("has space", "<script>", "x" * 200, "ünïcode"):
        rid = client.get("/healthz", headers={"X-Request-Id": odd}).headers["X-Request-Id"]
        assert rid != odd
        assert len(rid) == 32


def test_a_request_id_is_made_when_missing(client: FlaskClient) -> None:
    first = client.get("/healthz").headers["X-Request-Id"]
    second = client.get("/healthz").headers["X-Request-Id"]
    assert first and second and first != second


def _login_status(client: FlaskClient, forwarded_for: str) -> int:
    """A malformed login (answered 400 before any call) unless the rate limit answers 429 first."""
    return client.post("/api/v1/auth/login", json={}, headers={"X-Forwarded-For": forwarded_for}).status_code


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    client = make_app(login_rate_limit=1).test_client()
    assert _login_status(client, "10.0.0.1") == 400
    # Another claimed address is the same client (the socket's address): limited.
    assert _login_status(client, "10.0.0.2") == 429


def test_forwarded_for_is_used_through_trusted_proxies() -> None:
    client = make_app(login_rate_limit=1, trusted_proxies=1).test_client()
    assert _login_status(client, "10.0.0.1") == 400
    assert _login_status(client, "10.0.0.2") == 400
    assert _login_status(client, "10.0.0.1") == 429
    # Only the entry our proxy appended counts: a client cannot pick a fresh address on the left.
    assert _login_status(client, "1.2.3.4, 10.0.0.2") == 429


def test_each_request_is_logged_with_its_id_when_info_is_on(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="sotay.gateway.http"):
        response = client.get("/api/v1/nothing", headers={"X-Request-Id": "trace-7"})
    [record] = [r for r in caplog.records if r.name == "sotay.gateway.http"]
    fields = record.fields  # type: ignore[attr-defined]
    assert (fields["method"], fields["path"], fields["status"]) == ("GET", "/api/v1/nothing", 404)
    assert fields["bytes"] == len(response.data) and fields["ms"] >= 0
    assert response.headers["X-Request-Id"] == "trace-7"


def test_a_view_may_narrow_the_content_security_policy() -> None:
    app = make_app()

    @app.get("/narrow")
    def narrow() -> Response:
        return Response("x", headers={"Content-Security-Policy": "default-src 'none'",
                                      "X-Frame-Options": "SAMEORIGIN"})

    headers = app.test_client().get("/narrow").headers
    assert headers.getlist("Content-Security-Policy") == ["default-src 'none'"]
    assert headers.getlist("X-Frame-Options") == ["DENY"]


def test_health_probes_are_logged_at_debug(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="sotay.gateway.http"):
        client.get("/healthz")
        client.get("/api/v1/nothing")
    levels = [(r.fields["path"], r.levelno) for r in caplog.records if r.name == "sotay.gateway.http"]  # type: ignore[attr-defined]
    assert levels == [("/healthz", logging.DEBUG), ("/api/v1/nothing", logging.INFO)]
