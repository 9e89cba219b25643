"""What the meetings service asks identity: a cell's name and ancestors, its roster, a subtree's cells.

Every call carries the caller's token and what is left of the caller's deadline (core.clients).
A unit's ancestry is cached for a short while: units move (re-parenting is a normal operation),
so the cache is short, and it only widens or narrows committee READ access.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from services.core.clients import identity_stub
from services.core.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from sotay.identity.v1 import identity_pb2 as ipb
from sotay.identity.v1 import identity_pb2_grpc

T = TypeVar("T")
CACHE_SECONDS = 30.0
ROSTER_PAGE = 5000


@dataclass(frozen=True)
class CellInfo:
    id: str
    name: str
    is_cell: bool
    chain: tuple[str, ...]  # root first, the unit itself last


@dataclass(frozen=True)
class RosterEntry:
    member_id: str
    account_id: str
    full_name: str
    status: str  # official | probationary
    exempt: bool
    position: str  # member | secretary | deputy_secretary | committee_member


def _call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except grpc.RpcError as exc:
        code = exc.code()  # type: ignore[attr-defined]
        if code == grpc.StatusCode.NOT_FOUND:
            raise NotFound("unit_not_found", "the unit does not exist") from None
        if code == grpc.StatusCode.PERMISSION_DENIED:
            raise PermissionDenied("not_allowed", "identity refused: no role over this unit") from None
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            raise InvalidArgument("invalid_unit", "identity refused the unit id") from None
        raise Unavailable("identity_unavailable", f"identity did not answer ({code.name})") from None


class Directory:
    def __init__(self, target: str = "") -> None:
        self._stub = identity_stub(target)
        self._units: dict[str, tuple[float, CellInfo]] = {}

    @property
    def stub(self) -> identity_pb2_grpc.IdentityServiceStub:
        return self._stub.get()

    def unit(self, unit_id: str) -> CellInfo:
        cached = self._units.get(unit_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        unit = _call(lambda: self.stub.GetUnit(ipb.GetUnitRequest(id=unit_id)).unit)
        info = CellInfo(unit.id, unit.name, unit.kind == ipb.UNIT_KIND_CELL, (*unit.ancestor_ids, unit.id))
        if len(self._units) > 50_000:
            self._units.clear()
        self._units[unit_id] = (time.monotonic() + CACHE_SECONDS, info)
        return info

    def roster(self, cell_id: str) -> list[RosterEntry]:
        entries: list[RosterEntry] = []
        token = ""
        while True:
            page = _call(
                lambda t=token: self.stub.ListRoster(  # type: ignore[misc]
                    ipb.ListRosterRequest(unit_id=cell_id, page_size=ROSTER_PAGE, page_token=t)
                )
            )
            for e in page.entries:
                entries.append(
                    RosterEntry(
                        member_id=e.member_id,
                        account_id=e.account_id,
                        full_name=e.full_name,
                        status="probationary" if e.status == ipb.MEMBER_STATUS_PROBATIONARY else "official",
                        exempt=e.exempt,
                        position=(
                            ipb.CellPosition.Name(e.position).removeprefix("CELL_POSITION_").lower()
                            if e.position
                            else "member"
                        ),
                    )
                )
            token = page.next_page_token
            if not token:
                return entries

    def subtree_cells(self, unit_id: str) -> list[tuple[str, str]]:
        """(id, name) of the active cells in a unit's subtree (the unit itself when it is a cell)."""
        root = self.unit(unit_id)
        if root.is_cell:
            return [(root.id, root.name)]
        cells: list[tuple[str, str]] = []
        token = ""
        while True:
            page = _call(
                lambda t=token: self.stub.ListUnits(  # type: ignore[misc]
                    ipb.ListUnitsRequest(
                        parent_id=unit_id, subtree=True, kind=ipb.UNIT_KIND_CELL, page_size=500, page_token=t
                    )
                )
            )
            cells.extend((u.id, u.name) for u in page.units)
            token = page.next_page_token
            if not token:
                return cells
