"""Tracing's off state and the request ids it takes as trace ids (the traced path itself runs in
tests/integration/test_tracing.py, across real processes and a real OTLP receiver)."""

import re

import pytest

from services.core import tracing
from services.core.context import new_request_id


def test_off_without_a_collector_and_then_nothing_is_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert not tracing.configured()
    assert tracing.setup("identity") is False
    assert tracing.server_span("/sotay.identity.v1.IdentityService/GetMe", {}) is tracing.NO_SPAN
    assert tracing.http_span("GET") is tracing.NO_SPAN
    metadata = [("x-request-id", "a")]
    tracing.inject(metadata)
    assert metadata == [("x-request-id", "a")]


def test_either_endpoint_setting_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318/v1/traces")
    assert tracing.configured()


def test_request_ids_are_trace_ids_that_ratio_sampling_can_split() -> None:
    """The ratio sampler keeps a trace when its id's low 64 bits are below rate * 2**64: with a
    UUIDv4 (bit 63 always set) a 10 % rate would keep none."""
    ids = [new_request_id() for _ in range(5000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    kept = sum(int(i, 16) & (2**64 - 1) < 0.1 * 2**64 for i in ids)
    assert 350 < kept < 650
