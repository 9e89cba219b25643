"""Any service on a real gRPC server (loopback, free port), verifying tokens with identity's keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import grpc
import pytest

from services.core.auth import KeySource, TokenVerifier
from services.core.config import ServerConfig
from services.core.db import Database, Migration
from services.core.revocation import identity_watcher
from services.core.server import Register, start_server
from tests.support.identity import Identity

Build = Callable[[Database], tuple[Register, KeySource, set[str]]]


@contextmanager
def running_service(
    name: str,
    build: Build,
    db: Database,
    migrations: Sequence[Migration],
    identity: Identity,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[grpc.Channel]:
    """Start `name` with its own database; IDENTITY_ADDR points at the test identity service and
    <NAME>_ADDR at this one (for the services started after it). Revoked tokens are learnt from
    identity by a watcher, as in production."""
    monkeypatch.setenv("IDENTITY_ADDR", identity.target)
    db.migrate(name, migrations)
    register, keys, public = build(db)
    watcher = identity_watcher(name).start()
    verifier = TokenVerifier(keys, revocations=watcher)
    server = start_server(ServerConfig(name, "127.0.0.1", 0, 0, 8, 1.0), register, verifier, public)
    monkeypatch.setenv(f"{name.upper()}_ADDR", f"127.0.0.1:{server.port}")
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield channel
    finally:
        channel.close()
        server.stop(0)
        watcher.stop()
