"""gateway.api.relay_chunks: a server stream of chunks as a download body."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from gateway.api import relay_chunks


class Broken(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE


class Stream:
    """A server stream's client side: iterable, cancellable."""

    def __init__(self, items: list[Any]) -> None:
        self._items: Iterator[Any] = iter(items)
        self.cancelled = False

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> Any:
        item = next(self._items)
        if isinstance(item, Exception):
            raise item
        return item

    def cancel(self) -> None:
        self.cancelled = True


def chunk(data: bytes) -> SimpleNamespace:
    return SimpleNamespace(chunk=data, filename="x.pdf")


def test_every_chunk_is_relayed_and_the_call_ends() -> None:
    call = Stream([chunk(b"ab"), chunk(b"cd"), chunk(b"e")])
    first, body = relay_chunks(call, "test download")
    assert first.filename == "x.pdf" and not call.cancelled
    assert b"".join(body) == b"abcde"
    assert call.cancelled


def test_an_error_before_the_first_chunk_is_raised_at_once() -> None:
    with pytest.raises(Broken):
        relay_chunks(Stream([Broken()]), "test download")


def test_an_empty_stream_has_no_first_message_and_an_empty_body() -> None:
    first, body = relay_chunks(Stream([]), "test download")
    assert first is None and b"".join(body) == b""


def test_a_failure_mid_stream_is_logged_and_aborts_the_body(caplog: pytest.LogCaptureFixture) -> None:
    call = Stream([chunk(b"ab"), Broken()])
    _, body = relay_chunks(call, "test download")
    with caplog.at_level(logging.WARNING, "sotay.gateway.api"), pytest.raises(Broken):
        b"".join(body)
    assert call.cancelled
    assert "test download failed mid-stream" in caplog.text
    assert caplog.records[-1].fields == {"code": "StatusCode.UNAVAILABLE"}
