"""The units tree: materialised paths ('/<root>/.../<id>/') make subtree and ancestor queries
one indexed range scan, and moving a subtree one UPDATE of its path prefix."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core.db import fetch_one
from services.core.errors import FailedPrecondition, InvalidArgument, NotFound
from services.core.ids import new_id, require_id
from services.core.outbox import emit
from services.core.paging import counted_page
from sotay.events.v1.identity_events_pb2 import UnitCreated, UnitDeactivated, UnitMoved, UnitRenamed

KINDS = ("province", "commune", "direct_committee", "grassroots", "cell")
COLUMNS = "id, name, kind, code, parent_id, path, depth, active, created_at, roster_version"


def path_ids(path: str) -> list[str]:
    """'/a/b/c/' -> ['a', 'b', 'c'] (root first, the unit itself last)."""
    return [p for p in path.split("/") if p]


def subtree_range(path: str) -> dict[str, str]:
    """Bounds for `path >= :lo AND path < :hi`: every path that starts with `path`."""
    return {"lo": path, "hi": path[:-1] + chr(ord("/") + 1)}


def get(conn: Connection, unit_id: str) -> Row[Any]:
    uid = require_id(unit_id, "unit_id", "unit")
    row = fetch_one(conn, f"SELECT {COLUMNS} FROM units WHERE id = :id", {"id": uid})
    if row is None:
        raise NotFound("unit_not_found", f"unit {unit_id} does not exist", unit_id=unit_id)
    return row


def chain(conn: Connection, unit_id: str) -> list[str]:
    """The unit's ancestors and itself, root first."""
    return path_ids(get(conn, unit_id).path)


def validate_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidArgument("name_required", "a unit needs a name", field="name")
    if len(name) > 200:
        raise InvalidArgument("name_too_long", "a unit name has at most 200 characters", field="name")
    return name


def create(conn: Connection, name: str, kind: str, parent_id: str, code: str = "") -> Row[Any]:
    if kind not in KINDS:
        raise InvalidArgument("invalid_kind", f"kind must be one of {', '.join(KINDS)}", field="kind")
    name = validate_name(name)
    now = time.time()
    uid = new_id()
    if parent_id:
        parent = get(conn, parent_id)
        if not parent.active:
            raise FailedPrecondition("parent_inactive", "cannot add a unit under an inactive unit")
        path, depth = f"{parent.path}{uid}/", parent.depth + 1
    else:
        if conn.execute(sa.text("SELECT 1 FROM units LIMIT 1")).first():
            raise InvalidArgument("parent_required", "only the first unit may be a root", field="parent_id")
        path, depth = f"/{uid}/", 0
    if code and conn.execute(sa.text("SELECT 1 FROM units WHERE code = :c"), {"c": code}).first():
        raise FailedPrecondition("unit_code_taken", f"unit code {code!r} is already used", field="code")
    conn.execute(
        sa.text(
            "INSERT INTO units (id, name, kind, code, parent_id, path, depth, active, created_at, updated_at) "
            "VALUES (:id, :name, :kind, :code, :parent, :path, :depth, TRUE, :now, :now)"
        ),
        {
            "id": uid, "name": name, "kind": kind, "code": code or None,
            "parent": parent_id or None, "path": path, "depth": depth, "now": now,
        },
    )
    emit(conn, uid, UnitCreated(unit_id=uid, parent_id=parent_id, kind=kind, name=name))
    return get(conn, uid)


def rename(conn: Connection, unit_id: str, name: str) -> Row[Any]:
    unit = get(conn, unit_id)
    conn.execute(
        sa.text("UPDATE units SET name = :n, updated_at = :t WHERE id = :id"),
        {"n": validate_name(name), "t": time.time(), "id": unit.id},
    )
    emit(conn, unit.id, UnitRenamed(unit_id=unit.id, name=validate_name(name)))
    return get(conn, unit.id)


def deactivate(conn: Connection, unit_id: str) -> Row[Any]:
    unit = get(conn, unit_id)
    busy = conn.execute(
        sa.text(
            "SELECT 1 FROM members m JOIN units u ON u.id = m.unit_id "
            "WHERE m.active AND u.path >= :lo AND u.path < :hi LIMIT 1"
        ),
        subtree_range(unit.path),
    ).first()
    if busy:
        raise FailedPrecondition(
            "unit_has_members", "move or deactivate the members of this subtree first"
        )
    conn.execute(
        sa.text("UPDATE units SET active = FALSE, updated_at = :t WHERE path >= :lo AND path < :hi"),
        {"t": time.time(), **subtree_range(unit.path)},
    )
    emit(conn, unit.id, UnitDeactivated(unit_id=unit.id))
    return get(conn, unit.id)


def move(conn: Connection, unit_id: str, new_parent_id: str, actor: str) -> tuple[Row[Any], int]:
    """Re-parent a subtree. Members, roles and history reference unit ids, so they follow."""
    unit = get(conn, unit_id)
    parent = get(conn, new_parent_id)
    if unit.parent_id is None:
        raise FailedPrecondition("cannot_move_root", "the root unit cannot be moved")
    if parent.path.startswith(unit.path):
        raise FailedPrecondition("move_into_own_subtree", "a unit cannot move under itself")
    if not parent.active:
        raise FailedPrecondition("parent_inactive", "cannot move a unit under an inactive unit")
    if parent.id == unit.parent_id:
        return unit, 0
    new_path = f"{parent.path}{unit.id}/"
    bounds = subtree_range(unit.path)
    params = {"new": new_path, "cut": len(unit.path) + 1, "delta": parent.depth + 1 - unit.depth, **bounds}
    moved = conn.execute(
        sa.text(
            "UPDATE units SET path = :new || substr(path, :cut), depth = depth + :delta "
            "WHERE path >= :lo AND path < :hi"
        ),
        params,
    ).rowcount
    conn.execute(
        sa.text(
            "UPDATE audit_log SET unit_path = :new || substr(unit_path, :cut) "
            "WHERE unit_path >= :lo AND unit_path < :hi"
        ),
        params,
    )
    now = time.time()
    conn.execute(
        sa.text("UPDATE units SET parent_id = :p, updated_at = :t WHERE id = :id"),
        {"p": parent.id, "t": now, "id": unit.id},
    )
    conn.execute(
        sa.text(
            "INSERT INTO unit_moves (id, unit_id, from_parent_id, to_parent_id, actor_account_id, at) "
            "VALUES (:id, :u, :f, :to, :a, :t)"
        ),
        {"id": new_id(), "u": unit.id, "f": unit.parent_id, "to": parent.id, "a": actor, "t": now},
    )
    emit(conn, unit.id, UnitMoved(unit_id=unit.id, from_parent_id=unit.parent_id, to_parent_id=parent.id,
                                  old_ancestor_ids=path_ids(unit.path)[:-1], ancestor_ids=path_ids(new_path)[:-1]))
    return get(conn, unit.id), moved


def list_units(
    conn: Connection,
    parent_id: str,
    subtree: bool,
    include_inactive: bool,
    kind: str,
    offset: int,
    limit: int,
) -> tuple[list[Row[Any]], int]:
    where = []
    params: dict[str, Any] = {}
    if subtree:
        parent = get(conn, parent_id)
        where.append("path > :lo AND path < :hi")
        params.update(subtree_range(parent.path))
        order = "path"
    elif parent_id:
        where.append("parent_id = :parent")
        params["parent"] = get(conn, parent_id).id
        order = "name, id"
    else:
        where.append("parent_id IS NULL")
        order = "name, id"
    if not include_inactive:
        where.append("active")
    if kind:
        where.append("kind = :kind")
        params["kind"] = kind
    return counted_page(conn, "units", " AND ".join(where), order, params, offset, limit, COLUMNS)


def ancestors(conn: Connection, unit_id: str) -> list[Row[Any]]:
    ids = chain(conn, unit_id)[:-1]
    if not ids:
        return []
    found = conn.execute(
        sa.text(f"SELECT {COLUMNS} FROM units WHERE id IN :ids").bindparams(sa.bindparam("ids", expanding=True)),
        {"ids": ids},
    ).all()
    return sorted(found, key=lambda r: r.depth)
