"""A province with two communes and three cells, members with logins, the identity service and
the notifications service on real gRPC servers, over the test's backend (SQLite / PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import grpc
import pytest
from flask.testing import FlaskClient

from gateway import clients
from gateway.app import create_app
from gateway.settings import Settings
from services.core.auth import TokenVerifier
from services.core.config import ServerConfig
from services.core.db import Database
from services.core.server import start_server
from services.notifications.app import MIGRATIONS, build
from sotay.identity.v1 import identity_pb2 as ipb
from sotay.notifications.v1 import notifications_pb2_grpc
from tests.support.identity import Identity, running_identity
from tests.support.service import running_service

Auth = list[tuple[str, str]]
PASSWORD = "member-password-1"


@dataclass
class World:
    identity: Identity
    stub: notifications_pb2_grpc.NotificationsServiceStub
    db: Database
    admin: Auth
    units: dict[str, str] = field(default_factory=dict)  # name -> unit id
    members: dict[str, ipb.Member] = field(default_factory=dict)  # login -> member
    _tokens: dict[str, Auth] = field(default_factory=dict)

    def token(self, login: str) -> Auth:
        if login not in self._tokens:
            self._tokens[login] = self.identity.token(login, PASSWORD)
        return self._tokens[login]

    def fresh_token(self, login: str) -> Auth:
        self._tokens.pop(login, None)
        return self.token(login)

    def add_member(self, login: str, unit: str, name: str, **fields: object) -> ipb.Member:
        m = self.identity.stub.CreateMember(
            ipb.CreateMemberRequest(
                unit_id=self.units[unit], initial_password=PASSWORD,
                fields=ipb.MemberFields(full_name=name, phone=login, **fields),  # type: ignore[arg-type]
            ),
            metadata=self.admin,
        ).member
        self.members[login] = m
        return m

    def grant(self, login: str, role: int, unit: str) -> None:
        self.identity.stub.GrantRole(
            ipb.GrantRoleRequest(account_id=self.members[login].account_id, role=role,  # type: ignore[arg-type]
                                 unit_id=self.units[unit]),
            metadata=self.admin,
        )
        self._tokens.pop(login, None)


def build_world(identity: Identity, stub: notifications_pb2_grpc.NotificationsServiceStub, db: Database) -> World:
    admin = identity.admin()
    w = World(identity, stub, db, admin, units={"province": identity.root_id})

    def unit(name: str, kind: int, parent: str) -> None:
        w.units[name] = identity.stub.CreateUnit(
            ipb.CreateUnitRequest(name=name, kind=kind, parent_id=w.units[parent]),  # type: ignore[arg-type]
            metadata=admin,
        ).unit.id

    unit("commune_a", ipb.UNIT_KIND_COMMUNE, "province")
    unit("commune_b", ipb.UNIT_KIND_COMMUNE, "province")
    unit("cell_a1", ipb.UNIT_KIND_CELL, "commune_a")
    unit("cell_a2", ipb.UNIT_KIND_CELL, "commune_a")
    unit("cell_b1", ipb.UNIT_KIND_CELL, "commune_b")
    w.add_member("0911000001", "cell_a1", "Bí thư A1", position=ipb.CELL_POSITION_SECRETARY)
    w.add_member("0911000002", "cell_a1", "Đảng viên A1")
    w.add_member("0911000003", "cell_a2", "Đảng viên A2")
    w.add_member("0911000004", "cell_b1", "Đảng viên B1")
    w.add_member("0911000005", "cell_b1", "Đảng viên B1 thứ hai")
    w.add_member("0911000006", "cell_a2", "Biên tập tỉnh")
    w.grant("0911000006", ipb.ROLE_EDITOR, "province")
    w.add_member("0911000007", "cell_a2", "Quản trị xã A")
    w.grant("0911000007", ipb.ROLE_ADMIN, "commune_a")
    return w


SECRETARY_A1, MEMBER_A1, MEMBER_A2, MEMBER_B1, MEMBER_B1_2, EDITOR, ADMIN_A = (
    f"091100000{i}" for i in range(1, 8)
)


@pytest.fixture
def world(make_database: Callable[[], Database], monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    identity_db, notifications_db = make_database(), make_database()
    with running_identity(identity_db) as identity, running_service(
        "notifications", build, notifications_db, MIGRATIONS, identity, monkeypatch
    ) as channel:
        yield build_world(identity, notifications_pb2_grpc.NotificationsServiceStub(channel), notifications_db)


def expect_error(code: grpc.StatusCode, reason: str, call: Callable[..., object], *args: object,
                 **kwargs: object) -> None:
    from services.core.errors import error_info

    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    assert caught.value.code() == code, caught.value.details()
    assert error_info(caught.value)[0] == reason, error_info(caught.value)


@pytest.fixture
def rest(
    request: pytest.FixtureRequest, make_database: Callable[[], Database], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[World, FlaskClient]]:
    """The world behind a gateway app (Flask test client); an indirect parameter gives the
    gateway's Settings fields and, under "env", the service's environment."""
    params = dict(getattr(request, "param", {}))
    for name, value in params.pop("env", {}).items():
        monkeypatch.setenv(name, value)
    identity_db, db = make_database(), make_database()
    with running_identity(identity_db) as identity:
        monkeypatch.setenv("IDENTITY_ADDR", identity.target)
        db.migrate("notifications", MIGRATIONS)
        register, keys, public = build(db)
        server = start_server(ServerConfig("notifications", "127.0.0.1", 0, 0, 8, 0.5), register,
                              TokenVerifier(keys), public)
        monkeypatch.setenv("NOTIFICATIONS_ADDR", f"127.0.0.1:{server.port}")
        channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        try:
            world = build_world(identity, notifications_pb2_grpc.NotificationsServiceStub(channel), db)
            clients.close_all()  # channels of an earlier test point at its servers
            app = create_app(Settings(**params))
            app.testing = True
            yield world, app.test_client()
        finally:
            clients.close_all()
            channel.close()
            server.stop(0)


def bearer(w: World, login: str) -> dict[str, str]:
    return {"Authorization": w.token(login)[0][1]}
