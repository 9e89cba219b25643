"""Who may do what, checked inside identity on every RPC.

A role granted on a unit applies to the unit's whole subtree:
- admin: everything about units, members, accounts, roles and audit in the subtree;
- cell_secretary / cell_deputy / cell_committee: read and edit the members of their cell;
- any authenticated account: read the units tree, and its own profile.

One account acting on another (reset its password, deactivate it, transfer it, change its
position or roles, or edit the profile behind it) goes through `require_over`: the caller must
administer (role admin on the unit or an ancestor) the target member's own unit AND every unit
where the target's account holds a grant of any role. So a commune admin cannot reset the
password of a province admin who happens to be a member of one of its cells
(PERMISSION_DENIED `target_outranks_caller`). An account with no member and no grant is
administered from the root only.

Officer positions and roles: the cell positions secretary, deputy_secretary and
committee_member (roles cell_secretary, cell_deputy, cell_committee) and the roles editor and
admin. Only an admin over the unit gives them (CreateMember/UpdateMember position, GrantRole)
or sets another member's password. A cell officer may create plain members (position member,
no password: they get one from an admin, or from the import) and edit the profile of members
whose accounts hold no grant at all, their own profile included, except its position; and import
a roster file into their cell under the same rules (importer.py, `positions=False`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection, Row

from services.core.auth import ROLE_ADMIN, ROLE_CELL_COMMITTEE, ROLE_CELL_DEPUTY, ROLE_CELL_SECRETARY, Principal
from services.core.db import fetch, fetch_one
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


def is_admin(conn: Connection, principal: Principal, unit_id: str) -> bool:
    try:
        require_admin(conn, principal, unit_id)
    except PermissionDenied:
        return False
    return True


def outranking(conn: Connection, caller_account_id: str, account_ids: list[str]) -> set[str]:
    """Those of `account_ids` holding a grant (any role) on a unit the caller does not administer."""
    if not account_ids:
        return set()
    marks = ", ".join(f":t{i}" for i in range(len(account_ids)))
    found = fetch(
        conn,
        f"SELECT DISTINCT g.account_id FROM role_grants g JOIN units u ON u.id = g.unit_id "
        f"WHERE g.account_id IN ({marks}) AND NOT EXISTS (SELECT 1 FROM role_grants cg "
        "JOIN units cu ON cu.id = cg.unit_id WHERE cg.account_id = :c AND cg.role = :admin "
        "AND substr(u.path, 1, length(cu.path)) = cu.path)",
        {"c": caller_account_id, "admin": ROLE_ADMIN, **{f"t{i}": a for i, a in enumerate(account_ids)}},
    )
    return {str(r.account_id) for r in found}


def account_home(conn: Connection, account_id: str) -> str:
    """The unit that owns an account: its member's unit, else its highest grant's unit, else the root."""
    row = fetch_one(
        conn,
        "SELECT COALESCE(m.unit_id, (SELECT g.unit_id FROM role_grants g JOIN units gu ON gu.id = g.unit_id "
        "WHERE g.account_id = a.id ORDER BY gu.depth, g.id LIMIT 1), (SELECT id FROM units WHERE parent_id IS NULL "
        "ORDER BY id LIMIT 1)) AS unit_id FROM accounts a LEFT JOIN members m ON m.id = a.member_id WHERE a.id = :a",
        {"a": account_id},
    )
    if row is None or row.unit_id is None:
        raise NotFound("account_not_found", f"account {account_id} does not exist")
    return str(row.unit_id)


def require_over(conn: Connection, principal: Principal, account_id: str, member_unit_id: str = "") -> None:
    """The one check for an account acting on another (module docstring): admin over the target's
    own unit (`member_unit_id`, else the account's home unit) and over every unit of its grants."""
    require_admin(conn, principal, member_unit_id or account_home(conn, account_id))
    require_not_outranked(conn, principal, account_id)


def require_not_outranked(conn: Connection, principal: Principal, account_id: str) -> None:
    """PERMISSION_DENIED when the account holds a grant on a unit the caller does not administer."""
    if outranking(conn, principal.account_id, [account_id]):
        raise PermissionDenied(
            "target_outranks_caller",
            "this account holds a role on a unit you do not administer; ask an admin of that unit",
            account_id=account_id,
        )


def position_needs_admin() -> PermissionDenied:
    return PermissionDenied(
        "position_needs_admin", "only an admin over the unit gives or takes a cell position", field="position"
    )


def require_profile_editor(conn: Connection, me: Principal, member: Any, position: str) -> None:
    """Who may edit a member's profile, `position` the new one or '' (module docstring): an admin as
    `require_over` says; a cell officer, a member whose account holds no grant or their own
    profile, never a position."""
    changes_position = bool(position) and position != member.position
    if is_admin(conn, me, member.unit_id):
        if member.account_id != me.account_id or changes_position:
            require_over(conn, me, member.account_id, member.unit_id)
        return
    require_member_manager(conn, me, member.unit_id)
    if changes_position:
        raise position_needs_admin()
    if member.account_id != me.account_id and outranking(conn, me.account_id, [member.account_id]):
        raise PermissionDenied(
            "target_outranks_caller", "this member holds a role; only an admin over all of its units edits them",
            member_id=member.id,
        )
