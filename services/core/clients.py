"""gRPC clients of one service calling another: channels, the one error translation, paging, caching.

Read-only methods (by the naming convention Get*/List*) are retried on UNAVAILABLE through the
gRPC service config; nothing else is retried by the channel. Every call carries the current
request id, inside a server the caller's token and no more than the time left on the inbound call.
A failed call becomes this service's domain error by `translate` (the only place that maps the
status codes of another service's answer); the clients of each called service are
services.core.identity_client and services.core.documents_client.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from services.core import tracing
from services.core.context import current_request_id, new_request_id
from services.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    ServiceError,
    Unauthenticated,
    Unavailable,
    error_info,
)
from services.core.interceptors import principal_var, remaining_deadline

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
DEFAULT_TIMEOUT = 10.0
IDEMPOTENT_PREFIXES = ("Get", "List")


def service_config(services: list[ServiceDescriptor]) -> str:
    names = [
        {"service": s.full_name, "method": m.name}
        for s in services
        for m in s.methods
        if m.name.startswith(IDEMPOTENT_PREFIXES)
    ]
    config = {
        # Headless Services resolve to every pod: spread calls over all of them.
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": names,
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
        if names
        else []
    }
    return json.dumps(config)


class _ContextCall:
    """A method of the wrapped channel: each call gets the context of ContextChannel."""

    __slots__ = ("_context", "_inner")

    def __init__(self, inner: Any, context: Callable[[float | None, Any], tuple[float | None, list[Any]]]) -> None:
        self._inner, self._context = inner, context

    def __call__(self, request: Any, timeout: float | None = None, metadata: Any = None, **kwargs: Any) -> Any:
        timeout, metadata = self._context(timeout, metadata)
        return self._inner(request, timeout=timeout, metadata=metadata, **kwargs)

    def with_call(self, request: Any, timeout: float | None = None, metadata: Any = None, **kwargs: Any) -> Any:
        timeout, metadata = self._context(timeout, metadata)
        return self._inner.with_call(request, timeout=timeout, metadata=metadata, **kwargs)

    def future(self, request: Any, timeout: float | None = None, metadata: Any = None, **kwargs: Any) -> Any:
        timeout, metadata = self._context(timeout, metadata)
        return self._inner.future(request, timeout=timeout, metadata=metadata, **kwargs)


def principal_token() -> str:
    """The token of the inbound call's caller inside a server ("" elsewhere)."""
    principal = principal_var.get()
    return principal.token if principal is not None else ""


class ContextChannel(grpc.Channel):
    """A channel whose every call carries x-request-id, forwards the caller's token (from
    `caller_token`, "" for none) and is bounded by the deadline. It is the client interceptor of
    every channel, for less per call than grpc.intercept_channel, which builds a new
    multicallable for each call."""

    def __init__(
        self, channel: grpc.Channel, default_timeout: float, caller_token: Callable[[], str] = principal_token
    ) -> None:
        self._channel = channel
        self.default_timeout = default_timeout
        self.caller_token = caller_token

    def _context(self, timeout: float | None, metadata: Any) -> tuple[float | None, list[Any]]:
        metadata = list(metadata or [])
        keys = {k for k, _ in metadata}
        if "x-request-id" not in keys:
            metadata.append(("x-request-id", current_request_id() or new_request_id()))
        token = "authorization" not in keys and self.caller_token()
        if token:
            metadata.append(("authorization", f"Bearer {token}"))
        tracing.inject(metadata)
        # Inside a server no call outlives the inbound one; elsewhere an explicit timeout wins.
        return remaining_deadline(self.default_timeout if timeout is None else timeout), metadata

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _ContextCall(self._channel.unary_unary(method, *args, **kwargs), self._context)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _ContextCall(self._channel.unary_stream(method, *args, **kwargs), self._context)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _ContextCall(self._channel.stream_unary(method, *args, **kwargs), self._context)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _ContextCall(self._channel.stream_stream(method, *args, **kwargs), self._context)

    def subscribe(self, callback: Callable[..., Any], try_to_connect: bool = False) -> None:
        self._channel.subscribe(callback, try_to_connect)

    def unsubscribe(self, callback: Callable[..., Any]) -> None:
        self._channel.unsubscribe(callback)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> ContextChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_channel(
    target: str,
    services: list[ServiceDescriptor],
    default_timeout: float = DEFAULT_TIMEOUT,
    options: Sequence[tuple[str, Any]] = (),
    caller_token: Callable[[], str] = principal_token,
) -> grpc.Channel:
    """A ContextChannel to `target`; `caller_token` says whose token its calls forward."""
    defaults: dict[str, Any] = {
        "grpc.service_config": service_config(services),
        "grpc.enable_retries": 1,
        "grpc.max_receive_message_length": 32 * 1024 * 1024,
        "grpc.max_send_message_length": 32 * 1024 * 1024,
        "grpc.keepalive_time_ms": 30000,
        # A restarted server is found again within about 2 s (gRPC's default waits up to 2 min).
        "grpc.max_reconnect_backoff_ms": 2000,
    }
    channel = grpc.insecure_channel(grpc_target(target), options=list({**defaults, **dict(options)}.items()))
    return ContextChannel(channel, default_timeout, caller_token)  # the caller's options won over the defaults


def grpc_target(target: str) -> str:
    """A gRPC target for `host:port` (resolved by DNS: every address of a headless Service), or for
    several `ip:port` separated by commas (the replicas `sotay up --replicas` runs on loopback),
    which round_robin balances over; a target with a scheme is left as it is."""
    if "://" in target or target.startswith(("unix:", "ipv4:", "ipv6:")):
        return target
    if "," in target:
        addresses = [a.strip() for a in target.split(",") if a.strip()]
        return ("ipv6:" if addresses[0].startswith("[") else "ipv4:") + ",".join(addresses)
    return f"dns:///{target}"


class LazyStub(Generic[T]):
    """A stub for another service's gRPC API, connected on first use (so in the process, and
    after the fork, that uses it); the address is `target` or <SERVICE>_ADDR."""

    def __init__(
        self, service: str, descriptor: ServiceDescriptor, stub_class: Callable[[grpc.Channel], T], target: str = ""
    ) -> None:
        self._service, self._descriptor, self._stub_class, self._target = service, descriptor, stub_class, target
        self._stub: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        if self._stub is None:
            with self._lock:
                if self._stub is None:
                    from services.core.config import service_addr

                    channel = make_channel(self._target or service_addr(self._service), [self._descriptor])
                    self._stub = self._stub_class(channel)
        return self._stub


# What the called service's refusal becomes here: the same kind, with its reason and metadata, so
# the gateway answers as if the caller had asked that service. Any other code (UNAVAILABLE,
# DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, CANCELLED, ABORTED, UNIMPLEMENTED, DATA_LOSS) means the
# service did not answer usefully: UNAVAILABLE `<service>_unavailable`, never INTERNAL here.
REFUSALS: dict[grpc.StatusCode, type[ServiceError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
}


def translate(exc: grpc.RpcError, service: str, what: str = "", **metadata: object) -> ServiceError:
    """The domain error for a failed call to `service` about a `what` (unit, document ...).

    A refusal keeps its kind, reason, message and metadata (`metadata` added, e.g. the field of
    this call's request that named the thing). An id the called service found malformed
    (`invalid_id`) names nothing that exists: NOT_FOUND `<what>_not_found`, as a well-formed unknown id.
    """
    code = exc.code() if callable(getattr(exc, "code", None)) else grpc.StatusCode.UNKNOWN  # type: ignore[attr-defined]
    reason, meta = error_info(exc)
    details = exc.details() if callable(getattr(exc, "details", None)) else ""  # type: ignore[attr-defined]
    kind = REFUSALS.get(code)
    if kind is None:
        return Unavailable(f"{service}_unavailable", f"the {service} service did not answer ({code.name})")
    if what and (code == grpc.StatusCode.NOT_FOUND or reason == "invalid_id"):
        return NotFound(f"{what}_not_found", f"{what} does not exist", **metadata)
    return kind(reason or f"{service}_{code.name.lower()}", str(details or code.name), **{**meta, **metadata})


def call(service: str, fn: Callable[[], T], what: str = "", **metadata: object) -> T:
    """`fn()`, a call to `service`, whose failure raises `translate`'s domain error."""
    try:
        return fn()
    except grpc.RpcError as exc:
        raise translate(exc, service, what, **metadata) from exc


def pages(fetch: Callable[[str], Any], items: str, limit: int = 0) -> Iterator[Any]:
    """Every item of a paged List call: `fetch(page_token)` answers a page whose `items` field
    holds them and `next_page_token` the next; stops after the page that reaches `limit` (0: none)."""
    token, count = "", 0
    while True:
        page = fetch(token)
        batch = getattr(page, items)
        yield from batch
        count += len(batch)
        token = page.next_page_token
        if not token or (limit and count >= limit):
            return


class TtlCache(Generic[K, T]):
    """Values kept `seconds` after they were stored, at most `entries` of them (the least recently
    used goes first); thread-safe. Only answers are stored: a failed call is asked again."""

    def __init__(self, seconds: float, entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.entries, self._clock = seconds, entries, clock
        self._items: OrderedDict[K, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[], T]) -> T:
        now = self._clock()
        with self._lock:
            found = self._items.get(key)
            if found is not None and found[0] > now:
                self._items.move_to_end(key)
                return found[1]
        value = load()  # outside the lock: a slow call does not hold up other keys
        if self.seconds > 0 and self.entries > 0:
            with self._lock:
                self._items[key] = (now + self.seconds, value)
                self._items.move_to_end(key)
                while len(self._items) > self.entries:
                    self._items.popitem(last=False)
        return value

    def forget(self, key: K | None = None) -> None:
        """Drop one key, or every key."""
        with self._lock:
            if key is None:
                self._items.clear()
            else:
                self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)
