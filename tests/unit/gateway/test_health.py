"""/healthz never depends on anything; /readyz is this gateway only, so a degraded service does
not take every gateway out of the load balancer; /readyz/backends and /metrics report the services."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.unit.gateway.conftest import make_app


def test_healthz_is_always_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ready_while_backends_do_not_answer() -> None:
    # IDENTITY_ADDR and DOCUMENTS_ADDR point at a port that refuses connections (conftest).
    client = make_app(backends=("identity", "documents")).test_client()
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["streams"] == {"open": 0, "limit": 4}


def test_readyz_backends_names_the_backend_that_does_not_answer() -> None:
    client = make_app(backends=("identity", "documents")).test_client()
    response = client.get("/readyz/backends")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["failed"] == ["documents", "identity"]
    assert body["backends"]["identity"] == "UNAVAILABLE"


def test_metrics_have_a_gauge_per_backend() -> None:
    client = make_app(backends=("identity", "documents")).test_client()
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sotay_gateway_backend_up{backend="documents"} 0.0' in text
    assert 'sotay_gateway_backend_up{backend="identity"} 0.0' in text
    assert "sotay_gateway_streams_open 0.0" in text
    assert "sotay_gateway_streams_limit 4.0" in text


def test_readyz_backends_with_no_backends_is_ready() -> None:
    response = make_app(backends=()).test_client().get("/readyz/backends")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ready"
