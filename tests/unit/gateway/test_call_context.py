"""Every gRPC call of the gateway carries the request id, and the caller's access token when it is
made inside a request that has one: the channels add them (gateway.clients.request_token), route
code passes no metadata."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from flask import g

from gateway import clients
from sotay.identity.v1 import identity_pb2 as pb
from sotay.identity.v1 import identity_pb2_grpc
from tests.unit.gateway.conftest import AUTH, make_app


class RecordingIdentity(identity_pb2_grpc.IdentityServiceServicer):
    """Answers GetMe and GetPublicKeys, keeping the metadata each call arrived with."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []

    def _record(self, context: grpc.ServicerContext) -> None:
        self.seen.append({k: v for k, v in context.invocation_metadata() if isinstance(v, str)})

    def GetMe(self, request: pb.GetMeRequest, context: grpc.ServicerContext) -> pb.GetMeResponse:
        self._record(context)
        return pb.GetMeResponse(account_id="account-1", username="an")

    def GetPublicKeys(
        self, request: pb.GetPublicKeysRequest, context: grpc.ServicerContext
    ) -> pb.GetPublicKeysResponse:
        self._record(context)
        return pb.GetPublicKeysResponse()


@pytest.fixture
def identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingIdentity]:
    servicer = RecordingIdentity()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    monkeypatch.setenv("IDENTITY_ADDR", f"127.0.0.1:{port}")
    clients.reset_after_fork()
    try:
        yield servicer
    finally:
        clients.close_all()
        server.stop(None)


def test_a_call_inside_a_request_carries_the_token_and_the_request_id(identity: RecordingIdentity) -> None:
    reply = make_app().test_client().get("/api/v1/me", headers={**AUTH, "X-Request-Id": "req-42"})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    assert reply.get_json()["id"] == "account-1"
    [seen] = identity.seen
    assert seen["authorization"] == AUTH["Authorization"]
    assert seen["x-request-id"] == "req-42"


def test_a_call_outside_a_request_carries_no_token(identity: RecordingIdentity) -> None:
    clients.identity().GetPublicKeys(pb.GetPublicKeysRequest())
    [seen] = identity.seen
    assert "authorization" not in seen
    assert seen["x-request-id"]  # a fresh one: the service logs every call under some id


def test_a_request_without_a_token_forwards_none(identity: RecordingIdentity) -> None:
    """An app context with no verified token (a public route, a health probe) adds nothing."""
    app = make_app()
    with app.test_request_context("/api/v1/auth/login", headers=AUTH):  # a header, but not verified
        clients.identity().GetPublicKeys(pb.GetPublicKeysRequest())
    assert "authorization" not in identity.seen[0]


def test_an_explicit_authorization_wins(identity: RecordingIdentity) -> None:
    """A call that names its own token (a just-issued one) sends that one, not the request's."""
    app = make_app()
    with app.test_request_context("/"):
        g.access_token = "request-token"
        clients.identity().GetMe(pb.GetMeRequest(), metadata=[("authorization", "Bearer other")])
        clients.identity().GetMe(pb.GetMeRequest())
    assert [s["authorization"] for s in identity.seen] == ["Bearer other", "Bearer request-token"]
