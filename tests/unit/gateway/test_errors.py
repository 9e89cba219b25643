"""gRPC status -> HTTP, and the one JSON error shape for every failure."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.errors import GRPC_TO_HTTP, http_status, rpc_error_response
from services.core.errors import NotFound, ResourceExhausted, ServiceError, Unauthenticated
from tests.unit.gateway.conftest import AUTH, make_app

# google/rpc/code.proto, "HTTP Mapping".
CODE_PROTO = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
}


def test_every_grpc_code_maps_as_code_proto_says() -> None:
    assert {code.name: status for code, status in GRPC_TO_HTTP.items()} == CODE_PROTO
    assert {code.name for code in grpc.StatusCode} == set(CODE_PROTO)
    for code in grpc.StatusCode:
        assert http_status(code) == CODE_PROTO[code.name]


class FakeRpcError(grpc.RpcError):
    """What a failed call raises on the client side, built from a status (no server involved)."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: Any = ()) -> None:
        self._code, self._details, self._trailing = code, details, trailing_metadata

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._trailing


def _bare(code: grpc.StatusCode, details: str) -> FakeRpcError:
    return FakeRpcError(code, details)


def _error_of(app: Flask, exc: grpc.RpcError, language: str = "") -> tuple[int, dict[str, Any], Any]:
    headers = {"Accept-Language": language} if language else {}
    with app.test_request_context("/api/v1/units/x", headers=headers):
        response = rpc_error_response(exc)
        return response.status_code, response.get_json(), response.headers


def _service_error(error: ServiceError) -> FakeRpcError:
    status: Any = error.to_status()
    return FakeRpcError(status.code, status.details, status.trailing_metadata)


def test_a_service_error_keeps_its_reason_message_and_metadata(app: Flask) -> None:
    status, body, _ = _error_of(app, _service_error(NotFound("unit_not_found", "no such unit", unit_id="u1")))
    assert status == 404
    assert body["error"]["code"] == 404
    assert body["error"]["status"] == "NOT_FOUND"
    assert body["error"]["reason"] == "unit_not_found"
    assert body["error"]["message"] == "no such unit"
    assert body["error"]["details"] == {"unit_id": "u1"}
    assert "request_id" in body["error"]


def test_errors_speak_to_people_in_vietnamese_unless_the_client_asks_for_english(app: Flask) -> None:
    wrong_login = _service_error(Unauthenticated("invalid_credentials", "wrong login or password"))
    _, body, _ = _error_of(app, wrong_login)
    assert body["error"]["message"] == "wrong login or password"  # for developers, as the service said it
    assert body["error"]["localized_message"] == {"locale": "vi", "message": "Sai tên đăng nhập hoặc mật khẩu."}
    _, body, _ = _error_of(app, wrong_login, "en-GB,en;q=0.9")
    assert body["error"]["localized_message"] == {"locale": "en", "message": "Wrong login name or password."}
    # A reason without a text of its own is told by its status.
    _, body, _ = _error_of(app, _service_error(NotFound("unit_not_found", "no such unit")), "fr, vi;q=0.5")
    assert body["error"]["localized_message"]["message"].startswith("Không tìm thấy")


def test_resource_exhausted_with_retry_after_sets_the_header(app: Flask) -> None:
    error = ResourceExhausted("account_locked", "locked", retry_after=120)
    status, body, headers = _error_of(app, _service_error(error))
    assert status == 429
    assert headers["Retry-After"] == "120"
    assert body["error"]["details"] == {"retry_after": "120"}


def test_a_transport_error_hides_its_text(app: Flask) -> None:
    exc = _bare(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; 10.0.0.7:50051: refused")
    status, body, _ = _error_of(app, exc)
    assert status == 503
    assert body["error"]["status"] == "UNAVAILABLE"
    assert body["error"]["reason"] == "unavailable"
    assert "10.0.0.7" not in body["error"]["message"]


INTERNAL_CODES = [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS]


@pytest.mark.parametrize("code", INTERNAL_CODES)
def test_internal_errors_are_500_without_their_text(app: Flask, code: grpc.StatusCode) -> None:
    status, body, _ = _error_of(app, _bare(code, 'Traceback (most recent call last): File "x.py"'))
    assert status == 500
    assert "Traceback" not in str(body)


def test_a_rpc_error_raised_in_a_view_becomes_json(app: Flask) -> None:
    def boom() -> NoReturn:
        raise _service_error(NotFound("member_not_found", "no such member"))

    app.add_url_rule("/api/v1/test-rpc-error", view_func=boom)
    response = app.test_client().get("/api/v1/test-rpc-error")
    assert response.status_code == 404
    assert response.get_json()["error"]["reason"] == "member_not_found"


def test_an_unexpected_exception_is_a_bare_500(app: Flask) -> None:
    def boom() -> NoReturn:
        raise RuntimeError("secret database password in this message")

    app.add_url_rule("/api/v1/test-boom", view_func=boom)
    response = app.test_client().get("/api/v1/test-boom", headers={"X-Request-Id": "req-500"})
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == 500
    assert error["status"] == "INTERNAL"
    assert error["request_id"] == "req-500"
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def _assert_error(response: Any, code: int, reason: str) -> dict[str, Any]:
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert set(error) == {"code", "status", "reason", "message", "localized_message", "details", "request_id"}
    assert error["code"] == code
    assert error["reason"] == reason
    assert error["request_id"] == response.headers["X-Request-Id"]
    return error  # type: ignore[no-any-return]


def test_unknown_route_is_json_404(client: FlaskClient) -> None:
    error = _assert_error(client.get("/api/v1/nothing-here"), 404, "route_not_found")
    assert error["status"] == "NOT_FOUND"
    _assert_error(client.get("/api/v1/units//ancestors", headers=AUTH), 404, "route_not_found")
    _assert_error(client.get("/api/no/such/page"), 404, "route_not_found")
    # Outside /api the web app answers with a page (tests/unit/gateway/test_web.py).
    assert client.get("/no/such/page").mimetype == "text/html"


def test_wrong_method_is_json_405_with_allow(client: FlaskClient) -> None:
    response = client.delete("/api/v1/me")
    _assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_body_too_large_is_json_413(client: FlaskClient) -> None:
    body = b'{"username": "' + b"x" * 10_000 + b'", "password": "p"}'
    response = client.post("/api/v1/auth/login", data=body, content_type="application/json")
    _assert_error(response, 413, "body_too_large")


@pytest.mark.parametrize(
    "body",
    [b"{bad", b"", b"   ", b'{"username": "a", "password": NaN}', b'{"username": "a", "username": "b"}',
     b"\xff\xfe\x00", b'{"username": "\\ud800", "password": "x"}'],
)
def test_malformed_json_is_400(client: FlaskClient, body: bytes) -> None:
    response = client.post("/api/v1/auth/login", data=body, content_type="application/json")
    error = _assert_error(response, 400, "malformed_json")
    assert error["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_a_body_that_is_not_an_object_is_400(client: FlaskClient, body: bytes) -> None:
    response = client.post("/api/v1/auth/login", data=body, content_type="application/json")
    _assert_error(response, 400, "invalid_body")


def test_a_body_that_is_not_json_is_415(client: FlaskClient) -> None:
    response = client.post("/api/v1/auth/login", data="username=a&password=b",
                           content_type="application/x-www-form-urlencoded")
    _assert_error(response, 415, "unsupported_media_type")


def test_no_html_anywhere(client: FlaskClient) -> None:
    for response in (
        client.get("/api/v1/nothing"),
        client.put("/api/v1/units"),
        client.post("/api/v1/auth/login", data=b"x" * 10_000, content_type="application/json"),
        client.post("/api/v1/auth/login", data=b"{", content_type="application/json"),
    ):
        assert response.mimetype == "application/json"
        assert b"<html" not in response.get_data().lower()


def test_login_rate_limit_is_429_with_retry_after() -> None:
    client = make_app(login_rate_limit=3).test_client()
    for _ in range(3):  # counted whatever their outcome (here: malformed, answered before any call)
        assert client.post("/api/v1/auth/login", json={}).status_code == 400
    response = client.post("/api/v1/auth/login", json={"username": "a", "password": "b"})
    error = _assert_error(response, 429, "rate_limited")
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert error["details"]["retry_after"] == response.headers["Retry-After"]
