"""The shared server stack: errors become status codes with reasons, auth, request ids, deadlines,
health and graceful shutdown."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import grpc
import jwt
import psutil
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import exc as sa_exc

from services.core.auth import Principal, TokenVerifier, issue_access_token
from services.core.clients import make_channel
from services.core.config import ServerConfig
from services.core.context import current_request_id, request_id_var
from services.core.entry import identity_keys
from services.core.errors import InvalidArgument, Unavailable, error_info
from services.core.interceptors import current_principal, principal_var, remaining_deadline
from services.core.server import RunningServer, start_server

KEY = Ed25519PrivateKey.generate()
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _raise_internal() -> bytes:
    raise ValueError("password=hunter2 at /srv/secret")


def _raise_invalid() -> bytes:
    raise InvalidArgument("bad_thing", "the thing is bad", field="thing")


def _raise_database_down() -> bytes:
    raise sa_exc.OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))


BEHAVIOURS: dict[str, Callable[[], bytes]] = {
    "DatabaseDown": _raise_database_down,
    "Internal": _raise_internal,
    "Invalid": _raise_invalid,
    "RequestId": lambda: current_request_id().encode(),
    "Deadline": lambda: f"{remaining_deadline(100.0):.3f}".encode(),
    "Whoami": lambda: current_principal().account_id.encode(),
}


def _slow(request: bytes, _context: object) -> bytes:
    time.sleep(float(request))
    return b"done"


def _handler(name: str) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(lambda request, context: BEHAVIOURS[name]())


def _register(s: grpc.Server) -> list[str]:
    handlers = {name: _handler(name) for name in BEHAVIOURS}
    handlers["Slow"] = grpc.unary_unary_rpc_method_handler(_slow)
    s.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Svc", handlers)])
    return ["test.Svc"]


PUBLIC = {f"/test.Svc/{n}" for n in ("Internal", "Invalid", "RequestId", "Deadline", "DatabaseDown", "Slow")}


def _start(config: ServerConfig) -> RunningServer:
    return start_server(config, _register, TokenVerifier(lambda: {"k1": PEM.decode()}), PUBLIC)


@pytest.fixture
def server() -> Iterator[RunningServer]:
    running = _start(ServerConfig("test", "127.0.0.1", 0, 0, 4, 0.5))
    yield running
    running.stop(0)


def call(server: RunningServer, name: str, **kwargs: Any) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        method = channel.unary_unary(f"/test.Svc/{name}")
        return method(b"", timeout=kwargs.pop("timeout", 5), **kwargs)  # type: ignore[no-any-return]


def test_unexpected_errors_are_internal_and_leak_nothing(server: RunningServer) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call(server, "Internal", metadata=[("x-request-id", "req-123")])
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "hunter2" not in caught.value.details() and "/srv" not in caught.value.details()
    assert "req-123" in caught.value.details()


def test_domain_errors_carry_code_reason_and_metadata(server: RunningServer) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call(server, "Invalid")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "the thing is bad"
    assert error_info(caught.value) == ("bad_thing", {"field": "thing"})


def test_a_lost_database_connection_is_unavailable_not_internal(server: RunningServer) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call(server, "DatabaseDown")
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_info(caught.value)[0] == "database_unavailable"


def test_request_id_is_kept_or_made(server: RunningServer) -> None:
    assert call(server, "RequestId", metadata=[("x-request-id", "abc")]) == b"abc"
    assert len(call(server, "RequestId")) == 32


def test_handlers_see_the_callers_deadline(server: RunningServer) -> None:
    assert 1.0 < float(call(server, "Deadline", timeout=2.0)) <= 2.1  # not the 100 s default


def test_client_channels_carry_the_request_id_the_callers_token_and_a_bounded_deadline(
    server: RunningServer,
) -> None:
    token = issue_access_token(KEY, "k1", Principal("acct-9", "", "u", ("u",)), 60)
    with make_channel(f"127.0.0.1:{server.port}", [], default_timeout=3.0) as channel:
        def ask(name: str, **kwargs: Any) -> bytes:
            return channel.unary_unary(f"/test.Svc/{name}")(b"", **kwargs)  # type: ignore[no-any-return]

        rid = request_id_var.set("from-the-gateway")
        try:
            assert ask("RequestId") == b"from-the-gateway"
            assert ask("RequestId", metadata=[("x-request-id", "explicit")]) == b"explicit"
        finally:
            request_id_var.reset(rid)
        assert 2.0 < float(ask("Deadline")) <= 3.1  # the channel's default, not the server's 100 s
        assert float(ask("Deadline", timeout=1.0)) <= 1.1
        with pytest.raises(grpc.RpcError) as caught:
            ask("Whoami")
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # Inside a server, the inbound caller's token goes on with the call.
        who = principal_var.set(Principal("acct-9", "", "u", ("u",), token=token))
        try:
            assert ask("Whoami") == b"acct-9"
            assert channel.unary_unary("/test.Svc/Whoami").with_call(b"")[0] == b"acct-9"
            assert channel.unary_unary("/test.Svc/Whoami").future(b"").result() == b"acct-9"
        finally:
            principal_var.reset(who)


def test_tokens_are_verified_for_non_public_methods(server: RunningServer) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call(server, "Whoami")
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    token = issue_access_token(KEY, "k1", Principal("acct-1", "", "u", ("u",)), 60)
    assert call(server, "Whoami", metadata=[("authorization", f"Bearer {token}")]) == b"acct-1"
    forged = issue_access_token(Ed25519PrivateKey.generate(), "k1", Principal("acct-2", "", "u", ("u",)), 60)
    with pytest.raises(grpc.RpcError) as caught:
        call(server, "Whoami", metadata=[("authorization", f"Bearer {forged}")])
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_health_serves_then_reports_not_serving_on_shutdown(server: RunningServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", "test.Svc"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        server.health.enter_graceful_shutdown()
        reply = stub.Check(health_pb2.HealthCheckRequest(service="test.Svc"), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING


def test_expired_token_cache_does_not_outlive_the_token() -> None:
    verifier = TokenVerifier(lambda: {"k1": PEM.decode()})
    # Whole seconds: exp is iat + 3 with iat truncated, so the token lives 2 to 3 seconds.
    token = issue_access_token(KEY, "k1", Principal("a", "", "u", ("u",)), ttl_seconds=3)
    assert verifier.verify(token).account_id == "a"  # verified and cached
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.2)
    with pytest.raises(Exception, match="expired"):
        verifier.verify(token)


def test_keys_out_of_reach_make_a_call_unavailable_not_its_token_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_ADDR", "127.0.0.1:1")  # refuses connections
    token = issue_access_token(KEY, "k1", Principal("a", "", "u", ("u",)), ttl_seconds=60)
    with pytest.raises(Unavailable):
        TokenVerifier(identity_keys()).verify(token)
    # Keys once fetched are kept while the source is out of reach (a new kid is refetched).
    reachable = [True]

    def source() -> dict[str, str]:
        if not reachable[0]:
            raise Unavailable("identity_unavailable", "identity is down")
        return {"k1": PEM.decode()}

    verifier = TokenVerifier(source, refetch_interval=0)
    assert verifier.verify(token).account_id == "a"
    reachable[0] = False
    with pytest.raises(Unavailable):
        verifier.verify(issue_access_token(KEY, "k2", Principal("b", "", "u", ("u",)), ttl_seconds=60))
    fresh = issue_access_token(KEY, "k1", Principal("c", "", "u", ("u",)), ttl_seconds=60)
    assert verifier.verify(fresh).account_id == "c"


def test_connection_age_grace_is_at_least_the_longest_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRPC_MAX_CONNECTION_AGE_GRACE", "30")
    assert ServerConfig.from_env("identity").max_connection_age_grace == 600  # GATEWAY_LONG_RPC_TIMEOUT
    monkeypatch.setenv("GATEWAY_LONG_RPC_TIMEOUT", "900")
    assert ServerConfig.from_env("identity").max_connection_age_grace == 900
    monkeypatch.setenv("GRPC_MAX_CONNECTION_AGE_GRACE", "1200")
    assert ServerConfig.from_env("identity").max_connection_age_grace == 1200


def _long_call_beside_ageing_connections(config: ServerConfig, seconds: float) -> tuple[str, int]:
    """A `seconds`-long call while short calls run beside it on the same channel; the connection
    ages after config.max_connection_age. Its outcome, and how many connections were seen at once."""
    running = _start(config)
    most = 0
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            long_call = channel.unary_unary("/test.Svc/Slow").future(str(seconds).encode(), timeout=seconds + 5)
            short = channel.unary_unary("/test.Svc/Slow")
            while not long_call.done():
                short(b"0", timeout=5)
                here = [c for c in psutil.Process().net_connections("tcp")
                        if c.raddr and c.raddr.port == running.port and c.status == psutil.CONN_ESTABLISHED]
                most = max(most, len(here))
                time.sleep(0.1)
            try:
                return long_call.result().decode(), most
            except grpc.RpcError as exc:
                return exc.code().name, most  # type: ignore[attr-defined]
    finally:
        running.stop(0)


def test_a_long_call_survives_the_ageing_of_its_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRPC_MAX_CONNECTION_AGE", "0.5")
    monkeypatch.setenv("GATEWAY_LONG_RPC_TIMEOUT", "5")
    monkeypatch.setenv("INBOX_WATCH_MAX_SECONDS", "1")
    monkeypatch.setenv("GATEWAY_RPC_TIMEOUT", "2")
    config = replace(ServerConfig.from_env("identity"), port=0, metrics_port=0)
    assert (config.max_connection_age, config.max_connection_age_grace) == (0.5, 5)
    # The connection ages under the long call (new calls get a new one); the call finishes.
    assert _long_call_beside_ageing_connections(config, 3) == ("done", 2)
    # What a grace shorter than the call does to it: observable, so the test above means something.
    outcome, _ = _long_call_beside_ageing_connections(replace(config, max_connection_age_grace=1), 3)
    assert outcome == "UNAVAILABLE"


def test_health_checks_are_logged_at_debug_other_calls_at_info(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="sotay.rpc"):
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        call(server, "RequestId")
    levels = {r.fields["method"]: r.levelno for r in caplog.records if r.getMessage() == "rpc"}  # type: ignore[attr-defined]
    assert levels == {"/grpc.health.v1.Health/Check": logging.DEBUG, "/test.Svc/RequestId": logging.INFO}
