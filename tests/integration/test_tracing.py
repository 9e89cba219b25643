"""Tracing across real processes: `sotay up` with OTEL_EXPORTER_OTLP_ENDPOINT set exports its spans
to a collector (here a real OTLP/HTTP receiver on loopback). One request is one trace whose id is
the request id: the gateway's span, the called service's span as its child, and that service's own
calls to another service below it. Tokens never reach a span; polls and health checks make none."""

from __future__ import annotations

import gzip
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.browser import demo_accounts
from tests.support.processes import login, running_system

pytestmark = pytest.mark.integration
SERVER = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER


@dataclass(frozen=True)
class Span:
    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    attributes: dict[str, Any]


@contextmanager
def collector() -> Iterator[tuple[str, list[Span]]]:
    """An OTLP/HTTP trace receiver on loopback: its URL and the spans it has received."""
    spans: list[Span] = []
    lock = threading.Lock()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            export = ExportTraceServiceRequest.FromString(body)
            found = []
            for resource in export.resource_spans:
                service = next(a.value.string_value for a in resource.resource.attributes if a.key == "service.name")
                for scope in resource.scope_spans:
                    for s in scope.spans:
                        attributes = {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in s.attributes}
                        found.append(Span(service, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(),
                                          s.name, s.kind, attributes))
            with lock:
                spans.extend(found)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", spans
    finally:
        server.shutdown()
        server.server_close()


def trace_of(
    spans: list[Span], trace_id: str, services: set[str], names: frozenset[str] = frozenset(), timeout: float = 30
) -> list[Span]:
    """The spans of one trace once every service in `services` has sent one and every span named in
    `names` has come (each process sends its batches every 0.2 s)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [s for s in list(spans) if s.trace_id == trace_id]
        arrived = services <= {s.service for s in found} and names <= {s.name for s in found}
        if arrived or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_one_request_is_one_trace_named_by_its_request_id(tmp_path: Path) -> None:
    with collector() as (url, spans), running_system(
        tmp_path, timeout=180, extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    ) as system:
        accounts = demo_accounts(tmp_path)
        secretary = login(system, *accounts["secretary"])

        # The gateway's span and identity's below it, in the trace whose id is the request id.
        rid = uuid.uuid4().hex
        me = requests.get(system.url("/api/v1/me"), headers={**secretary, "X-Request-Id": rid}, timeout=10)
        assert me.status_code == 200 and me.headers["X-Request-Id"] == rid
        found = trace_of(spans, rid, {"sotay-gateway", "sotay-identity"})
        gateway = [s for s in found if s.service == "sotay-gateway"]
        identity = [s for s in found if s.service == "sotay-identity"]
        assert len(gateway) == 1, found
        assert gateway[0].name == "GET /api/v1/me" and gateway[0].kind == SERVER
        assert gateway[0].parent_id == ""  # the root
        assert gateway[0].attributes["http.route"] == "/api/v1/me"
        assert gateway[0].attributes["http.response.status_code"] == 200
        assert gateway[0].attributes["sotay.request_id"] == rid
        assert identity and all(s.parent_id == gateway[0].span_id and s.kind == SERVER for s in identity)
        # GetMe, and GetPublicKeys when this gunicorn worker verifies its first token.
        (get_me,) = [s for s in identity if s.name == "sotay.identity.v1.IdentityService/GetMe"]
        assert {s.name for s in identity} - {get_me.name} <= {"sotay.identity.v1.IdentityService/GetPublicKeys"}
        assert get_me.attributes["rpc.grpc.status_code"] == "OK"
        assert get_me.attributes["sotay.request_id"] == rid

        # Three processes deep: announcing a meeting reads the cell's roster from identity.
        cell = me.json()["unit_id"]
        created = requests.post(system.url("/api/v1/meetings"), headers=secretary, timeout=10, json={
            "cell_unit_id": cell, "kind": "regular", "title": "Sinh hoạt chi bộ (truy vết)",
            "starts_at": "2026-12-20T19:30:00+07:00", "mode": "in_person"})
        assert created.status_code == 201, created.text
        rid = uuid.uuid4().hex
        announced = requests.post(system.url(f"/api/v1/meetings/{created.json()['id']}/announce"),
                                  headers={**secretary, "X-Request-Id": rid}, timeout=10)
        assert announced.status_code == 200, announced.text
        found = trace_of(spans, rid, {"sotay-gateway", "sotay-meetings", "sotay-identity"},
                         frozenset({"sotay.identity.v1.IdentityService/ListRoster"}))
        by_id = {s.span_id: s for s in found}
        (root,) = [s for s in found if s.parent_id == ""]
        assert root.service == "sotay-gateway" and root.name == "POST /api/v1/meetings/<meeting_id>/announce"
        meetings = [s for s in found if s.service == "sotay-meetings"]
        assert [s.name for s in meetings] == ["sotay.meetings.v1.MeetingsService/AnnounceMeeting"]
        assert meetings[0].parent_id == root.span_id
        # The roster read below meetings; and GetPublicKeys below the gateway when the gunicorn worker
        # that took this request (not the one that took the last) verifies its first token.
        tree = [(s.service, s.name, by_id[s.parent_id].name if s.parent_id in by_id else s.parent_id) for s in found]
        below = [s for s in found if s.service == "sotay-identity"]
        keys = "sotay.identity.v1.IdentityService/GetPublicKeys"
        assert all(by_id[s.parent_id].service == "sotay-meetings" for s in below if s.name != keys), tree
        assert all(s.parent_id in (root.span_id, meetings[0].span_id) for s in below if s.name == keys), tree

        # A refused call is the caller's fault: recorded with its code, not marked as a failure.
        rid = uuid.uuid4().hex
        missing = requests.get(system.url("/api/v1/meetings/no-such-meeting"),
                               headers={**secretary, "X-Request-Id": rid}, timeout=10)
        assert missing.status_code in (400, 404), missing.text
        refused = [s for s in trace_of(spans, rid, {"sotay-gateway", "sotay-meetings"})
                   if s.service == "sotay-meetings"]
        assert refused and refused[0].attributes["rpc.grpc.status_code"] in ("NOT_FOUND", "INVALID_ARGUMENT")

        # A caller's own request id of another form: a fresh trace id, the id kept as an attribute.
        mine = requests.get(system.url("/api/v1/me"), headers={**secretary, "X-Request-Id": "kiosk-7.req-42"},
                            timeout=10)
        assert mine.status_code == 200
        deadline = time.monotonic() + 30
        while not (tagged := [s for s in list(spans) if s.attributes.get("sotay.request_id") == "kiosk-7.req-42"]):
            assert time.monotonic() < deadline, "no span for the caller's request id"
            time.sleep(0.2)
        assert all(len(s.trace_id) == 32 and s.trace_id != "kiosk-7.req-42" for s in tagged)

        time.sleep(1.0)  # a few more batches: the relays and consumers poll all the while
        everything = list(spans)
        token = secretary["Authorization"].split()[1]
        assert not any(token in str(s.attributes) for s in everything)
        assert not any("Health" in s.name or "sotay.events.v1" in s.name or "GetInboxVersion" in s.name
                       or s.name in ("GET /healthz", "GET /readyz") for s in everything)
