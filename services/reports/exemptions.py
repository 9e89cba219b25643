"""Cells exempt from the rollout (e.g. a police or army cell): owned by this service, with a reason."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.errors import FailedPrecondition, InvalidArgument
from services.core.outbox import emit
from services.reports.consumers import subtree_range
from services.reports.figures import CELL, Unit
from sotay.events.v1.reports_events_pb2 import ExemptionSet

MAX_REASON = 500


def set_exemption(conn: Connection, cell: Unit, exempt: bool, reason: str, actor: str) -> Any | None:
    """Mark or unmark; returns the stored row (None once lifted)."""
    if cell.kind != CELL:
        raise FailedPrecondition("not_a_cell", "only a cell can be exempt from the rollout", unit_id=cell.id)
    reason = " ".join(reason.split()) if exempt else ""
    if exempt and not reason:
        raise InvalidArgument("reason_required", "say why the cell is exempt from the rollout", field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidArgument("reason_too_long", f"a reason has at most {MAX_REASON} characters", field="reason")
    conn.execute(sa.text("DELETE FROM rollout_exemptions WHERE unit_id = :u"), {"u": cell.id})
    emit(conn, cell.id, ExemptionSet(unit_id=cell.id, exempt=exempt, reason=reason))
    if not exempt:
        return None
    conn.execute(
        sa.text(
            "INSERT INTO rollout_exemptions (unit_id, reason, set_by_account_id, set_at) VALUES (:u, :r, :a, :t)"
        ),
        {"u": cell.id, "r": reason, "a": actor, "t": time.time()},
    )
    return listed(conn, cell, 0, 1)[0][0]


def listed(conn: Connection, root: Unit, offset: int, limit: int) -> tuple[list[Any], int]:
    """Exempt cells of the subtree (name order), and how many there are."""
    where = "FROM rollout_exemptions e JOIN units u ON u.id = e.unit_id WHERE u.path >= :lo AND u.path < :hi"
    bounds = subtree_range(root.path)
    total = int(conn.execute(sa.text(f"SELECT COUNT(*) {where}"), bounds).scalar_one())
    rows = conn.execute(
        sa.text(
            f"SELECT e.unit_id, u.name, e.reason, e.set_by_account_id, e.set_at {where} "
            "ORDER BY u.name, e.unit_id LIMIT :n OFFSET :o"
        ),
        {**bounds, "n": limit, "o": offset},
    ).all()
    return list(rows), total
