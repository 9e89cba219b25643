"""Merging two communes into one, in one transaction: the 2025 reform joined communes, and a
merge must not be a week of moving cells, members and roles by hand.

The source commune's child units move under the target (each an ordinary move, with its
`identity.unit.moved` event), the source's own members are transferred to the target (their
history records the merge), its role grants are re-granted on the target, its audit history is
filed under the target, and the source is deactivated. One `identity.unit.merged` event tells the
other services (documents re-point the documents the source issued or addressed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Row

from services.core.db import execute, fetch
from services.core.errors import FailedPrecondition
from services.core.ids import new_id
from services.core.outbox import emit
from services.identity import members, revocation, units
from sotay.events.v1.identity_events_pb2 import MemberTransferred, UnitMerged

MERGEABLE = ("commune",)
REASON = "merge of communes"


@dataclass
class Merged:
    unit: Row[Any]
    moved_units: int
    moved_members: int
    moved_grants: int


def check(source: Row[Any], target: Row[Any]) -> None:
    """The refusals, each with its reason."""
    if source.id == target.id:
        raise FailedPrecondition("merge_into_itself", "a unit cannot be merged into itself")
    for unit, field in ((source, "source_id"), (target, "target_id")):
        if unit.kind not in MERGEABLE:
            raise FailedPrecondition(
                "merge_needs_communes", f"only communes are merged; {unit.name} is a {unit.kind}", field=field
            )
        if not unit.active:
            raise FailedPrecondition("unit_inactive", f"{unit.name} is no longer active", field=field)
    if target.path.startswith(source.path) or source.path.startswith(target.path):
        raise FailedPrecondition("merge_into_own_subtree", "one unit lies inside the other")


def merge(conn: Connection, source_id: str, target_id: str, actor: str) -> Merged:
    source, target = units.get(conn, source_id), units.get(conn, target_id)
    check(source, target)
    now = time.time()
    children = [r.id for r in fetch(conn, "SELECT id FROM units WHERE parent_id = :s ORDER BY id", {"s": source.id})]
    moved_units = sum(units.move(conn, child, target.id, actor)[1] for child in children)
    moved_members = _members(conn, source.id, target.id, actor, now)
    moved_grants = _grants(conn, source.id, target.id)
    execute(conn, "UPDATE audit_log SET unit_path = :t WHERE unit_path = :s", {"t": target.path, "s": source.path})
    execute(conn, "UPDATE units SET active = FALSE, updated_at = :now WHERE id = :s", {"now": now, "s": source.id})
    emit(conn, source.id, UnitMerged(
        source_unit_id=source.id,
        target_unit_id=target.id,
        source_ancestor_ids=units.path_ids(source.path)[:-1],
        target_ancestor_ids=units.path_ids(target.path)[:-1],
        moved_unit_ids=children,
    ))
    return Merged(units.get(conn, target.id), moved_units, moved_members, moved_grants)


def _members(conn: Connection, source_id: str, target_id: str, actor: str, now: float) -> int:
    """The source's own members (active or not, so their history stays whole) join the target."""
    found = fetch(conn, "SELECT id FROM members WHERE unit_id = :s", {"s": source_id})
    if not found:
        return 0
    execute(conn, "UPDATE members SET unit_id = :t, updated_at = :now WHERE unit_id = :s",
            {"t": target_id, "now": now, "s": source_id})
    for row in found:
        execute(
            conn,
            "INSERT INTO member_transfers (id, member_id, from_unit_id, to_unit_id, reason, actor_account_id, at) "
            "VALUES (:id, :m, :f, :to, :r, :a, :now)",
            {"id": new_id(), "m": row.id, "f": source_id, "to": target_id, "r": REASON, "a": actor, "now": now},
        )
        members.sync_position_role(conn, row.id, revoke_cause="member_transferred")  # the token's units change
        moved = members.get(conn, row.id)
        if moved.active:
            emit(conn, row.id, MemberTransferred(**members.facts(moved), from_unit_id=source_id, to_unit_id=target_id))
    return len(found)


def _grants(conn: Connection, source_id: str, target_id: str) -> int:
    """Roles on the source are held on the target from now on (a grant the account already holds
    there is kept once); their holders' tokens name the source, so they are revoked."""
    found = fetch(conn, "SELECT id, account_id, role FROM role_grants WHERE unit_id = :s", {"s": source_id})
    for grant in found:
        held = fetch(conn, "SELECT 1 FROM role_grants WHERE account_id = :a AND role = :r AND unit_id = :t",
                     {"a": grant.account_id, "r": grant.role, "t": target_id})
        if held:
            execute(conn, "DELETE FROM role_grants WHERE id = :id", {"id": grant.id})
        else:
            execute(conn, "UPDATE role_grants SET unit_id = :t WHERE id = :id", {"t": target_id, "id": grant.id})
    for account_id in sorted({g.account_id for g in found}):
        revocation.revoke_account(conn, account_id, "unit_merged")
    return len(found)
