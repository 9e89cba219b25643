"""Route registration for /api/v1, request parsing, and the OpenAPI document built from both.

A route module declares its routes with their models; everything else follows from that:

    routes = Routes("units", "The tree of Party organisations")

    @routes.route("/units/<unit_id>", "GET", response=Unit, summary="Read a unit")
    def get_unit(unit_id: str) -> dict[str, Any]:
        ...

The decorated view receives the path parameters, plus `body=` (a validated `body` model),
`query=` (the `query` model, from the query string) and `form=` (the `form` model, from a
multipart form) when the route declares them; a route with `stream_file=True` also receives
`upload=`, its one file relayed while it arrives (gateway/multipart.py). It returns a dict, a list or a pydantic model
(JSON with `status`), None (204), or a ready flask Response (downloads).

Before the view runs: the bearer token is verified (`auth=True`: gateway.security.authenticate, before
anything else reads the request), `guards` run (e.g. rate limits), and the body size limit is the
app's unless the route sets `max_body`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from flask import Flask, Response, current_app, jsonify, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from werkzeug.datastructures import MultiDict

from gateway.errors import ApiError
from gateway.multipart import StreamedForm
from gateway.schemas.common import ErrorBody
from gateway.security import authenticate
from gateway.settings import Settings

log = logging.getLogger("sotay.gateway.api")

API_PREFIX = "/api/v1"
API_TITLE = "Sổ tay Đảng viên API"
API_VERSION = "1.0.0"

View = Callable[..., Any]
Guard = Callable[[], None]
BodyLimit = Callable[[Settings], int]


@dataclass(frozen=True)
class Route:
    path: str  # Flask rule under API_PREFIX, e.g. "/units/<unit_id>"
    method: str
    view: View
    tag: str
    summary: str
    description: str = ""
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    form: type[BaseModel] | None = None
    files: tuple[str, ...] = ()
    stream_file: bool = False  # the one file relayed while it arrives (gateway.multipart), as `upload=`
    response: type[BaseModel] | None = None
    status: int = 200
    produces: tuple[str, ...] = ()  # media types of a non-JSON (download) response
    auth: bool = True
    guards: tuple[Guard, ...] = ()
    max_body: BodyLimit | None = None

    @property
    def rule(self) -> str:
        return API_PREFIX + self.path

    @property
    def endpoint(self) -> str:
        return f"{self.tag}.{self.view.__name__}"


@dataclass
class Routes:
    """The routes of one module of gateway/routes (its `routes` attribute)."""

    tag: str
    description: str = ""
    # Descriptions of other tags the module's routes use (route(..., tag="members")).
    other_tags: dict[str, str] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)

    def route(
        self,
        path: str,
        method: str = "GET",
        *,
        summary: str,
        description: str = "",
        tag: str = "",
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        form: type[BaseModel] | None = None,
        files: Sequence[str] = (),
        stream_file: bool = False,
        response: type[BaseModel] | None = None,
        status: int = 200,
        produces: Sequence[str] = (),
        auth: bool = True,
        guards: Sequence[Guard] = (),
        max_body: BodyLimit | None = None,
    ) -> Callable[[View], View]:
        def register(view: View) -> View:
            self.routes.append(
                Route(
                    path=path, method=method.upper(), view=view, tag=tag or self.tag, summary=summary,
                    description=description or (view.__doc__ or "").strip(), body=body, query=query,
                    form=form, files=tuple(files), stream_file=stream_file, response=response, status=status,
                    produces=tuple(produces), auth=auth, guards=tuple(guards), max_body=max_body,
                )
            )
            return view

        return register


# ---------- request parsing ----------


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _validation_error(exc: ValidationError, where: str) -> ApiError:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if any(e["type"] == "json_invalid" for e in errors):
        return ApiError(400, "malformed_json", "the request body is not valid JSON")
    problems = [
        {"field": ".".join(str(p) for p in e["loc"]) or where, "problem": e["type"], "message": e["msg"]}
        for e in errors
    ]
    first = problems[0]
    message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    details = {"field": first["field"], "problem": first["problem"], "errors": problems}
    return ApiError(400, "invalid_field", message, details)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Strict JSON: no NaN/Infinity, no duplicate keys, an object at the top."""
    if not raw.strip():
        raise ApiError(400, "malformed_json", "the request body is empty; a JSON object is expected")
    try:
        data = json.loads(raw, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "the request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", "the request body must be a JSON object")
    return data


def parse_body(model: type[BaseModel]) -> BaseModel:
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(
            415, "unsupported_media_type", "send the body as JSON (Content-Type: application/json)"
        )
    raw = request.get_data(cache=True)  # raises 413 past the body limit
    parse_json_object(raw)
    try:
        # Validated from the JSON text so strict typing follows JSON (a date may be a string).
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _validation_error(exc, "body") from None


def _single_values(source: Any) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, items in source.lists():
        if len(items) > 1:
            raise ApiError(
                400, "invalid_field", f"{key}: give it once", {"field": key, "problem": "repeated"}
            )
        values[key] = items[0]
    return values


def parse_query(model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(_single_values(request.args))
    except ValidationError as exc:
        raise _validation_error(exc, "query") from None


def parse_form(model: type[BaseModel]) -> BaseModel:
    if request.mimetype != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "send a multipart/form-data body")
    return _form_model(model, request.form)


def _form_model(model: type[BaseModel], fields: Any) -> BaseModel:
    try:
        return model.model_validate(_single_values(fields))
    except ValidationError as exc:
        raise _validation_error(exc, "form") from None


def parse_streamed_form(model: type[BaseModel], file_field: str) -> tuple[BaseModel, StreamedForm]:
    """The form's fields (validated) and its file, relayed while it arrives."""

    def complete(fields: dict[str, list[str]]) -> bool:
        try:
            _form_model(model, MultiDict(fields))
        except ApiError:
            return False
        return True

    streamed = StreamedForm.read(file_field, complete)
    streamed.finish_fields()
    return _form_model(model, MultiDict(streamed.fields)), streamed


# ---------- responses ----------


def to_response(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status=204)
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    response = jsonify(result)
    response.status_code = status
    return response


def relay_chunks(call: Any, what: str) -> tuple[Any, Iterator[bytes]]:
    """A server stream of `chunk` messages as a response body: its first message (None for an
    empty stream), read now so that an error - not found, not allowed - is a proper JSON error
    before any header is sent, and the body relaying every chunk. A failure after the headers
    aborts the connection (the client sees an incomplete download) and is logged."""
    first = next(call, None)

    def chunks() -> Iterator[bytes]:
        try:
            if first is not None:
                yield first.chunk
            for message in call:
                yield message.chunk
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            log.warning("%s failed mid-stream", what, extra={"fields": {"code": str(code)}})
            raise
        finally:
            call.cancel()

    return first, chunks()


# ---------- wiring into Flask ----------


def _endpoint(route: Route, settings: Settings) -> View:
    def endpoint(**path: str) -> Response:
        if route.max_body is not None:
            request.max_content_length = route.max_body(settings)
        if route.auth:
            authenticate()  # before anything else reads the request
        for guard in route.guards:
            guard()
        kwargs: dict[str, Any] = dict(path)
        if route.body is not None:
            kwargs["body"] = parse_body(route.body)
        if route.query is not None:
            kwargs["query"] = parse_query(route.query)
        if route.form is not None and route.stream_file:
            kwargs["form"], kwargs["upload"] = parse_streamed_form(route.form, route.files[0])
        elif route.form is not None:
            kwargs["form"] = parse_form(route.form)
        return to_response(route.view(**kwargs), route.status)

    endpoint.__name__ = route.view.__name__
    endpoint.__doc__ = route.view.__doc__
    return endpoint


def install(app: Flask, groups: Iterable[Routes], settings: Settings) -> None:
    groups = list(groups)
    seen: set[tuple[str, str]] = set()
    for group in groups:
        for route in group.routes:
            if (route.rule, route.method) in seen:
                raise RuntimeError(f"route {route.method} {route.rule} is registered twice")
            seen.add((route.rule, route.method))
            view = _endpoint(route, settings)
            app.add_url_rule(route.rule, endpoint=route.endpoint, view_func=view, methods=[route.method])
    document = openapi_document(groups)
    app.extensions["sotay.openapi"] = document

    def openapi_json() -> Response:
        return jsonify(current_app.extensions["sotay.openapi"])

    app.add_url_rule(f"{API_PREFIX}/openapi.json", endpoint="api.openapi", view_func=openapi_json)


# ---------- OpenAPI ----------

_CONVERTER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
_PATH_TYPES = {"int": {"type": "integer"}, "float": {"type": "number"}}
OPENAPI_PATH = f"{API_PREFIX}/openapi.json"


def openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """'/api/v1/units/<unit_id>' -> ('/api/v1/units/{unit_id}', [path parameter objects])."""
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _PATH_TYPES.get(converter or "", {"type": "string"}),
        }
        for converter, name in _CONVERTER.findall(rule)
    ]
    return _CONVERTER.sub(r"{\2}", rule), params


# One Server-Sent Event: a text/event-stream schema describes each event of the stream (as OpenAPI
# 3.2's itemSchema does; tools such as schemathesis read a 3.1 document so).
SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string", "description": "JSON"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0, "description": "milliseconds before reconnecting"},
    },
}


def _media_schema(media_type: str) -> dict[str, Any]:
    if media_type == "text/event-stream":
        return SSE_EVENT
    return {"type": "string", "contentMediaType": media_type}


def _error_responses() -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    return {"default": {"description": "an error", "content": {"application/json": {"schema": ref}}}}


def _operation(
    route: Route, schemas: dict[str, Any], refs: dict[tuple[type[BaseModel], str], Any]
) -> dict[str, Any]:
    _, parameters = openapi_path(route.rule)
    op: dict[str, Any] = {
        "operationId": route.view.__name__,
        "tags": [route.tag],
        "summary": route.summary,
        "security": [{"bearerAuth": []}] if route.auth else [],
    }
    if route.description:
        op["description"] = route.description
    if route.query is not None:
        component = schemas[refs[(route.query, "validation")]["$ref"].rsplit("/", 1)[-1]]
        required = set(component.get("required", []))
        for name, prop in component.get("properties", {}).items():
            schema = {k: v for k, v in prop.items() if k not in ("title", "description")}
            param = {"name": name, "in": "query", "required": name in required, "schema": schema}
            if prop.get("description"):
                param["description"] = prop["description"]
            parameters.append(param)
    if parameters:
        op["parameters"] = parameters
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
        }
    if route.form is not None or route.files:
        component = (
            schemas[refs[(route.form, "validation")]["$ref"].rsplit("/", 1)[-1]] if route.form else {}
        )
        properties = dict(component.get("properties", {}))
        for name in route.files:
            properties[name] = {"type": "string", "contentMediaType": "application/octet-stream"}
        op["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": properties,
                        "required": [*component.get("required", []), *route.files],
                    }
                }
            },
        }
    responses: dict[str, Any] = {}
    if route.response is not None:
        responses[str(route.status)] = {
            "description": "OK",
            "content": {"application/json": {"schema": refs[(route.response, "serialization")]}},
        }
    elif route.produces:
        responses[str(route.status)] = {
            "description": "a file",
            "content": {m: {"schema": _media_schema(m)} for m in route.produces},
        }
    elif route.status == 204:
        responses["204"] = {"description": "done"}
    else:
        responses[str(route.status)] = {"description": "OK", "content": {"application/json": {"schema": {}}}}
    responses.update(_error_responses())
    op["responses"] = responses
    return op


def _referenced(schemas: dict[str, Any], paths: dict[str, Any]) -> dict[str, Any]:
    """The schemas the paths use, directly or through other schemas (query and form models are
    inlined as parameters, so their own components are left out)."""
    prefix = "#/components/schemas/"
    used: set[str] = set()
    pending = [paths]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix) and ref[len(prefix):] not in used:
                used.add(ref[len(prefix):])
                pending.append(schemas[ref[len(prefix):]])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return {name: schema for name, schema in schemas.items() if name in used}


def _tags(groups: list[Routes], routes: list[Route]) -> list[dict[str, str]]:
    described = {grp.tag: grp.description for grp in groups}
    for grp in groups:
        described.update(grp.other_tags)
    names = list(dict.fromkeys([r.tag for r in routes] + ["meta"]))
    described["meta"] = "about the API"
    return [{"name": n, "description": described[n]} if described.get(n) else {"name": n} for n in names]


def openapi_document(groups: Iterable[Routes]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these routes (plus the document itself)."""
    groups = list(groups)
    routes = [r for grp in groups for r in grp.routes]
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for r in routes:
        for model, mode in ((r.body, "validation"), (r.query, "validation"), (r.form, "validation"),
                            (r.response, "serialization")):
            if model is not None and (model, mode) not in wanted:
                wanted.append((model, mode))  # type: ignore[arg-type]
    refs, definitions = models_json_schema(wanted, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = definitions.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        path, _ = openapi_path(r.rule)
        paths.setdefault(path, {})[r.method.lower()] = _operation(r, schemas, refs)  # type: ignore[arg-type]
    paths[OPENAPI_PATH] = {
        "get": {
            "operationId": "openapi",
            "tags": ["meta"],
            "summary": "This OpenAPI document",
            "security": [],
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {}}}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": API_TITLE, "version": API_VERSION},
        "tags": _tags(groups, routes),
        "paths": paths,
        "components": {
            "schemas": _referenced(schemas, paths),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
