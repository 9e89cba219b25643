"""The web session's token refresh against a real identity service (gRPC on loopback): an expired
access token is renewed with the refresh token; two requests refreshing at once in one process
share the new tokens instead of spending the old refresh token twice (which would end the login);
an ended login sends the member back to the login page."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from flask import Flask

from gateway import clients
from gateway.web import session
from gateway.web.session import Session
from services.core.db import Database
from sotay.identity.v1 import identity_pb2 as pb
from tests.support.identity import ROOT_ADMIN, Identity, running_identity


@pytest.fixture
def identity(database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> Iterator[Identity]:
    monkeypatch.setenv("SOTAY_DATA_DIR", str(tmp_path))
    with running_identity(database) as svc:
        monkeypatch.setenv("IDENTITY_ADDR", svc.target)
        clients.reset_after_fork()  # channels made for another address are not reused
        yield svc
        clients.close_all()


def expired_session(identity: Identity) -> Session:
    tokens = identity.login(*ROOT_ADMIN)
    me = Session()
    me.set_tokens(tokens.access_token, tokens.refresh_token, 0)
    me.expires_at = time.time() - 1
    return me


def test_an_expired_access_token_is_renewed_with_the_refresh_token(identity: Identity, app: Flask) -> None:
    me = expired_session(identity)
    old_refresh = me.refresh
    with app.test_request_context():
        token = session.fresh_access_token(me)
    # (The access token may equal the old one when issued within the same second: same claims.)
    assert token and me.refresh != old_refresh and me.changed
    assert me.expires_at > time.time() + 60
    me_reply = identity.stub.GetMe(pb.GetMeRequest(), metadata=[("authorization", f"Bearer {token}")])
    assert me_reply.username == ROOT_ADMIN[0]
    # A valid token is used as it is, without a call.
    with app.test_request_context():
        assert session.fresh_access_token(me) == token


def test_concurrent_refreshes_in_one_process_share_the_new_tokens(identity: Identity, app: Flask) -> None:
    first = expired_session(identity)
    copies = [Session(access=first.access, refresh=first.refresh, expires_at=first.expires_at) for _ in range(6)]
    got: list[str | None] = []

    def refresh(s: Session) -> None:
        with app.test_request_context():
            got.append(session.fresh_access_token(s))

    threads = [threading.Thread(target=refresh, args=(s,)) for s in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 6 and None not in got
    assert len({s.refresh for s in copies}) == 1  # one rotation, handed to all
    # The login is still alive: the new refresh token works (a reuse would have revoked it).
    assert identity.stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=copies[0].refresh)).access_token


def test_an_ended_login_clears_the_session(identity: Identity, app: Flask) -> None:
    me = expired_session(identity)
    identity.stub.Logout(pb.LogoutRequest(refresh_token=me.refresh))
    with app.test_request_context():
        assert session.fresh_access_token(me) is None
    assert not me.signed_in and me.cleared
