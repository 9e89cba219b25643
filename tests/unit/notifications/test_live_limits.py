"""Live inbox streams cannot take every thread: the gateway caps them per worker and per member
(503 / 429 JSON at once), the notifications server caps WatchInbox below its RPC threads
(RESOURCE_EXHAUSTED), and an ordinary call still gets through while the streams are open."""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest
from flask.testing import FlaskClient

from services.core.errors import error_info
from sotay.notifications.v1 import notifications_pb2 as pb
from tests.unit.notifications.conftest import MEMBER_A1, MEMBER_A2, MEMBER_B1, World, bearer

GATEWAY_CAPS = {"max_streams": 2, "max_streams_per_member": 1}
SERVER_CAPS = {"env": {"INBOX_WATCH_MAX_STREAMS": "2", "INBOX_WATCH_MAX_PER_MEMBER": "1"}}


def open_stream(client: FlaskClient, w: World, login: str) -> Any:
    return client.get("/api/v1/inbox/events?max_seconds=30", headers=bearer(w, login), buffered=False)


@pytest.mark.parametrize("rest", [GATEWAY_CAPS], indirect=True)
def test_gateway_answers_429_and_503_beyond_its_stream_caps(rest: tuple[World, FlaskClient]) -> None:
    w, client = rest
    first = open_stream(client, w, MEMBER_B1)
    assert first.status_code == 200 and first.mimetype == "text/event-stream"
    again = open_stream(client, w, MEMBER_B1)
    assert again.status_code == 429
    assert again.get_json()["error"]["reason"] == "too_many_streams" and again.headers["Retry-After"] == "30"
    other = open_stream(client, w, MEMBER_A1)
    assert other.status_code == 200
    full = open_stream(client, w, MEMBER_A2)
    assert full.status_code == 503
    assert full.get_json()["error"] == {**full.get_json()["error"], "reason": "streams_full", "details": {"limit": 2}}
    assert client.get("/readyz").get_json()["streams"] == {"open": 2, "limit": 2}
    # Ordinary calls are not streams: they still go through.
    assert client.get("/api/v1/inbox/version", headers=bearer(w, MEMBER_A2)).status_code == 200
    first.close()  # the client goes away: its slot is free again
    later = open_stream(client, w, MEMBER_A2)
    assert later.status_code == 200
    chunks = iter(later.response)
    assert next(chunks) == b"retry: 5000\n\n" and b"event: inbox" in next(chunks)
    later.close()
    other.close()
    assert client.get("/readyz").get_json()["streams"]["open"] == 0
    # A token the service refuses is a JSON 401, not an empty stream (and frees its slot).
    forged = client.get("/api/v1/inbox/events", headers={"Authorization": "Bearer e30.eyJzdWIiOiJ4In0.c2ln"})
    assert forged.status_code == 401 and forged.mimetype == "application/json"
    assert client.get("/readyz").get_json()["streams"]["open"] == 0


@pytest.mark.parametrize("rest", [SERVER_CAPS], indirect=True)
def test_watch_inbox_is_capped_below_the_rpc_threads(rest: tuple[World, FlaskClient]) -> None:
    w, client = rest

    def watch(login: str) -> Any:
        call = w.stub.WatchInbox(pb.WatchInboxRequest(max_seconds=30), metadata=w.token(login), timeout=40)
        next(call)  # the first message comes at once (no known_version)
        return call

    def refused(login: str) -> str:
        with pytest.raises(grpc.RpcError) as caught:
            watch(login)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        return error_info(caught.value)[0]

    b1 = watch(MEMBER_B1)
    assert refused(MEMBER_B1) == "too_many_watches"
    a1 = watch(MEMBER_A1)
    assert refused(MEMBER_A2) == "watches_full"
    # Through the gateway the service's refusal is a 429 JSON error.
    assert open_stream(client, w, MEMBER_A2).get_json()["error"]["reason"] == "watches_full"
    reply = w.stub.GetInboxVersion(pb.GetInboxVersionRequest(), metadata=w.token(MEMBER_A2), timeout=5)
    assert reply.version
    b1.cancel()
    deadline = time.monotonic() + 5
    while True:  # the slot is freed when the server sees the cancellation
        try:
            a2 = watch(MEMBER_A2)
            break
        except grpc.RpcError:
            assert time.monotonic() < deadline, "a cancelled watch kept its slot"
            time.sleep(0.1)
    a1.cancel()
    a2.cancel()
