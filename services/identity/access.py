"""Who may do what, checked inside identity on every RPC.

A role granted on a unit applies to the unit's whole subtree:
- admin: everything about units, members, accounts, roles and audit in the subtree;
- cell_secretary / cell_deputy / cell_committee: read and edit the members of their cell;
- any authenticated account: read the units tree, and its own profile.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection, Row

from services.core.auth import ROLE_ADMIN, ROLE_CELL_COMMITTEE, ROLE_CELL_DEPUTY, ROLE_CELL_SECRETARY, Principal
from services.core.db import fetch
from services.core.errors import PermissionDenied
from services.identity import units

OFFICERS = (ROLE_CELL_SECRETARY, ROLE_CELL_DEPUTY, ROLE_CELL_COMMITTEE)


def fresh_grants(conn: Connection, principal: Principal) -> set[tuple[str, str]]:
    """Grants as stored now (a token may be up to its TTL old; revocations apply at once)."""
    return {
        (r.role, r.unit_id)
        for r in fetch(conn, "SELECT role, unit_id FROM role_grants WHERE account_id = :a", {"a": principal.account_id})
    }


def has_role(conn: Connection, principal: Principal, unit: Row[Any], *roles: str) -> bool:
    chain = set(units.path_ids(unit.path))
    return any(role in roles and unit_id in chain for role, unit_id in fresh_grants(conn, principal))


def require(conn: Connection, principal: Principal, unit_id: str, *roles: str) -> Row[Any]:
    """The unit, when one of `roles` is granted on it or an ancestor; else PERMISSION_DENIED."""
    unit = units.get(conn, unit_id)
    if not has_role(conn, principal, unit, *roles):
        raise PermissionDenied(
            "not_allowed", f"needs role {' or '.join(roles)} over this unit", unit_id=unit_id
        )
    return unit


def require_admin(conn: Connection, principal: Principal, unit_id: str) -> Row[Any]:
    return require(conn, principal, unit_id, ROLE_ADMIN)


def require_member_manager(conn: Connection, principal: Principal, unit_id: str) -> Row[Any]:
    """Admins of the subtree, or the officers of the member's cell."""
    return require(conn, principal, unit_id, ROLE_ADMIN, *OFFICERS)
