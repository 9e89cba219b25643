"""The OpenAPI document is built from the route registry and covers every /api/v1 route."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.api import API_PREFIX, Routes, openapi_document, openapi_path
from gateway.routes import all_routes
from gateway.schemas.common import Body, Reply


def _document(client: FlaskClient) -> dict[str, Any]:
    response = client.get(f"{API_PREFIX}/openapi.json")
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def test_the_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    document = _document(client)
    assert document["openapi"].startswith("3.1")
    validator.validate(document)


def test_every_api_route_is_documented(app: Flask, client: FlaskClient) -> None:
    documented = {
        (path, method.upper()) for path, ops in _document(client)["paths"].items() for method in ops
    }
    served = {
        (openapi_path(rule.rule)[0], method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API_PREFIX + "/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert served, "no /api/v1 routes registered"
    assert served == documented


def test_operations_are_unique_and_declare_security(client: FlaskClient) -> None:
    document = _document(client)
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    login = document["paths"][f"{API_PREFIX}/auth/login"]["post"]
    assert login["security"] == []
    me = document["paths"][f"{API_PREFIX}/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_models_become_components(client: FlaskClient) -> None:
    document = _document(client)
    schemas = document["components"]["schemas"]
    unit = schemas["Unit"]
    assert unit["properties"]["kind"]["anyOf"][0]["enum"] == [
        "province", "commune", "direct_committee", "grassroots", "cell"
    ]
    assert set(schemas["LoginBody"]["required"]) == {"username", "password"}
    assert schemas["LoginBody"]["additionalProperties"] is False
    create = document["paths"][f"{API_PREFIX}/units"]["post"]
    def schema(part: dict[str, Any]) -> Any:
        return part["content"]["application/json"]["schema"]

    assert schema(create["requestBody"]) == {"$ref": "#/components/schemas/CreateUnitBody"}
    assert schema(create["responses"]["201"]) == {"$ref": "#/components/schemas/Unit"}
    assert schema(create["responses"]["default"]) == {"$ref": "#/components/schemas/ErrorBody"}


def test_query_models_become_parameters(client: FlaskClient) -> None:
    document = _document(client)
    op = document["paths"][f"{API_PREFIX}/units/{{unit_id}}/members"]["get"]
    params = {(p["name"], p["in"]) for p in op["parameters"]}
    assert {("unit_id", "path"), ("q", "query"), ("status", "query"), ("subtree", "query"),
            ("include_inactive", "query"), ("page_size", "query"), ("page_token", "query")} == params
    audit = document["paths"][f"{API_PREFIX}/audit"]["get"]
    assert next(p for p in audit["parameters"] if p["name"] == "unit_id")["required"] is True


def test_the_import_is_a_multipart_upload(client: FlaskClient) -> None:
    op = _document(client)["paths"][f"{API_PREFIX}/units/{{unit_id}}/members/import"]["post"]
    schema = op["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(schema["properties"]) == {"file", "dry_run"}
    assert schema["required"] == ["file"]


def test_every_ref_resolves(client: FlaskClient) -> None:
    document = _document(client)
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', __import__("json").dumps(document)))
    assert refs <= set(document["components"]["schemas"])


def test_a_new_module_is_a_one_file_addition() -> None:
    """What gateway/routes/<area>.py does: its routes show up in the document with their models."""

    class Ping(Body):
        text: str

    class Pong(Reply):
        text: str

    extra = Routes("ping", "A test area")

    @extra.route("/ping", "POST", body=Ping, response=Pong, summary="Echo")
    def ping(body: Ping) -> dict[str, str]:
        return {"text": body.text}

    document = openapi_document([*all_routes(), extra])
    assert document["paths"][f"{API_PREFIX}/ping"]["post"]["operationId"] == "ping"
    assert {"Ping", "Pong"} <= set(document["components"]["schemas"])


def test_path_conversion() -> None:
    path, params = openapi_path("/api/v1/units/<unit_id>/members/<int:n>")
    assert path == "/api/v1/units/{unit_id}/members/{n}"
    assert [(p["name"], p["schema"]["type"]) for p in params] == [("unit_id", "string"), ("n", "integer")]
