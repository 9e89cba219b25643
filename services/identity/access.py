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
from services.core.db import fetch_one
from services.core.errors import NotFound, PermissionDenied
from services.core.ids import require_id
from services.identity import units

OFFICERS = (ROLE_CELL_SECRETARY, ROLE_CELL_DEPUTY, ROLE_CELL_COMMITTEE)


def require(conn: Connection, principal: Principal, unit_id: str, *roles: str) -> Row[Any]:
    """The unit, when one of `roles` is granted on it or an ancestor; else PERMISSION_DENIED.
    One statement: the unit, and whether a grant's unit path is a prefix of the unit's path."""
    uid = require_id(unit_id, "unit_id", "unit")
    marks = ", ".join(f":r{i}" for i in range(len(roles)))
    unit = fetch_one(
        conn,
        f"SELECT {units.COLUMNS}, EXISTS (SELECT 1 FROM role_grants g JOIN units gu ON gu.id = g.unit_id "
        f"WHERE g.account_id = :a AND g.role IN ({marks}) AND substr(u.path, 1, length(gu.path)) = gu.path) "
        "AS allowed FROM units u WHERE u.id = :id",
        {"id": uid, "a": principal.account_id, **{f"r{i}": r for i, r in enumerate(roles)}},
    )
    if unit is None:
        raise NotFound("unit_not_found", f"unit {unit_id} does not exist", unit_id=unit_id)
    if not unit.allowed:
        raise PermissionDenied(
            "not_allowed", f"needs role {' or '.join(roles)} over this unit", unit_id=unit_id
        )
    return unit


def require_admin(conn: Connection, principal: Principal, unit_id: str) -> Row[Any]:
    return require(conn, principal, unit_id, ROLE_ADMIN)


def require_member_manager(conn: Connection, principal: Principal, unit_id: str) -> Row[Any]:
    """Admins of the subtree, or the officers of the member's cell."""
    return require(conn, principal, unit_id, ROLE_ADMIN, *OFFICERS)
