"""Bulletins: published by a unit to units of its subtree, scheduled, expiring, pinned, withdrawn.

Publishing writes the bulletin and one audience row per addressed unit — never a row per member,
so a province-wide bulletin costs what a one-cell bulletin costs. Who sees it is decided when an
inbox is read (see inbox.py). Documents published by the documents service become bulletins of
kind "document" through the same path (events.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core.errors import FailedPrecondition, InvalidArgument, NotFound
from services.core.ids import new_id, require_id
from services.core.outbox import emit
from services.core.paging import counted_page
from services.notifications import richtext
from sotay.events.v1.notifications_events_pb2 import BulletinCreated, BulletinWithdrawn

KINDS = ("bulletin", "announcement", "directive", "document")
MAX_AUDIENCE = 200
MAX_ATTACHMENTS = 50
MAX_TITLE = 300


@dataclass
class Draft:
    publisher_unit_id: str
    kind: str
    title: str
    body_html: str
    audience: list[str]
    attachments: list[str]
    publish_at: float
    expires_at: float | None
    pinned: bool


def validate(d: Draft, now: float) -> Draft:
    if d.kind not in KINDS:
        raise InvalidArgument("invalid_kind", f"kind must be one of {', '.join(KINDS)}", field="kind")
    title = " ".join(d.title.split())
    if not title:
        raise InvalidArgument("title_required", "a bulletin needs a title", field="title")
    if len(title) > MAX_TITLE:
        raise InvalidArgument("title_too_long", f"a title has at most {MAX_TITLE} characters", field="title")
    body = richtext.sanitise(d.body_html)
    if len(d.audience) > MAX_AUDIENCE:
        raise InvalidArgument(
            "audience_too_large", f"at most {MAX_AUDIENCE} audience units", field="audience_unit_ids"
        )
    audience = list(dict.fromkeys(require_id(u, "audience_unit_ids", "unit") for u in d.audience))
    if len(d.attachments) > MAX_ATTACHMENTS:
        raise InvalidArgument(
            "too_many_attachments", f"at most {MAX_ATTACHMENTS} attachments", field="attachment_document_ids"
        )
    attachments = list(dict.fromkeys(require_id(a, "attachment_document_ids") for a in d.attachments))
    publish_at = max(d.publish_at, now) if d.publish_at else now
    if d.expires_at is not None and d.expires_at <= publish_at:
        raise InvalidArgument(
            "expires_before_publish", "expires_at must be after publish_at", field="expires_at"
        )
    return Draft(
        d.publisher_unit_id, d.kind, title, body, audience, attachments, publish_at, d.expires_at, d.pinned
    )


def insert(
    conn: Connection,
    d: Draft,
    author: str,
    now: float,
    *,
    idempotency_key: str | None = None,
    source_key: str | None = None,
) -> Row[Any]:
    """Store a validated draft (audience already authorised). One row per audience unit."""
    bid = new_id()
    conn.execute(
        sa.text(
            "INSERT INTO bulletins (id, publisher_unit_id, kind, title, body_html, body_text, attachments, "
            "publish_at, expires_at, pinned, author_account_id, source_key, idempotency_key, created_at, "
            "updated_at) VALUES (:id, :pub, :kind, :title, :html, :text, :att, :at, :exp, :pinned, :author, "
            ":src, :idem, :now, :now)"
        ),
        {
            "id": bid,
            "pub": d.publisher_unit_id,
            "kind": d.kind,
            "title": d.title,
            "html": d.body_html,
            "text": richtext.to_text(d.body_html),
            "att": json.dumps(d.attachments),
            "at": d.publish_at,
            "exp": d.expires_at,
            "pinned": d.pinned,
            "author": author or None,
            "src": source_key,
            "idem": idempotency_key,
            "now": now,
        },
    )
    conn.execute(
        sa.text("INSERT INTO bulletin_audience (unit_id, publish_at, bulletin_id) VALUES (:u, :at, :b)"),
        [{"u": u, "at": d.publish_at, "b": bid} for u in d.audience],
    )
    changed(conn)
    emit(conn, bid, BulletinCreated(bulletin_id=bid, publisher_unit_id=d.publisher_unit_id,
                                    audience_unit_ids=d.audience, kind=d.kind, publish_at=d.publish_at))
    return get(conn, bid)


def by_idempotency_key(conn: Connection, key: str) -> Row[Any] | None:
    return conn.execute(sa.text("SELECT * FROM bulletins WHERE idempotency_key = :k"), {"k": key}).first()


def by_source_key(conn: Connection, key: str) -> Row[Any] | None:
    return conn.execute(sa.text("SELECT * FROM bulletins WHERE source_key = :k"), {"k": key}).first()


def get(conn: Connection, bulletin_id: str) -> Row[Any]:
    bid = require_id(bulletin_id, "id", "bulletin")
    row = conn.execute(sa.text("SELECT * FROM bulletins WHERE id = :id"), {"id": bid}).first()
    if row is None:
        raise NotFound(
            "bulletin_not_found", f"bulletin {bulletin_id} does not exist", bulletin_id=bulletin_id
        )
    return row


def audience(conn: Connection, bulletin_id: str) -> list[str]:
    return list(
        conn.execute(
            sa.text("SELECT unit_id FROM bulletin_audience WHERE bulletin_id = :b ORDER BY unit_id"),
            {"b": bulletin_id},
        ).scalars()
    )


def audiences(conn: Connection, ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in ids}
    if ids:
        for r in conn.execute(
            sa.text(
                "SELECT bulletin_id, unit_id FROM bulletin_audience WHERE bulletin_id IN :ids "
                "ORDER BY unit_id"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": ids},
        ):
            out[r.bulletin_id].append(r.unit_id)
    return out


def state(row: Row[Any], now: float) -> str:
    if row.withdrawn_at is not None:
        return "withdrawn"
    if row.publish_at > now:
        return "scheduled"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "published"


def update(
    conn: Connection,
    row: Row[Any],
    title: str,
    body_html: str,
    pinned: bool | None,
    expires_at: float | None,
    clear_expiry: bool,
    now: float,
) -> Row[Any]:
    if row.withdrawn_at is not None:
        raise FailedPrecondition("bulletin_withdrawn", "a withdrawn bulletin cannot be changed")
    changes: dict[str, Any] = {}
    if title:
        changes["title"] = validate(
            Draft(row.publisher_unit_id, row.kind, title, "", [], [], row.publish_at, None, False), now
        ).title
    if body_html:
        changes["body_html"] = richtext.sanitise(body_html)
        changes["body_text"] = richtext.to_text(changes["body_html"])
    if pinned is not None:
        changes["pinned"] = pinned
    if clear_expiry:
        changes["expires_at"] = None
    elif expires_at is not None:
        if expires_at <= row.publish_at:
            raise InvalidArgument(
                "expires_before_publish", "expires_at must be after publish_at", field="expires_at"
            )
        changes["expires_at"] = expires_at
    if not changes:
        return row
    sets = ", ".join(f"{k} = :{k}" for k in changes)
    conn.execute(
        sa.text(f"UPDATE bulletins SET {sets}, updated_at = :now WHERE id = :id"),
        {**changes, "now": now, "id": row.id},
    )
    changed(conn)
    return get(conn, row.id)


def withdraw(conn: Connection, row: Row[Any], reason: str, now: float) -> Row[Any]:
    if row.withdrawn_at is not None:
        return row
    conn.execute(
        sa.text(
            "UPDATE bulletins SET withdrawn_at = :now, withdraw_reason = :r, updated_at = :now WHERE id = :id"
        ),
        {"now": now, "r": reason.strip()[:500] or None, "id": row.id},
    )
    changed(conn)
    conn.execute(
        sa.text("UPDATE deliveries SET status = 'cancelled' WHERE item_id = :id AND status = 'pending'"),
        {"id": row.id},
    )
    emit(conn, row.id, BulletinWithdrawn(bulletin_id=row.id))
    return get(conn, row.id)


def changed(conn: Connection) -> None:
    """Every transaction that changes what an inbox shows of a bulletin calls this (see
    services/notifications/visible.py: cached lists are checked against this counter)."""
    conn.execute(sa.text("UPDATE bulletin_changes SET version = version + 1 WHERE id = 1"))


def list_published_by(
    conn: Connection, unit_id: str, include_withdrawn: bool, offset: int, limit: int
) -> tuple[list[Row[Any]], int]:
    where = "publisher_unit_id = :u" + ("" if include_withdrawn else " AND withdrawn_at IS NULL")
    return counted_page(conn, "bulletins", where, "publish_at DESC, id", {"u": unit_id}, offset, limit)


def now() -> float:
    return time.time()
