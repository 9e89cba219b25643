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


def counted(text: str, name: str, labels: str) -> float:
    """The value of `name{labels}` in a scrape (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(part in line for part in labels.split(",")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_requests_are_counted_by_url_rule_and_code_not_by_path() -> None:
    client = make_app(backends=()).test_client()
    before = client.get("/metrics").get_data(as_text=True)
    route = 'route="/api/v1/meetings/<meeting_id>"'
    for meeting in ("m-1", "m-2", "m-3"):  # three paths, one rule; no token: 401 before any backend
        assert client.get(f"/api/v1/meetings/{meeting}").status_code == 401
    assert client.get("/no/such/page").status_code == 404
    client.get("/healthz")
    after = client.get("/metrics").get_data(as_text=True)
    total = "sotay_gateway_requests_total"
    assert counted(after, total, f'{route},code="401",method="GET"') - counted(
        before, total, f'{route},code="401",method="GET"') == 3
    unmatched = 'route="unmatched",code="404"'
    assert counted(after, total, unmatched) - counted(before, total, unmatched) == 1
    assert "m-1" not in after and "/no/such/page" not in after
    assert 'route="/healthz"' not in after and 'route="/metrics"' not in after  # probes are not counted
    histogram = "sotay_gateway_request_duration_seconds_count"
    assert counted(after, histogram, route) - counted(before, histogram, route) == 3
    assert "sotay_gateway_requests_in_flight 0.0" in after
