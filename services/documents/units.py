"""Unit ancestry from the identity service (GetUnit), with the caller's token forwarded."""

from __future__ import annotations

import threading
import time

import grpc

from services.core.clients import identity_stub
from services.core.errors import InvalidArgument, NotFound, Unavailable
from services.core.ids import require_id
from sotay.identity.v1 import identity_pb2, identity_pb2_grpc

CACHE_SECONDS = 30.0


class UnitDirectory:
    """`chain(unit_id)`: the unit's ancestors, root first, then the unit itself."""

    def __init__(self, target: str = "") -> None:
        self._stub = identity_stub(target)
        self._cache: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def stub(self) -> identity_pb2_grpc.IdentityServiceStub:
        return self._stub.get()

    def chain(self, unit_id: str, field: str = "unit_id") -> tuple[str, ...]:
        if not unit_id:
            raise InvalidArgument("unit_required", f"{field} is required", field=field)
        uid = require_id(unit_id, field, "unit")
        with self._lock:
            cached = self._cache.get(uid)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            unit = self.stub().GetUnit(identity_pb2.GetUnitRequest(id=uid)).unit
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound("unit_not_found", f"unit {unit_id!r} does not exist", field=field) from exc
            raise Unavailable("identity_unavailable", "the identity service does not answer") from exc
        chain = (*unit.ancestor_ids, unit.id)
        with self._lock:
            self._cache[uid] = (time.monotonic() + CACHE_SECONDS, chain)
        return chain
