"""The audit log: security events and every read of a profile by someone other than its owner."""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.context import current_request_id
from services.core.ids import new_id


def record(
    conn: Connection,
    action: str,
    actor: str = "",
    target_type: str = "",
    target_id: str = "",
    unit_path: str = "",
    **details: Any,
) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO audit_log (id, at, actor_account_id, action, target_type, target_id, unit_path, "
            "request_id, details) VALUES (:id, :at, :actor, :action, :tt, :tid, :path, :rid, :details)"
        ),
        {
            "id": new_id(), "at": time.time(), "actor": actor or None, "action": action,
            "tt": target_type or None, "tid": target_id or None,
            "path": unit_path or (account_path(conn, target_id) if target_type == "account" else "") or None,
            "rid": current_request_id() or None,
            "details": json.dumps(details, ensure_ascii=False) if details else None,
        },
    )


def account_path(conn: Connection, account_id: str) -> str:
    """The unit path an account's security events are filed under (its member's unit or first grant)."""
    if not account_id:
        return ""
    path = conn.execute(
        sa.text(
            "SELECT u.path FROM accounts a JOIN members m ON m.id = a.member_id JOIN units u ON u.id = m.unit_id "
            "WHERE a.id = :a UNION ALL SELECT u.path FROM role_grants g JOIN units u ON u.id = g.unit_id "
            "WHERE g.account_id = :a"
        ),
        {"a": account_id},
    ).first()
    return str(path[0]) if path else ""


def list_events(
    conn: Connection, unit_path: str, action_prefix: str, target_id: str, offset: int, limit: int
) -> list[Any]:
    where = ["unit_path >= :lo AND unit_path < :hi"]
    params: dict[str, Any] = {"lo": unit_path, "hi": unit_path[:-1] + "0", "off": offset, "lim": limit}
    if action_prefix:
        where.append("action LIKE :ap")
        params["ap"] = action_prefix.replace("%", "") + "%"
    if target_id:
        where.append("target_id = :tid")
        params["tid"] = target_id
    return list(
        conn.execute(
            sa.text(
                "SELECT id, at, actor_account_id, action, target_type, target_id, unit_path, request_id, details "
                f"FROM audit_log WHERE {' AND '.join(where)} ORDER BY at DESC, id LIMIT :lim OFFSET :off"
            ),
            params,
        ).all()
    )
