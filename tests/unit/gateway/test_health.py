"""/healthz never depends on anything; /readyz reports the backends that do not answer."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.unit.gateway.conftest import make_app


def test_healthz_is_always_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_names_the_backend_that_does_not_answer() -> None:
    # IDENTITY_ADDR and DOCUMENTS_ADDR point at a port that refuses connections (conftest).
    client = make_app(backends=("identity", "documents")).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not_ready"
    assert body["failed"] == ["documents", "identity"]
    assert body["backends"]["identity"] == "UNAVAILABLE"


def test_readyz_with_no_backends_is_ready() -> None:
    response = make_app(backends=()).test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ready"
