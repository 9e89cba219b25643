"""The audit log: security events and every read of a profile by someone other than its owner."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
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


@dataclass
class Filters:
    action_prefix: str = ""
    target_id: str = ""
    actor_account_id: str = ""
    since: float | None = None
    until: float | None = None


def list_events(conn: Connection, unit_path: str, filters: Filters, offset: int, limit: int) -> list[Any]:
    """Events filed under the unit's subtree, newest first, with the names of who acted and
    whom it was about (a member's name, else an account's login name)."""
    where = ["l.unit_path >= :lo AND l.unit_path < :hi"]
    params: dict[str, Any] = {"lo": unit_path, "hi": unit_path[:-1] + "0", "off": offset, "lim": limit}
    if filters.action_prefix:
        where.append("l.action LIKE :ap")
        params["ap"] = filters.action_prefix.replace("%", "") + "%"
    for column, value in (("target_id", filters.target_id), ("actor_account_id", filters.actor_account_id)):
        if value:
            where.append(f"l.{column} = :{column}")
            params[column] = value
    if filters.since is not None:
        where.append("l.at >= :since")
        params["since"] = filters.since
    if filters.until is not None:
        where.append("l.at < :until")
        params["until"] = filters.until
    return list(
        conn.execute(
            sa.text(
                "SELECT l.id, l.at, l.actor_account_id, l.action, l.target_type, l.target_id, l.unit_path, "
                "l.request_id, l.details, COALESCE(am.full_name, aa.username) AS actor_name, "
                "COALESCE(tm.full_name, tam.full_name, ta.username) AS target_name FROM audit_log l "
                "LEFT JOIN accounts aa ON aa.id = l.actor_account_id LEFT JOIN members am ON am.id = aa.member_id "
                "LEFT JOIN members tm ON l.target_type = 'member' AND tm.id = l.target_id "
                "LEFT JOIN accounts ta ON l.target_type = 'account' AND ta.id = l.target_id "
                "LEFT JOIN members tam ON tam.id = ta.member_id "
                f"WHERE {' AND '.join(where)} ORDER BY l.at DESC, l.id LIMIT :lim OFFSET :off"
            ),
            params,
        ).all()
    )
