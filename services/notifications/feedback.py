"""Feedback and petitions (phản ánh – kiến nghị) sent by a member up the tree.

A member writes to their own cell or to any committee above it (a unit of their token's
ancestry). Who handles an item — its *handlers* — is defined by roles:
  - `admin` granted on the unit the item is with, or on any ancestor of it (an admin's role covers
    their subtree), and
  - `cell_secretary` or `cell_deputy` granted on that unit itself (the cell's leadership; other
    committee members and editors are not handlers).
An item is with its target unit until it escalates; the handlers of the target stay able to see
it afterwards. Nobody else — other members, editors, officers of other units — can read it.

A handler may *assign* an open item to an account holding a role on the item's unit (a committee
member who prepares the answer): that account then reads, takes up, answers and escalates it too.
A handler (or the assignee) may escalate an open item to the parent unit at once.

States: received → in_progress → answered → closed (closed from any state by the submitter or a
handler). Answering notifies the submitter. An item still received or in progress
FEEDBACK_ESCALATION_DAYS after it arrived at its unit moves to the parent unit (worker
`escalate`), and its clock starts again there; at the top it stays.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core import idempotency
from services.core.auth import ROLE_ADMIN, ROLE_CELL_DEPUTY, ROLE_CELL_SECRETARY, Principal
from services.core.config import env
from services.core.db import Database
from services.core.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.core.ids import new_id, require_id, require_unit_id
from services.core.liveness import LOOPS
from services.core.outbox import emit
from services.core.paging import counted_page
from services.notifications import personal
from services.notifications.units import member_of, path_ids, path_of, subtree_range
from sotay.events.v1.notifications_events_pb2 import FeedbackAnswered, FeedbackEscalated, FeedbackReceived

log = logging.getLogger("sotay.notifications.feedback")

STATUSES = ("received", "in_progress", "answered", "closed")
OPEN = ("received", "in_progress")
OFFICER_HANDLERS = (ROLE_CELL_SECRETARY, ROLE_CELL_DEPUTY)
MAX_SUBJECT = 300
MAX_BODY = 10_000


def escalation_seconds() -> float:
    raw = env("FEEDBACK_ESCALATION_DAYS", "15")
    try:
        days = float(raw)
    except ValueError as exc:
        raise SystemExit(f"FEEDBACK_ESCALATION_DAYS must be a number of days, got {raw!r}") from exc
    return days * 86400


def handles(principal: Principal, unit_path: str) -> bool:
    """Is the caller a handler of the unit at `unit_path`?"""
    chain = path_ids(unit_path)
    if not chain:
        return False
    return principal.has_role_over(chain, ROLE_ADMIN) or chain[-1] in principal.grant_units(OFFICER_HANDLERS)


def handles_item(principal: Principal, row: Row[Any]) -> bool:
    """A handler of the unit the item is with or was sent to, or the account it is assigned to."""
    if row.assignee_account_id and row.assignee_account_id == principal.account_id:
        return True
    return handles(principal, row.unit_path) or handles(principal, row.target_path)


def may_read(principal: Principal, row: Row[Any]) -> bool:
    if principal.member_id and row.member_id == principal.member_id:
        return True
    return handles_item(principal, row)


def get(conn: Connection, feedback_id: str) -> Row[Any]:
    fid = require_id(feedback_id, "id", "feedback")
    row = conn.execute(sa.text("SELECT * FROM feedback WHERE id = :id"), {"id": fid}).first()
    if row is None:
        raise NotFound(
            "feedback_not_found", f"feedback {feedback_id} does not exist", feedback_id=feedback_id
        )
    return row


def get_for(conn: Connection, principal: Principal, feedback_id: str) -> Row[Any]:
    row = get(conn, feedback_id)
    if not may_read(principal, row):
        raise PermissionDenied("not_allowed", "only the submitter and the handlers of its unit may see this")
    return row


def history(conn: Connection, feedback_id: str) -> list[Row[Any]]:
    return list(
        conn.execute(
            sa.text("SELECT * FROM feedback_events WHERE feedback_id = :f ORDER BY at, id"),
            {"f": feedback_id},
        ).all()
    )


def _event(
    conn: Connection, fid: str, action: str, actor: str | None, unit_id: str, note: str, now: float
) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO feedback_events (id, feedback_id, at, action, actor_account_id, unit_id, note) "
            "VALUES (:id, :f, :at, :a, :actor, :u, :n)"
        ),
        {
            "id": new_id(),
            "f": fid,
            "at": now,
            "a": action,
            "actor": actor,
            "u": unit_id,
            "n": note[:1000] or None,
        },
    )


def submit(
    conn: Connection,
    principal: Principal,
    unit_id: str,
    subject: str,
    body: str,
    attachments: list[str],
    idempotency_key: str,
    now: float,
) -> Row[Any]:
    member_id, _ = member_of(principal)
    require_unit_id(unit_id)
    uid = require_id(unit_id, "unit_id", "unit")
    if uid not in principal.ancestors:
        raise PermissionDenied(
            "unit_not_in_ancestry", "feedback goes to your own cell or a committee above it", unit_id=unit_id
        )
    scope = f"feedback:{principal.account_id}"
    # The column's form of the key, for the release before during a rolling update (until its contract).
    key = f"{principal.account_id}:{idempotency_key}" if idempotency_key else None
    if key:
        earlier = idempotency.seen(conn, scope, idempotency_key)
        if earlier is not None:
            return get(conn, earlier)
        found = conn.execute(sa.text("SELECT * FROM feedback WHERE idempotency_key = :k"), {"k": key}).first()
        if found is not None:
            return found
    subject = " ".join(subject.split())
    body = body.strip()
    if not subject:
        raise InvalidArgument("subject_required", "feedback needs a subject", field="subject")
    if len(subject) > MAX_SUBJECT:
        raise InvalidArgument(
            "subject_too_long", f"a subject has at most {MAX_SUBJECT} characters", field="subject"
        )
    if not body:
        raise InvalidArgument("body_required", "feedback needs a text", field="body")
    if len(body) > MAX_BODY:
        raise InvalidArgument("body_too_long", f"a text has at most {MAX_BODY} characters", field="body")
    if len(attachments) > 20:
        raise InvalidArgument(
            "too_many_attachments", "at most 20 attachments", field="attachment_document_ids"
        )
    docs = list(dict.fromkeys(require_id(a, "attachment_document_ids") for a in attachments))
    chain = principal.ancestors[: principal.ancestors.index(uid) + 1]
    path = path_of(chain)
    fid = new_id()
    conn.execute(
        sa.text(
            "INSERT INTO feedback (id, member_id, account_id, target_unit_id, target_path, unit_id, "
            "unit_path, subject, body, attachments, status, escalations, due_at, idempotency_key, "
            "created_at, updated_at) "
            "VALUES (:id, :m, :a, :u, :p, :u, :p, :s, :b, :att, 'received', 0, :due, :k, :now, :now)"
        ),
        {
            "id": fid,
            "m": member_id,
            "a": principal.account_id,
            "u": uid,
            "p": path,
            "s": subject,
            "b": body,
            "att": json.dumps(docs),
            "due": now + escalation_seconds(),
            "k": key,
            "now": now,
        },
    )
    _event(conn, fid, "received", principal.account_id, uid, "", now)
    emit(conn, fid, FeedbackReceived(feedback_id=fid, unit_id=uid, at=now))
    if idempotency_key:
        idempotency.remember(conn, scope, idempotency_key, fid)
    return get(conn, fid)


def set_status(
    conn: Connection, principal: Principal, row: Row[Any], status: str, note: str, now: float
) -> Row[Any]:
    is_handler = handles_item(principal, row)
    if status == "in_progress":
        if not is_handler:
            raise PermissionDenied("not_handler", "only a handler of the unit can take this up")
        if row.status == "in_progress":
            return row
        if row.status != "received":
            raise FailedPrecondition("invalid_transition", f"cannot go from {row.status} to in_progress")
    elif status == "closed":
        if not (is_handler or row.member_id == principal.member_id):
            raise PermissionDenied("not_allowed", "only the submitter or a handler can close this")
        if row.status == "closed":
            return row
    else:
        raise InvalidArgument("invalid_status", "status must be IN_PROGRESS or CLOSED", field="status")
    conn.execute(
        sa.text("UPDATE feedback SET status = :s, updated_at = :now WHERE id = :id"),
        {"s": status, "now": now, "id": row.id},
    )
    _event(conn, row.id, status, principal.account_id, row.unit_id, note, now)
    return get(conn, row.id)


def answer(
    conn: Connection, principal: Principal, row: Row[Any], text: str, idempotency_key: str, now: float
) -> Row[Any]:
    if not handles_item(principal, row):
        raise PermissionDenied("not_handler", "only a handler of the unit can answer this")
    scope = f"answer:{principal.account_id}"
    # The release before's table, read and written during a rolling update (until its contract).
    key = f"{scope}:{idempotency_key}" if idempotency_key else None
    if key and (
        idempotency.seen(conn, scope, idempotency_key) is not None
        or conn.execute(sa.text("SELECT 1 FROM idempotency WHERE key = :k"), {"k": key}).first()
    ):
        return row
    text = text.strip()
    if not text:
        raise InvalidArgument("answer_required", "an answer needs a text", field="answer")
    if len(text) > MAX_BODY:
        raise InvalidArgument(
            "answer_too_long", f"an answer has at most {MAX_BODY} characters", field="answer"
        )
    if row.status == "closed":
        raise FailedPrecondition("feedback_closed", "this feedback is closed")
    conn.execute(
        sa.text(
            "UPDATE feedback SET status = 'answered', answer = :t, answered_by = :a, answered_at = :now, "
            "updated_at = :now WHERE id = :id"
        ),
        {"t": text, "a": principal.account_id, "now": now, "id": row.id},
    )
    _event(conn, row.id, "answered", principal.account_id, row.unit_id, "", now)
    answers = conn.execute(
        sa.text("SELECT COUNT(*) FROM feedback_events WHERE feedback_id = :f AND action = 'answered'"),
        {"f": row.id},
    ).scalar_one()
    personal.notify(
        conn,
        [row.member_id],
        "feedback_answered",
        f"Đã trả lời: {row.subject}",
        text[:500],
        {"feedback_id": row.id},
        f"feedback_answered:{row.id}:{answers}",
        now,
    )
    if key:
        idempotency.remember(conn, scope, idempotency_key, row.id)
        conn.execute(
            sa.text("INSERT INTO idempotency (key, result_id, created_at) VALUES (:k, :r, :now)"),
            {"k": key, "r": row.id, "now": now},
        )
    emit(conn, row.id, FeedbackAnswered(feedback_id=row.id, unit_id=row.unit_id, at=now))
    return get(conn, row.id)


def list_mine(conn: Connection, member_id: str, offset: int, limit: int) -> tuple[list[Row[Any]], int]:
    return counted_page(conn, "feedback", "member_id = :m", "created_at DESC, id", {"m": member_id}, offset, limit)


def list_for_unit(
    conn: Connection, unit_path: str, subtree: bool, status: str, offset: int, limit: int
) -> tuple[list[Row[Any]], int]:
    params: dict[str, Any] = {}
    if subtree:
        where = "unit_path >= :lo AND unit_path < :hi"
        params.update(subtree_range(unit_path))
    else:
        where = "unit_path = :p"
        params["p"] = unit_path
    if status:
        where += " AND status = :s"
        params["s"] = status
    return counted_page(conn, "feedback", where, "due_at, id", params, offset, limit)


def stats(conn: Connection, unit_path: str, now: float) -> list[dict[str, Any]]:
    """Counts per unit currently handling items, in the subtree of `unit_path`, with each unit's
    answer times (`answer_durations`, seconds) for the median."""
    rows = conn.execute(
        sa.text(
            "SELECT unit_id, "
            "SUM(CASE WHEN status = 'received' THEN 1 ELSE 0 END) AS received, "
            "SUM(CASE WHEN status = 'in_progress' THEN 1 ELSE 0 END) AS in_progress, "
            "SUM(CASE WHEN status = 'answered' THEN 1 ELSE 0 END) AS answered, "
            "SUM(CASE WHEN status = 'closed' THEN 1 ELSE 0 END) AS closed, "
            "SUM(CASE WHEN status IN ('received', 'in_progress') AND due_at < :now THEN 1 ELSE 0 END) "
            "AS overdue, "
            "SUM(CASE WHEN escalations > 0 THEN 1 ELSE 0 END) AS escalated, "
            "SUM(CASE WHEN answered_at IS NOT NULL THEN answered_at - created_at ELSE 0 END) "
            "AS answer_seconds, "
            "SUM(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END) AS with_answer "
            "FROM feedback WHERE unit_path >= :lo AND unit_path < :hi GROUP BY unit_id ORDER BY unit_id"
        ),
        {"now": now, **subtree_range(unit_path)},
    ).all()
    found = [dict(r._mapping) for r in rows]
    durations: dict[str, list[float]] = {}
    for r in conn.execute(
        sa.text(
            "SELECT unit_id, answered_at - created_at AS seconds FROM feedback "
            "WHERE answered_at IS NOT NULL AND unit_path >= :lo AND unit_path < :hi"
        ),
        subtree_range(unit_path),
    ):
        durations.setdefault(r.unit_id, []).append(float(r.seconds))
    for item in found:
        item["answer_durations"] = durations.get(item["unit_id"], [])
    return found


LATE = (
    "Phản ánh, kiến nghị của đồng chí chưa được trả lời đúng hạn và đã được chuyển lên cấp ủy cấp trên."
)
PASSED_UP = "Phản ánh, kiến nghị của đồng chí đã được chuyển lên cấp ủy cấp trên để giải quyết."


def _move_up(conn: Connection, row: Row[Any], actor: str | None, note: str, at: float) -> None:
    """The item goes to the parent of the unit it is with; its clock starts again there."""
    chain = path_ids(row.unit_path)
    parent = chain[-2]
    conn.execute(
        sa.text(
            "UPDATE feedback SET unit_id = :u, unit_path = :p, status = 'received', assignee_account_id = NULL, "
            "assigned_at = NULL, escalations = escalations + 1, due_at = :d, updated_at = :now WHERE id = :id"
        ),
        {"u": parent, "p": path_of(chain[:-1]), "d": at + escalation_seconds(), "now": at, "id": row.id},
    )
    _event(conn, row.id, "escalated", actor, parent, note, at)
    personal.notify(
        conn,
        [row.member_id],
        "feedback_escalated",
        f"Đã chuyển lên cấp trên: {row.subject}",
        PASSED_UP if actor else LATE,
        {"feedback_id": row.id},
        f"feedback_escalated:{row.id}:{row.escalations + 1}",
        at,
    )
    emit(conn, row.id, FeedbackEscalated(feedback_id=row.id, from_unit_id=chain[-1], to_unit_id=parent, at=at))


def _require_open(row: Row[Any]) -> None:
    if row.status not in OPEN:
        raise FailedPrecondition("feedback_not_open", f"this feedback is {row.status}", status=row.status)


def escalate(conn: Connection, principal: Principal, row: Row[Any], note: str, now: float) -> Row[Any]:
    """A handler (or the assignee) sends an open item to the unit above now."""
    if not handles_item(principal, row):
        raise PermissionDenied("not_handler", "only a handler of the unit can escalate this")
    _require_open(row)
    if len(path_ids(row.unit_path)) < 2:
        raise FailedPrecondition("no_unit_above", "this feedback is already with the top unit")
    note = " ".join(note.split())
    if len(note) > 1000:
        raise InvalidArgument("note_too_long", "a note has at most 1000 characters", field="note")
    _move_up(conn, row, principal.account_id, note, now)
    return get(conn, row.id)


def assign(
    conn: Connection, principal: Principal, row: Row[Any], account_id: str, note: str, now: float
) -> Row[Any]:
    """Give an open item to `account_id` ("" clears it); the caller checked the account holds a
    role on the item's unit."""
    if not (handles(principal, row.unit_path) or handles(principal, row.target_path)):
        raise PermissionDenied("not_handler", "only a handler of the unit can assign this")
    _require_open(row)
    if (row.assignee_account_id or "") == account_id:
        return row
    conn.execute(
        sa.text("UPDATE feedback SET assignee_account_id = :a, assigned_at = :on, updated_at = :at WHERE id = :id"),
        {"a": account_id or None, "on": now if account_id else None, "at": now, "id": row.id},
    )
    note = " ".join(note.split())
    _event(conn, row.id, "assigned", principal.account_id, row.unit_id, f"{account_id}: {note}" if note else account_id,
           now)
    return get(conn, row.id)


def escalate_once(db: Database, now: float | None = None, batch: int = 500) -> int:
    """Move overdue open items one unit up; returns how many moved."""
    at = now if now is not None else time.time()
    moved = 0
    with db.write() as conn:
        db.lock(conn, "feedback-escalation")
        due = conn.execute(
            sa.text(
                "SELECT * FROM feedback WHERE status IN ('received', 'in_progress') AND due_at <= :now "
                "ORDER BY due_at LIMIT :n"
            ),
            {"now": at, "n": batch},
        ).all()
        for row in due:
            chain = path_ids(row.unit_path)
            if len(chain) < 2:  # at the top: nowhere to go, check again after another period
                conn.execute(
                    sa.text("UPDATE feedback SET due_at = :d WHERE id = :id"),
                    {"d": at + escalation_seconds(), "id": row.id},
                )
                continue
            _move_up(conn, row, None, f"from {chain[-1]}", at)
            moved += 1
    return moved


def run_escalation(db: Database, stop: threading.Event, interval: float = 300.0) -> None:
    loop = LOOPS.loop("notifications", "escalate", interval)
    while not stop.is_set():
        try:
            while escalate_once(db) and not stop.is_set():
                pass
            loop.done()
        except sa.exc.OperationalError:
            log.warning("escalation: database unavailable, retrying", exc_info=True)
            loop.done(ok=False)
        stop.wait(interval)
