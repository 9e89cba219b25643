"""gRPC channels are created lazily, once per process, never by building the app."""

from __future__ import annotations

import os

import pytest

from gateway import clients
from tests.unit.gateway.conftest import make_app


@pytest.fixture(autouse=True)
def fresh_registry() -> None:
    clients.reset_after_fork()


def test_building_the_app_creates_no_channel() -> None:
    make_app()
    assert clients._registry.channels == {}


def test_a_channel_is_made_on_first_use_and_reused() -> None:
    first = clients.channel(clients.IDENTITY)
    assert clients.channel(clients.IDENTITY) is first
    assert clients.identity() is clients.identity()
    assert clients.channel(clients.IDENTITY, long=True) is not first  # long calls: own deadline cap
    clients.close_all()


def test_a_forked_process_starts_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    parent = clients.channel(clients.IDENTITY)
    monkeypatch.setattr(os, "getpid", lambda: -1)
    child = clients.channel(clients.IDENTITY)
    assert child is not parent
    assert clients.channel(clients.IDENTITY) is child
    clients.close_all()


def test_post_fork_resets_the_registry() -> None:
    import gateway.gunicorn_conf as conf

    clients.channel(clients.IDENTITY)
    conf.post_fork(server=None, worker=None)
    assert clients._registry.channels == {}
