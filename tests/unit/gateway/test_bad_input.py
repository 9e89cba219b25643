"""Bad input is a 400 with a reason, never a 500: integers that do not fit the protobuf field they
end in, JSON nested 1000 deep, invalid UTF-8, surrogates. No backend answers here (a request that
gets through validation is a 503), so a 500 can only be the gateway's own failure."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask.testing import FlaskClient

from gateway.schemas.common import INT32_MAX, INT32_MIN, INT64_MAX
from tests.unit.gateway.conftest import AUTH, make_app

JSON = {**AUTH, "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def shared() -> FlaskClient:
    return make_app(max_body_bytes=1024 * 1024).test_client()  # the production limit


def _walk(node: Any, schemas: dict[str, Any], where: str, seen: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every integer schema under `node`, with where it is."""
    found = []
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                found += _walk(schemas[name], schemas, f"{where}->{name}", seen | {name})
        if node.get("type") == "integer":
            found.append((where, node))
        for key, value in node.items():
            found += _walk(value, schemas, f"{where}.{key}", seen)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _walk(value, schemas, f"{where}[{i}]", seen)
    return found


def test_every_integer_a_client_sends_is_bounded_to_its_protobuf_type(shared: FlaskClient) -> None:
    """int32 unless the schema says int64: pydantic then refuses what protobuf would raise on."""
    document = shared.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    integers = []
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            integers += _walk(op.get("parameters", []), schemas, where, set())
            integers += _walk(op.get("requestBody", {}), schemas, where, set())
    assert len(integers) >= 20
    for where, schema in integers:
        low, high = (-(2**63), INT64_MAX) if schema.get("format") == "int64" else (INT32_MIN, INT32_MAX)
        assert "minimum" in schema and "maximum" in schema, f"{where}: unbounded integer {schema}"
        assert low <= schema["minimum"] <= schema["maximum"] <= high, f"{where}: {schema}"


# (method, path, JSON body or None, the field named in the 400) - each one gave a 500 before.
OUT_OF_RANGE = [
    ("PUT", "/api/v1/meetings/polls/p1/room-count", {"approve": INT32_MAX + 1}, "approve"),
    ("PUT", "/api/v1/meetings/polls/p1/room-count", {"abstain": 2**80}, "abstain"),
    ("POST", "/api/v1/meetings/m1/evaluations", {"scores": {"c1": INT32_MAX + 1}}, "scores.c1"),
    ("POST", "/api/v1/meetings/m1/evaluations", {"scores": {"c1": INT32_MIN - 1}}, "scores.c1"),
    ("GET", f"/api/v1/meetings/m1/live?since_version={INT64_MAX + 1}", None, "since_version"),
    ("GET", "/api/v1/meetings/m1/live?since_version=" + "9" * 40, None, "since_version"),
    ("GET", f"/api/v1/documents/d1/view?version={INT32_MAX + 1}", None, "version"),
    ("GET", f"/api/v1/documents/d1/download?version={2**40}", None, "version"),
    ("GET", f"/api/v1/units?page_size={2**40}", None, "page_size"),
    ("GET", f"/api/v1/inbox/events?max_seconds={2**40}", None, "max_seconds"),
    ("PUT", "/api/v1/preferences/notifications", {"quiet_start_minute": 2**40}, "quiet_start_minute"),
    ("POST", "/api/v1/meetings/tasks/t1/progress", {"progress_percent": 2**63}, "progress_percent"),
    # Texts of a query string: page tokens are what the services hand out, other texts are short.
    ("GET", "/api/v1/units?page_token=%ff%fe", None, "page_token"),
    ("GET", "/api/v1/documents?page_token=" + "A" * 201, None, "page_token"),
    ("GET", "/api/v1/roles?unit_id=" + "u" * 201, None, "unit_id"),
]

# The largest values that fit: they pass validation and reach the (absent) backend: 503.
AT_THE_LIMIT = [
    ("PUT", "/api/v1/meetings/polls/p1/room-count", {"approve": INT32_MAX, "reject": INT32_MAX}),
    ("POST", "/api/v1/meetings/m1/evaluations", {"scores": {"c1": INT32_MAX, "c2": INT32_MIN}}),
    ("GET", f"/api/v1/meetings/m1/live?since_version={INT64_MAX}", None),
    ("GET", f"/api/v1/documents/d1/view?version={INT32_MAX}", None),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), OUT_OF_RANGE)
def test_integers_out_of_range_are_a_400_naming_the_field(
    shared: FlaskClient, caplog: pytest.LogCaptureFixture, method: str, path: str, body: Any, field: str
) -> None:
    data = None if body is None else _dumps(body)
    response = shared.open(path, method=method, data=data, headers=JSON)
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["reason"] == "invalid_field" and error["details"]["field"] == field, error
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("method", "path", "body"), AT_THE_LIMIT)
def test_the_largest_integers_reach_the_backend(shared: FlaskClient, method: str, path: str, body: Any) -> None:
    response = shared.open(path, method=method, data=None if body is None else _dumps(body), headers=JSON)
    assert response.status_code == 503, response.get_data(as_text=True)


def test_a_huge_etag_is_not_a_version(shared: FlaskClient) -> None:
    response = shared.get("/api/v1/meetings/m1/live", headers={**AUTH, "If-None-Match": '"v' + "9" * 40 + '"'})
    assert response.status_code == 503, response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("name", "path", "data"),
    [
        ("arrays 1000 deep, login", "/api/v1/auth/login", b"[" * 1000 + b"]" * 1000),
        ("objects 1000 deep, login", "/api/v1/auth/login", b'{"a":' * 1000 + b"1" + b"}" * 1000),
        ("arrays 1000 deep in a field", "/api/v1/push-subscriptions",
         b'{"endpoint":"e","keys":{"p256dh":"p","auth":"a"},"expirationTime":' + b"[" * 1000 + b"]" * 1000 + b"}"),
        ("arrays 100000 deep", "/api/v1/units", b"[" * 100_000 + b"]" * 100_000),
        ("invalid UTF-8", "/api/v1/auth/login", b'{"username":"\xff\xfe","password":"x"}'),
        ("a lone surrogate", "/api/v1/auth/login", b'{"username":"\\ud800","password":"x"}'),
        ("a lone surrogate in a key", "/api/v1/meetings/m1/evaluations", b'{"scores":{"\\udfff":1}}'),
        ("a number of 5000 digits", "/api/v1/units", b'{"name":' + b"9" * 5000 + b"}"),
        ("1e400", "/api/v1/meetings/polls/p1/room-count", b'{"approve":1e400}'),
        ("NaN", "/api/v1/meetings/polls/p1/room-count", b'{"approve":NaN}'),
        ("UTF-16", "/api/v1/auth/login", '{"username":"a","password":"b"}'.encode("utf-16")),
    ],
)
def test_malformed_json_is_a_400(
    shared: FlaskClient, caplog: pytest.LogCaptureFixture, name: str, path: str, data: bytes
) -> None:
    method = "PUT" if path.endswith("room-count") else "POST"
    response = shared.open(path, method=method, data=data, headers=JSON)
    assert response.status_code == 400, f"{name}: {response.get_data(as_text=True)[:300]}"
    error = response.get_json()["error"]
    assert error["reason"] in ("malformed_json", "invalid_field") and error["message"], error
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], name


def test_invalid_utf8_in_path_and_query_is_not_a_500(shared: FlaskClient) -> None:
    for path in ("/api/v1/units/%ff%fe", "/api/v1/units?parent_id=%ff%fe&page_token=%c3%28",
                 "/api/v1/units/%ed%a0%80/members?q=%ed%a0%80"):
        response = shared.get(path, headers=AUTH)
        assert response.status_code in (400, 404, 503), f"{path}: {response.get_data(as_text=True)}"


def _dumps(body: Any) -> bytes:
    import json

    return json.dumps(body).encode()
