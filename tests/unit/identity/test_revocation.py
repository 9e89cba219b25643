"""Identity's revocation records: what ListTokenRevocations gives a starting watcher."""

from __future__ import annotations

import grpc
import pytest

from services.core.errors import error_info
from services.core.outbox import relay_once
from services.core.revocation import REVOKED_SESSION
from services.identity.revocation import revoke_account, revoke_session
from sotay.identity.v1 import identity_pb2 as pb
from tests.support.identity import Identity


def snapshot(identity: Identity, page_size: int) -> tuple[dict[str, int], int]:
    found: dict[str, int] = {}
    token, seq = "", -1
    while True:
        reply = identity.stub.ListTokenRevocations(
            pb.ListTokenRevocationsRequest(page_size=page_size, page_token=token), timeout=10
        )
        seq = reply.event_seq if seq < 0 else seq
        found.update({r.subject: r.min_version for r in reply.revocations})
        token = reply.next_page_token
        if not token:
            return found, seq


def test_recent_revocations_page_by_page_with_the_event_position(identity: Identity) -> None:
    with identity.db.write() as conn:
        for account in ("acct-a", "acct-b", "acct-c"):
            revoke_account(conn, account, "test")
        revoke_account(conn, "acct-b", "test")  # counts up
        revoke_session(conn, "acct-c", "login-1", "logout", keep_seconds=900)
    relay_once(identity.db, "identity")
    found, seq = snapshot(identity, page_size=2)
    assert found == {"acct-a": 1, "acct-b": 2, "acct-c": 1, "login-1": REVOKED_SESSION}
    with identity.db.read() as conn:
        top = conn.exec_driver_sql("SELECT MAX(seq) FROM outbox").scalar()
    assert seq == top  # a watcher follows the events after this one

    # Old revocations are left out (their tokens have expired); revoked logins are forgotten.
    with identity.db.write() as conn:
        conn.exec_driver_sql("UPDATE token_revocations SET revoked_at = revoked_at - 3600")
        revoke_session(conn, "acct-a", "login-2", "logout", keep_seconds=900)
        kept = sorted(r[0] for r in conn.exec_driver_sql("SELECT subject FROM token_revocations"))
    assert kept == ["acct-a", "acct-b", "acct-c", "login-2"]
    assert snapshot(identity, page_size=100)[0] == {"login-2": REVOKED_SESSION}

    with pytest.raises(grpc.RpcError) as bad:
        identity.stub.ListTokenRevocations(pb.ListTokenRevocationsRequest(page_size=-1), timeout=10)
    assert (bad.value.code(), error_info(bad.value)[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_page_size")


def test_a_new_token_carries_the_accounts_current_version(identity: Identity) -> None:
    first = identity.login("root-admin", "root-admin-password")
    me = identity.stub.GetMe(pb.GetMeRequest(), metadata=[("authorization", f"Bearer {first.access_token}")])
    with identity.db.write() as conn:
        revoke_account(conn, me.account_id, "test")
    fresh = identity.admin()
    assert identity.stub.GetMe(pb.GetMeRequest(), metadata=fresh).account_id == me.account_id
    with pytest.raises(grpc.RpcError) as old:
        identity.stub.GetMe(pb.GetMeRequest(), metadata=[("authorization", f"Bearer {first.access_token}")])
    assert error_info(old.value)[0] == "token_revoked"
