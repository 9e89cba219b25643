"""An identity service on a real gRPC server (loopback, free port) over a test database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc

from services.core.auth import TokenVerifier
from services.core.config import ServerConfig
from services.core.db import Database
from services.core.outbox import run_relay
from services.core.server import start_server
from services.identity.accounts import create_admin
from services.identity.app import MIGRATIONS, build
from services.identity.revocation import StoredRevocations
from sotay.identity.v1 import identity_pb2 as pb
from sotay.identity.v1 import identity_pb2_grpc

ROOT_ADMIN = ("root-admin", "root-admin-password")


@dataclass
class Identity:
    db: Database
    stub: identity_pb2_grpc.IdentityServiceStub
    target: str
    root_id: str

    def login(self, username: str, password: str) -> pb.LoginResponse:
        return self.stub.Login(pb.LoginRequest(username=username, password=password), timeout=10)

    def token(self, username: str, password: str) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.login(username, password).access_token}")]

    def admin(self) -> list[tuple[str, str]]:
        return self.token(*ROOT_ADMIN)


@contextmanager
def running_identity(db: Database) -> Iterator[Identity]:
    """Identity's server and its outbox relay (which numbers the events other services follow,
    token revocations among them)."""
    db.migrate("identity", MIGRATIONS)
    _, root_id = create_admin(db, *ROOT_ADMIN)
    register, keys, public = build(db)
    config = ServerConfig("identity", "127.0.0.1", 0, 0, 8, 1.0)
    server = start_server(config, register, TokenVerifier(keys, revocations=StoredRevocations(db)), public)
    target = f"127.0.0.1:{server.port}"
    channel = grpc.insecure_channel(target)
    stop = threading.Event()
    relay = threading.Thread(target=run_relay, args=(db, "identity", stop), daemon=True)
    relay.start()
    try:
        yield Identity(db, identity_pb2_grpc.IdentityServiceStub(channel), target, root_id)
    finally:
        channel.close()
        server.stop(0)
        stop.set()
        relay.join(timeout=10)
