"""What the other services ask identity: a unit (name, kind, ancestry), a unit's cells or children,
its roster, member counts, role grants, the token-signing public keys.

Every call goes through core.clients: the caller's token and request id forwarded, no more than
the caller's deadline, Get*/List* retried on UNAVAILABLE, failures translated by `translate`.

Cache policy (the only one): GetUnit answers are kept per process for UNIT_CACHE_SECONDS, at most
UNIT_CACHE_ENTRIES units (least recently used dropped first). A unit renamed, moved or merged in
identity is seen here within that time; no identity event invalidates it (the server processes
follow only the token revocations). Authority never rests on it alone: a unit's ancestry only
widens or narrows read access of a committee, and identity checks each call that needs a role.
Rosters, lists and counts are not cached: each call asks identity (identity keeps its own roster
cache, kept current by its database).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.core.clients import LazyStub, TtlCache, call, pages
from services.core.ids import require_id, require_unit_id
from sotay.identity.v1 import identity_pb2 as ipb
from sotay.identity.v1 import identity_pb2_grpc

SERVICE = "identity"
UNIT_CACHE_SECONDS = 30.0
UNIT_CACHE_ENTRIES = 50_000
ROSTER_PAGE = 5000
UNITS_PAGE = 500


def path_of(chain: Sequence[str]) -> str:
    """identity's form of a unit's place in the tree: '/<root id>/.../<unit id>/'."""
    return "/" + "".join(f"{u}/" for u in chain) if chain else ""


@dataclass(frozen=True)
class UnitInfo:
    id: str
    name: str
    is_cell: bool
    chain: tuple[str, ...]  # root first, the unit itself last

    @property
    def path(self) -> str:
        return path_of(self.chain)


def _unit_info(u: ipb.Unit) -> UnitInfo:
    return UnitInfo(u.id, u.name, u.kind == ipb.UNIT_KIND_CELL, (*u.ancestor_ids, u.id))


class IdentityClient:
    def __init__(self, target: str = "", cache_seconds: float = UNIT_CACHE_SECONDS) -> None:
        """`target`: identity's address, else IDENTITY_ADDR."""
        self._stub = LazyStub(
            SERVICE, ipb.DESCRIPTOR.services_by_name["IdentityService"], identity_pb2_grpc.IdentityServiceStub, target
        )
        self.units: TtlCache[str, UnitInfo] = TtlCache(cache_seconds, UNIT_CACHE_ENTRIES)

    @property
    def stub(self) -> identity_pb2_grpc.IdentityServiceStub:
        return self._stub.get()

    def unit(self, unit_id: str, field: str = "unit_id") -> UnitInfo:
        """The unit; NOT_FOUND `unit_not_found` (with `field`) when there is none, INVALID_ARGUMENT
        `unit_required` for an empty id."""
        uid = require_id(require_unit_id(unit_id, field), field, "unit")
        return self.units.get(uid, lambda: _unit_info(
            call(SERVICE, lambda: self.stub.GetUnit(ipb.GetUnitRequest(id=uid)).unit, "unit", field=field)
        ))

    def chain(self, unit_id: str, field: str = "unit_id") -> tuple[str, ...]:
        """The unit's ancestors, root first, then the unit itself."""
        return self.unit(unit_id, field).chain

    def child_units(
        self, unit_id: str, subtree: bool = False, kind: ipb.UnitKind.ValueType = ipb.UNIT_KIND_UNSPECIFIED
    ) -> list[UnitInfo]:
        """The unit's active children (`subtree`: every unit below it), of `kind` when given."""
        return [_unit_info(u) for u in pages(lambda t: call(SERVICE, lambda: self.stub.ListUnits(
            ipb.ListUnitsRequest(parent_id=unit_id, subtree=subtree, kind=kind, page_size=UNITS_PAGE, page_token=t)
        ), "unit"), "units")]

    def subtree_cells(self, unit_id: str) -> list[UnitInfo]:
        """The active cells in a unit's subtree (the unit itself when it is a cell)."""
        root = self.unit(unit_id)
        return [root] if root.is_cell else self.child_units(root.id, subtree=True, kind=ipb.UNIT_KIND_CELL)

    def roster(self, unit_id: str, subtree: bool = False, limit: int = 0) -> list[ipb.RosterEntry]:
        """The active members of the unit (`subtree`: and of every unit below it), identity's order;
        at least `limit` of them when there are that many (0: all)."""
        return list(pages(lambda t: call(SERVICE, lambda: self.stub.ListRoster(
            ipb.ListRosterRequest(unit_id=unit_id, subtree=subtree, page_size=ROSTER_PAGE, page_token=t)
        ), "unit"), "entries", limit))

    def member_counts(self, unit_id: str) -> tuple[int, dict[str, int]]:
        """Active members of the unit itself, and of each child's subtree (identity checks who may ask)."""
        reply = call(SERVICE, lambda: self.stub.CountMembers(ipb.CountMembersRequest(unit_id=unit_id)), "unit")
        return int(reply.own_members), {c.child_unit_id: int(c.members) for c in reply.children}

    def holds_role_on(self, account_id: str, unit_id: str) -> bool:
        """Does the account hold a role granted on this very unit? (ListRoles: the caller must be an
        admin over the unit)."""
        reply = call(SERVICE, lambda: self.stub.ListRoles(
            ipb.ListRolesRequest(unit_id=unit_id, account_id=account_id, page_size=100)
        ), "unit")
        return any(g.unit_id == unit_id for g in reply.grants)

    def public_keys(self, timeout: float = 5.0) -> dict[str, str]:
        """The keys identity signs access tokens with (kid -> PEM)."""
        reply = call(SERVICE, lambda: self.stub.GetPublicKeys(ipb.GetPublicKeysRequest(), timeout=timeout))
        return {k.kid: k.public_key_pem for k in reply.keys}
