"""What this service knows about units and the caller's place in the tree.

Units belong to identity. A member's ancestry comes from their access token (verified locally);
the chain of any other unit is asked from identity's GetUnit with the caller's forwarded token.
A unit path here has identity's form '/<root id>/.../<unit id>/'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc

from services.core.auth import Principal
from services.core.clients import identity_stub
from services.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ServiceError,
    Unavailable,
    error_info,
)
from sotay.identity.v1 import identity_pb2, identity_pb2_grpc

T = TypeVar("T")


def path_of(chain: Sequence[str]) -> str:
    return "/" + "".join(f"{u}/" for u in chain) if chain else ""


def path_ids(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def subtree_range(path: str) -> dict[str, str]:
    """Bounds for `col >= :lo AND col < :hi`: every path that starts with `path`."""
    return {"lo": path, "hi": path[:-1] + chr(ord("/") + 1)}


def member_of(principal: Principal) -> tuple[str, str]:
    """(member id, unit path) of a caller who is a member; else FAILED_PRECONDITION."""
    if not principal.member_id or not principal.ancestors:
        raise FailedPrecondition("not_a_member", "only a party member has an inbox and feedback")
    return principal.member_id, path_of(principal.ancestors)


@dataclass(frozen=True)
class UnitInfo:
    id: str
    name: str
    chain: tuple[str, ...]  # root first, the unit itself last

    @property
    def path(self) -> str:
        return path_of(self.chain)


class IdentityClient:
    """identity calls made on behalf of the current caller (token and deadline forwarded)."""

    def __init__(self) -> None:
        self._stub = identity_stub()

    def stub(self) -> identity_pb2_grpc.IdentityServiceStub:
        return self._stub.get()

    def unit(self, unit_id: str) -> UnitInfo:
        reply = call(lambda: self.stub().GetUnit(identity_pb2.GetUnitRequest(id=unit_id)), "unit")
        u = reply.unit
        return UnitInfo(u.id, u.name, (*u.ancestor_ids, u.id))

    def children(self, unit_id: str) -> list[UnitInfo]:
        found: list[UnitInfo] = []
        token = ""
        while True:
            reply = call(
                lambda t=token: self.stub().ListUnits(  # type: ignore[misc]
                    identity_pb2.ListUnitsRequest(parent_id=unit_id, page_size=500, page_token=t)
                ),
                "unit",
            )
            found += [UnitInfo(u.id, u.name, (*u.ancestor_ids, u.id)) for u in reply.units]
            token = reply.next_page_token
            if not token:
                return found

    def member_counts(self, unit_id: str) -> tuple[int, dict[str, int]]:
        """Active members of the unit itself, and of each child's subtree (one identity call, one
        grouped query there; identity enforces who may ask)."""
        reply = call(
            lambda: self.stub().CountMembers(identity_pb2.CountMembersRequest(unit_id=unit_id)), "unit"
        )
        return int(reply.own_members), {c.child_unit_id: int(c.members) for c in reply.children}

    def holds_role_on(self, account_id: str, unit_id: str) -> bool:
        """Does the account hold a role granted on this very unit? (identity's ListRoles, which
        needs the caller to be an admin over the unit)."""
        reply = call(
            lambda: self.stub().ListRoles(
                identity_pb2.ListRolesRequest(unit_id=unit_id, account_id=account_id, page_size=100)
            ),
            "unit",
        )
        return any(g.unit_id == unit_id for g in reply.grants)

    def roster(self, unit_id: str, limit: int = 20_000) -> list[identity_pb2.RosterEntry]:
        """The unit's own active members (not its subtree's)."""
        entries: list[identity_pb2.RosterEntry] = []
        token = ""
        while len(entries) < limit:
            reply = call(
                lambda t=token: self.stub().ListRoster(  # type: ignore[misc]
                    identity_pb2.ListRosterRequest(
                        unit_id=unit_id, subtree=False, page_size=5000, page_token=t
                    )
                ),
                "unit",
            )
            entries += list(reply.entries)
            token = reply.next_page_token
            if not token:
                break
        return entries


def call(fn: Callable[[], T], what: str) -> T:
    """An identity call whose errors become this service's errors (never INTERNAL)."""
    try:
        return fn()
    except grpc.RpcError as exc:
        code = exc.code()  # type: ignore[attr-defined]
        reason, meta = error_info(exc)
        message = str(exc.details() or "")  # type: ignore[attr-defined]
        errors: dict[grpc.StatusCode, type[ServiceError]] = {
            grpc.StatusCode.NOT_FOUND: NotFound,
            grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
            grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument if reason != "invalid_id" else NotFound,
            grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
        }
        kind = errors.get(code)
        if kind is NotFound and reason == "invalid_id":
            raise NotFound(f"{what}_not_found", f"{what} does not exist") from None
        if kind is not None:
            raise kind(reason or f"identity_{code.name.lower()}", message, **meta) from None
        raise Unavailable("identity_unavailable", "the identity service did not answer") from exc
