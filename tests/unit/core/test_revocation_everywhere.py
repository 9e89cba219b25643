"""A revoked access token stops working at the next request in every service, through real gRPC
servers (identity with its relay; documents, meetings and notifications with their revocation
watchers), on SQLite and PostgreSQL: identity refuses it at once, the others within their poll
interval (waited for, at most 2 s)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.core.db import Database
from services.core.errors import error_info
from services.documents.app import MIGRATIONS as DOCUMENTS_MIGRATIONS
from services.documents.app import build as documents_build
from services.meetings.app import MIGRATIONS as MEETINGS_MIGRATIONS
from services.meetings.app import build as meetings_build
from services.notifications.app import MIGRATIONS as NOTIFICATIONS_MIGRATIONS
from services.notifications.app import build as notifications_build
from sotay.documents.v1 import documents_pb2, documents_pb2_grpc
from sotay.identity.v1 import identity_pb2 as ipb
from sotay.meetings.v1 import meetings_pb2, meetings_pb2_grpc
from sotay.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from tests.support.identity import Identity, running_identity
from tests.support.service import running_service

Auth = list[tuple[str, str]]
PASSWORD = "mat-khau-ban-dau"
WITHIN = 2.0  # seconds a watcher may take (poll interval 0.5 s, relay 0.1 s)


@dataclass
class System:
    identity: Identity
    admin: Auth
    cells: list[str]
    calls: dict[str, Callable[[Auth], Any]]  # one authenticated call per service
    notifications: notifications_pb2_grpc.NotificationsServiceStub

    def member(self, phone: str, position: int = ipb.CELL_POSITION_MEMBER) -> ipb.Member:
        fields = ipb.MemberFields(full_name=f"Đảng viên {phone}", phone=phone, position=position)
        req = ipb.CreateMemberRequest(unit_id=self.cells[0], fields=fields, initial_password=PASSWORD)
        return self.identity.stub.CreateMember(req, metadata=self.admin).member

    def login(self, phone: str, password: str = PASSWORD) -> ipb.LoginResponse:
        return self.identity.login(phone, password)


def bearer(tokens: ipb.LoginResponse | ipb.RefreshTokenResponse) -> Auth:
    return [("authorization", f"Bearer {tokens.access_token}")]


@pytest.fixture
def system(make_database: Callable[[], Database], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[System]:
    monkeypatch.setenv("MEETINGS_BALLOT_KEY", base64.b64encode(b"k" * 32).decode())
    for key in ("S3_ENDPOINT", "ELASTICSEARCH_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOCUMENTS_FILES_DIR", str(tmp_path / "files"))
    monkeypatch.setenv("DOCUMENTS_SEARCH_DB", str(tmp_path / "search.db"))
    with ExitStack() as stack:
        identity = stack.enter_context(running_identity(make_database()))
        channels = {
            name: stack.enter_context(running_service(name, build, make_database(), migrations, identity, monkeypatch))
            for name, build, migrations in (
                ("documents", documents_build, DOCUMENTS_MIGRATIONS),
                ("meetings", meetings_build, MEETINGS_MIGRATIONS),
                ("notifications", notifications_build, NOTIFICATIONS_MIGRATIONS),
            )
        }
        documents = documents_pb2_grpc.DocumentsServiceStub(channels["documents"])
        meetings = meetings_pb2_grpc.MeetingsServiceStub(channels["meetings"])
        notifications = notifications_pb2_grpc.NotificationsServiceStub(channels["notifications"])
        admin = identity.admin()
        cells = [
            identity.stub.CreateUnit(
                ipb.CreateUnitRequest(name=name, kind=ipb.UNIT_KIND_CELL, parent_id=identity.root_id), metadata=admin
            ).unit.id
            for name in ("Chi bộ 1", "Chi bộ 2")
        ]
        calls: dict[str, Callable[[Auth], Any]] = {
            "identity": lambda auth: identity.stub.GetMe(ipb.GetMeRequest(), metadata=auth, timeout=10),
            "documents": lambda auth: documents.ListDocuments(
                documents_pb2.ListDocumentsRequest(), metadata=auth, timeout=10
            ),
            "meetings": lambda auth: meetings.GetRubric(meetings_pb2.GetRubricRequest(), metadata=auth, timeout=10),
            "notifications": lambda auth: notifications.ListInbox(
                notifications_pb2.ListInboxRequest(), metadata=auth, timeout=10
            ),
        }
        yield System(identity, admin, cells, calls, notifications)


def refusal(call: Callable[[Auth], Any], auth: Auth) -> tuple[grpc.StatusCode, str] | None:
    try:
        call(auth)
    except grpc.RpcError as exc:
        return exc.code(), error_info(exc)[0]
    return None


def assert_accepted(system: System, auth: Auth) -> None:
    for name, call in system.calls.items():
        assert refusal(call, auth) is None, name


def assert_revoked_everywhere(system: System, auth: Auth, cause: str) -> None:
    revoked = (grpc.StatusCode.UNAUTHENTICATED, "token_revoked")
    assert refusal(system.calls["identity"], auth) == revoked, f"identity, {cause}"
    for name, call in system.calls.items():
        deadline = time.monotonic() + WITHIN
        while (got := refusal(call, auth)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got == revoked, f"{name} after {cause}: {got}"


def test_each_revocation_stops_the_token_in_every_service(system: System) -> None:
    s, stub, admin = system, system.identity.stub, system.admin

    # A role revoked.
    editor = s.member("0915000001")
    grant = stub.GrantRole(
        ipb.GrantRoleRequest(account_id=editor.account_id, role=ipb.ROLE_EDITOR, unit_id=s.identity.root_id),
        metadata=admin,
    ).grant
    auth = bearer(s.login("0915000001"))
    assert_accepted(s, auth)
    stub.RevokeRole(ipb.RevokeRoleRequest(grant_id=grant.id), metadata=admin)
    assert_revoked_everywhere(s, auth, "role revoked")
    assert_accepted(s, bearer(s.login("0915000001")))  # a new token (without the role) works

    # A role lost with the position that gave it.
    secretary = s.member("0915000002", ipb.CELL_POSITION_SECRETARY)
    auth = bearer(s.login("0915000002"))
    assert_accepted(s, auth)
    stub.UpdateMember(
        ipb.UpdateMemberRequest(id=secretary.id, fields=ipb.MemberFields(position=ipb.CELL_POSITION_MEMBER)),
        metadata=admin,
    )
    assert_revoked_everywhere(s, auth, "position lost")
    assert_accepted(s, bearer(s.login("0915000002")))

    # A member transferred (the token's units are no longer theirs).
    moved = s.member("0915000003")
    auth = bearer(s.login("0915000003"))
    stub.TransferMember(ipb.TransferMemberRequest(id=moved.id, to_unit_id=s.cells[1], reason="chuyển"), metadata=admin)
    assert_revoked_everywhere(s, auth, "transferred")
    assert_accepted(s, bearer(s.login("0915000003")))

    # A member deactivated: no new token either.
    gone = s.member("0915000004")
    auth = bearer(s.login("0915000004"))
    assert_accepted(s, auth)
    stub.DeactivateMember(ipb.DeactivateMemberRequest(id=gone.id, reason="ra khỏi Đảng"), metadata=admin)
    assert_revoked_everywhere(s, auth, "deactivated")
    with pytest.raises(grpc.RpcError):
        s.login("0915000004")

    # A logout ends that login only: the same account's other login keeps working.
    s.member("0915000005")
    phone, laptop = s.login("0915000005"), s.login("0915000005")
    assert_accepted(s, bearer(phone))
    stub.Logout(ipb.LogoutRequest(refresh_token=phone.refresh_token))
    assert_revoked_everywhere(s, bearer(phone), "logout")
    assert_accepted(s, bearer(laptop))

    # A refresh token replayed: the whole login (every access token it gave) is revoked.
    s.member("0915000006")
    first = s.login("0915000006")
    second = stub.RefreshToken(ipb.RefreshTokenRequest(refresh_token=first.refresh_token))
    assert_accepted(s, bearer(second))
    with pytest.raises(grpc.RpcError) as replay:
        stub.RefreshToken(ipb.RefreshTokenRequest(refresh_token=first.refresh_token))
    assert error_info(replay.value)[0] == "refresh_token_reused"
    assert_revoked_everywhere(s, bearer(first), "refresh family revoked")
    assert_revoked_everywhere(s, bearer(second), "refresh family revoked")

    # The password changed by its owner, or reset by an admin: every login of the account ends.
    s.member("0915000007")
    auth, other = bearer(s.login("0915000007")), bearer(s.login("0915000007"))
    stub.ChangePassword(
        ipb.ChangePasswordRequest(current_password=PASSWORD, new_password="mat-khau-moi-1"), metadata=auth
    )
    assert_revoked_everywhere(s, auth, "password changed")
    assert_revoked_everywhere(s, other, "password changed")
    auth = bearer(s.login("0915000007", "mat-khau-moi-1"))
    assert_accepted(s, auth)
    reset = s.member("0915000008")
    auth = bearer(s.login("0915000008"))
    stub.ResetPassword(
        ipb.ResetPasswordRequest(account_id=reset.account_id, new_password="mat-khau-moi-2"), metadata=admin
    )
    assert_revoked_everywhere(s, auth, "password reset")
    assert_accepted(s, bearer(s.login("0915000008", "mat-khau-moi-2")))


def test_a_service_started_after_a_revocation_refuses_the_token(
    system: System, make_database: Callable[[], Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server (re)started later learns earlier revocations from identity's snapshot."""
    gone = system.member("0915000009")
    auth = bearer(system.login("0915000009"))
    system.identity.stub.DeactivateMember(ipb.DeactivateMemberRequest(id=gone.id), metadata=system.admin)
    with running_service(
        "meetings", meetings_build, make_database(), MEETINGS_MIGRATIONS, system.identity, monkeypatch
    ) as channel:
        late = meetings_pb2_grpc.MeetingsServiceStub(channel)
        got = refusal(lambda a: late.GetRubric(meetings_pb2.GetRubricRequest(), metadata=a, timeout=10), auth)
        assert got == (grpc.StatusCode.UNAUTHENTICATED, "token_revoked")
        assert refusal(lambda a: late.GetRubric(meetings_pb2.GetRubricRequest(), metadata=a, timeout=10),
                       system.admin) is None


def test_a_live_stream_sends_nothing_more_once_its_token_is_revoked(system: System) -> None:
    """WatchInbox was opened with a valid token; after a logout the next change is not sent: the
    stream ends with token_revoked."""
    s = system
    s.member("0915000010")
    tokens = s.login("0915000010")
    auth = bearer(tokens)
    known = s.notifications.GetInboxVersion(notifications_pb2.GetInboxVersionRequest(), metadata=auth).version
    stream = s.notifications.WatchInbox(
        notifications_pb2.WatchInboxRequest(known_version=known, max_seconds=20), metadata=auth, timeout=30
    )
    s.identity.stub.Logout(ipb.LogoutRequest(refresh_token=tokens.refresh_token))
    assert_revoked_everywhere(s, auth, "logout")
    s.notifications.CreateBulletin(
        notifications_pb2.CreateBulletinRequest(
            publisher_unit_id=s.identity.root_id, title="Thông báo mới", body_html="<p>Nội dung</p>"
        ),
        metadata=s.admin,
    )
    with pytest.raises(grpc.RpcError) as ended:
        next(stream)
    assert (ended.value.code(), error_info(ended.value)[0]) == (grpc.StatusCode.UNAUTHENTICATED, "token_revoked")
