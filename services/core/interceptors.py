"""Server interceptor: request id, authentication, deadline context, errors, logs and metrics."""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from sqlalchemy import exc as sa_exc

from services.core import tracing
from services.core.auth import Principal, TokenVerifier
from services.core.context import new_request_id, request_id_var
from services.core.errors import ServiceError, Unauthenticated, Unavailable
from services.core.metrics import RPC_HANDLED, RPC_SECONDS

log = logging.getLogger("sotay.rpc")

principal_var: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)
server_context_var: contextvars.ContextVar[grpc.ServicerContext | None] = contextvars.ContextVar(
    "server_context", default=None
)

UNAUTHENTICATED_PREFIXES = ("/grpc.health.v1.", "/sotay.events.v1.")
# Calls made over and over by machines (health checks, the outbox consumers' event pulls every
# half second, an inbox polled for its version): logged at DEBUG when they succeed.
POLLING = (*UNAUTHENTICATED_PREFIXES, "/sotay.notifications.v1.NotificationsService/GetInboxVersion")
# Codes that mark a trace span as failed: the server's fault, not the caller's.
SERVER_FAULTS = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS,
                           grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED})


def current_principal() -> Principal:
    """The authenticated caller of the current RPC (raises UNAUTHENTICATED when there is none)."""
    principal = principal_var.get()
    if principal is None:
        raise Unauthenticated("unauthenticated", "this call needs a valid access token")
    return principal


def _metadata(context: grpc.ServicerContext) -> dict[str, str]:
    return {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}


class ServerInterceptor(grpc.ServerInterceptor):
    """Wraps every handler. `public_methods` are full method names callable without a token.

    Event-log reads are open to callers inside the cluster network (NetworkPolicy restricts them);
    every other method needs a bearer token that `verifier` accepts.
    """

    def __init__(self, service: str, verifier: TokenVerifier | None, public_methods: set[str]) -> None:
        self.service = service
        self.verifier = verifier
        self.public = public_methods
        self._series: dict[tuple[str, grpc.StatusCode], tuple[Any, Any]] = {}

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        method: str = details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, handler.stream_unary),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return handler

    def _span(self, method: str, context: grpc.ServicerContext) -> tuple[dict[str, str], Any]:
        """The call's metadata, with the request id and server context set, and its trace span."""
        meta = _metadata(context)
        request_id_var.set(meta.get("x-request-id") or new_request_id())
        server_context_var.set(context)
        return meta, tracing.NO_SPAN if method.startswith(POLLING) else tracing.server_span(method, meta)

    def _begin(self, method: str, meta: dict[str, str]) -> None:
        principal_var.set(None)
        auth = meta.get("authorization", "")
        if auth.lower().startswith("bearer ") and self.verifier is not None:
            principal_var.set(self.verifier.verify(auth[7:].strip()))
        elif method not in self.public and not method.startswith(UNAUTHENTICATED_PREFIXES):
            raise Unauthenticated("unauthenticated", "this call needs a valid access token")

    def _finish(self, method: str, started: float, code: grpc.StatusCode, error: str = "") -> None:
        elapsed = time.perf_counter() - started
        series = self._series.get((method, code))
        if series is None:  # the labelled series, looked up once per method and code
            short = method.rsplit("/", 1)[-1]
            series = self._series[(method, code)] = (
                RPC_HANDLED.labels(self.service, short, code.name),
                RPC_SECONDS.labels(self.service, short),
            )
        series[0].inc()
        series[1].observe(elapsed)
        tracing.rpc_status(code.name, code in SERVER_FAULTS)
        level = logging.DEBUG if code == grpc.StatusCode.OK and method.startswith(POLLING) else logging.INFO
        if not log.isEnabledFor(level):
            return
        fields = {"method": method, "code": code.name, "ms": round(elapsed * 1000, 2)}
        if error:
            fields["reason"] = error
        log.log(level, "rpc", extra={"fields": fields})

    def _fail(self, method: str, started: float, exc: BaseException, context: grpc.ServicerContext) -> None:
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            log.warning("database unavailable in %s", method, exc_info=exc)
            exc = Unavailable("database_unavailable", "the database is unavailable; try again")
        if isinstance(exc, ServiceError):
            self._finish(method, started, exc.code, exc.reason)
            context.abort_with_status(exc.to_status())
        self._finish(method, started, grpc.StatusCode.INTERNAL, type(exc).__name__)
        log.error("unhandled error in %s", method, exc_info=exc)
        context.abort(grpc.StatusCode.INTERNAL, f"internal error (request {request_id_var.get()})")

    def _wrap_unary(self, method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            meta, span = self._span(method, context)
            with span:
                try:
                    self._begin(method, meta)
                    response = behaviour(request, context)
                except Exception as exc:
                    if _is_abort(exc, context):
                        raise
                    self._fail(method, started, exc, context)
                self._finish(method, started, context.code() or grpc.StatusCode.OK)  # type: ignore[attr-defined]
                return response

        return wrapper

    def _wrap_stream(self, method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started = time.perf_counter()
            meta, span = self._span(method, context)
            with span:
                try:
                    self._begin(method, meta)
                    principal = principal_var.get()
                    for message in behaviour(request, context):
                        if principal is not None and self.verifier is not None:
                            self.verifier.check_revoked(principal)  # a stream outliving its token ends
                        yield message
                except Exception as exc:
                    if _is_abort(exc, context):
                        raise
                    self._fail(method, started, exc, context)
                self._finish(method, started, grpc.StatusCode.OK)

        return wrapper


def _is_abort(exc: Exception, context: grpc.ServicerContext) -> bool:
    """context.abort() raises a bare Exception after setting the code: let it through."""
    code = context.code()  # type: ignore[attr-defined]
    return type(exc) is Exception and code is not None and code != grpc.StatusCode.OK


def remaining_deadline(default: float) -> float:
    """`default` seconds, or fewer when the current inbound call has less time left."""
    context = server_context_var.get()
    if context is None:
        return default
    remaining = context.time_remaining()
    return default if remaining is None else max(0.0, min(default, remaining))
