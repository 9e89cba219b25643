"""gRPC channels to the backend services, created lazily in each gunicorn worker.

gunicorn forks its workers from a master process; a gRPC channel created before the fork must
not be used after it. So nothing here connects at import time: the first call in a process
creates the channel, and the registry remembers the process id it was made in — a forked child
starts with an empty registry (gunicorn_conf's post_fork also resets it, to be explicit).

Usage in a route module:

    clients.identity().GetUnit(request)

Every call carries the request id and, inside a request that has one, the caller's access token
(`request_token`): route code passes no metadata.

A new backend is one `Backend(...)` and one stub function at the end of this module.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc
from flask import g, has_app_context
from google.protobuf.descriptor import ServiceDescriptor

from services.core.clients import make_channel
from services.core.config import service_addr
from sotay.identity.v1 import identity_pb2, identity_pb2_grpc

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Backend:
    """A backend process: its name (address from <NAME>_ADDR) and the gRPC services it serves."""

    name: str
    services: tuple[ServiceDescriptor, ...]

    def __init__(self, name: str, *services: ServiceDescriptor) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "services", tuple(services))


_Key = tuple[str, tuple[str, ...], float]


def request_token() -> str:
    """The access token of the current request, once verified (gateway.security.authenticate) or
    refreshed (gateway.web.base.login_required); "" outside a request (health checks, startup)."""
    return g.get("access_token", "") if has_app_context() else ""


class _Registry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.channels: dict[_Key, grpc.Channel] = {}
        self.stubs: dict[tuple[_Key, object], object] = {}

    def _channel(self, key: _Key, backend: Backend) -> grpc.Channel:
        if self.pid != os.getpid():  # forked: the parent's channels are not ours to use
            self.pid = os.getpid()
            self.channels, self.stubs = {}, {}
        found = self.channels.get(key)
        if found is None:
            found = make_channel(service_addr(backend.name), list(backend.services), key[2], caller_token=request_token)
            self.channels[key] = found
        return found

    def channel(self, backend: Backend, timeout: float) -> grpc.Channel:
        key = (backend.name, tuple(s.full_name for s in backend.services), timeout)
        with self.lock:
            return self._channel(key, backend)

    def stub(self, backend: Backend, stub_class: Callable[[grpc.Channel], T], timeout: float) -> T:
        key = (backend.name, tuple(s.full_name for s in backend.services), timeout)
        with self.lock:
            ch = self._channel(key, backend)
            found = self.stubs.get((key, stub_class))
            if found is None:
                found = self.stubs[(key, stub_class)] = stub_class(ch)
            return found  # type: ignore[return-value]

    def reset(self) -> None:
        with self.lock:
            self.pid = os.getpid()
            self.channels, self.stubs = {}, {}

    def close(self) -> None:
        with self.lock:
            channels, self.channels, self.stubs = list(self.channels.values()), {}, {}
        for ch in channels:
            ch.close()


_registry = _Registry()
_timeouts = {"default": DEFAULT_TIMEOUT, "long": 600.0}


def configure(default_timeout: float, long_timeout: float) -> None:
    _timeouts.update(default=default_timeout, long=long_timeout)


def channel(backend: Backend, *, long: bool = False) -> grpc.Channel:
    """This process's channel to `backend`. `long` is for uploads and downloads of big files.

    The channel's default deadline is a cap (services.core.clients), so long calls need their
    own channel rather than a bigger `timeout=` on a call.
    """
    return _registry.channel(backend, _timeouts["long" if long else "default"])


def stub(backend: Backend, stub_class: Callable[[grpc.Channel], T], *, long: bool = False) -> T:
    return _registry.stub(backend, stub_class, _timeouts["long" if long else "default"])


def reset_after_fork() -> None:
    _registry.reset()


def close_all() -> None:
    _registry.close()


# ---------- the backends and their stubs ----------

IDENTITY = Backend("identity", identity_pb2.DESCRIPTOR.services_by_name["IdentityService"])


def identity(*, long: bool = False) -> identity_pb2_grpc.IdentityServiceStub:
    return stub(IDENTITY, identity_pb2_grpc.IdentityServiceStub, long=long)
