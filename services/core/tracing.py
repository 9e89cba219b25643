"""Optional OpenTelemetry tracing across the gateway and the services: one trace per request.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) names a collector;
then every process exports its spans there over OTLP/HTTP in batches (the standard OTEL_BSP_* and
OTEL_EXPORTER_OTLP_* settings apply; the provider flushes at exit). Off, it costs one test of a
global per request or call.

- The trace id is the request id (32 hex digits when the gateway made it), so the id in a log line,
  an error reply or an X-Request-Id header finds the trace. A caller's own X-Request-Id of another
  form gets a random trace id; the request id is always the span attribute `sotay.request_id`.
  Ratio sampling (OTEL_TRACES_SAMPLER=parentbased_traceidratio) reads a trace id's last 16 hex
  digits: a caller that sends its own 32-hex ids should make those random (not a UUIDv4's).
- The gateway opens a SERVER span per HTTP request, named after its route; each service opens a
  SERVER span per RPC, a child of the caller's (W3C `traceparent` travels with the gRPC metadata,
  added by ContextChannel). Health checks, event-log pulls and inbox polls are not traced.
- Spans hold routes, methods and status codes: never tokens, bodies, query strings or names.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, MutableSequence
from typing import Any

from services.core.context import request_id_var

HEX32 = re.compile(r"[0-9a-f]{32}")
NO_SPAN = contextlib.nullcontext()


class _On:
    """What tracing uses once setup() found a collector (imported only then)."""

    def __init__(self, service: str) -> None:
        from opentelemetry import propagate, trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
        from opentelemetry.trace import SpanKind, Status, StatusCode

        class RequestIds(RandomIdGenerator):
            """A trace started here takes the current request id as its id when it is one."""

            def generate_trace_id(self) -> int:
                rid = request_id_var.get()
                if HEX32.fullmatch(rid) and int(rid, 16):
                    return int(rid, 16)
                return super().generate_trace_id()

        self.provider = TracerProvider(resource=Resource.create({"service.name": f"sotay-{service}"}),
                                       id_generator=RequestIds())
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(self.provider)
        self.tracer = trace.get_tracer("sotay")
        self.trace, self.propagate, self.server = trace, propagate, SpanKind.SERVER
        self.error = lambda text: Status(StatusCode.ERROR, text)


_on: _On | None = None


def configured() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def setup(service: str) -> bool:
    """Export this process's spans as `sotay-<service>` when a collector is configured; True if on."""
    global _on
    if _on is None and configured():
        _on = _On(service)
    return _on is not None


def server_span(method: str, metadata: Mapping[str, str]) -> contextlib.AbstractContextManager[Any]:
    """The span of one inbound RPC, a child of the caller's span when its metadata carries one."""
    if _on is None:
        return NO_SPAN
    service, _, name = method.lstrip("/").partition("/")
    return _on.tracer.start_as_current_span(  # type: ignore[no-any-return]
        method.lstrip("/"), context=_on.propagate.extract(metadata), kind=_on.server,
        record_exception=False, set_status_on_exception=False,  # rpc_status says what failed
        attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name,
                    "sotay.request_id": request_id_var.get()},
    )


def http_span(method: str) -> contextlib.AbstractContextManager[Any]:
    """The span of one HTTP request at the gateway (renamed `METHOD route` once routed)."""
    if _on is None:
        return NO_SPAN
    return _on.tracer.start_as_current_span(  # type: ignore[no-any-return]
        method, kind=_on.server, attributes={"http.request.method": method, "sotay.request_id": request_id_var.get()}
    )


def rpc_status(code: str, error: bool) -> None:
    """The current RPC span's outcome: a gRPC status code name."""
    if _on is not None:
        span = _on.trace.get_current_span()
        span.set_attribute("rpc.grpc.status_code", code)
        if error:
            span.set_status(_on.error(code))


def http_route(method: str, route: str) -> None:
    """Name the current HTTP span after the route Flask matched."""
    if _on is not None:
        span = _on.trace.get_current_span()
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)


def http_status(span: Any, status: int) -> None:
    """The HTTP span's outcome (`span` as http_span gave it: None when off)."""
    if span is not None and _on is not None:
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(_on.error(str(status)))


class _MetadataSetter:
    def set(self, carrier: MutableSequence[tuple[str, str]], key: str, value: str) -> None:
        carrier.append((key, value))


_SETTER = _MetadataSetter()


def inject(metadata: MutableSequence[tuple[str, str]]) -> None:
    """Add the current span's `traceparent` to an outbound call's metadata (nothing when off)."""
    if _on is not None:
        _on.propagate.inject(metadata, setter=_SETTER)
