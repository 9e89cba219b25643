"""Rows to protobuf messages, and protobuf enums and timestamps to stored values."""

from __future__ import annotations

import json
import statistics
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.engine import Row

from services.core.enums import str_enum
from services.core.errors import InvalidArgument
from services.core.timestamps import epoch_seconds, ts
from services.notifications import bulletins
from services.notifications.delivery.queue import Prefs
from sotay.notifications.v1 import notifications_pb2 as pb


def seconds(t: Timestamp, has: bool) -> float | None:
    if not has:
        return None
    value = epoch_seconds(t)
    if value <= 0:
        raise InvalidArgument("invalid_time", "a time must be after 1970", field="time")
    return value


def bulletin_msg(row: Row[Any], audience: list[str], now: float) -> pb.Bulletin:
    return pb.Bulletin(
        id=row.id,
        publisher_unit_id=row.publisher_unit_id,
        kind=str_enum(pb.BulletinKind, row.kind, "BULLETIN_KIND_"),  # type: ignore[arg-type]
        title=row.title,
        body_html=row.body_html,
        audience_unit_ids=audience,
        attachment_document_ids=json.loads(row.attachments),
        publish_at=ts(row.publish_at),
        expires_at=ts(row.expires_at),
        pinned=bool(row.pinned),
        state=str_enum(pb.BulletinState, bulletins.state(row, now), "BULLETIN_STATE_"),  # type: ignore[arg-type]
        author_account_id=row.author_account_id or "",
        created_at=ts(row.created_at),
        updated_at=ts(row.updated_at),
        withdraw_reason=row.withdraw_reason or "",
    )


def bulletin_item(row: Any, at: float, document_ids: str | None, read_at: float | None = None) -> pb.InboxItem:
    """A bulletin as an inbox item; `document_ids` is its attachments' JSON list."""
    raw = json.loads(document_ids or "[]")
    return pb.InboxItem(
        id=row.id,
        type=pb.ITEM_TYPE_BULLETIN,
        bulletin_kind=str_enum(pb.BulletinKind, row.kind, "BULLETIN_KIND_"),  # type: ignore[arg-type]
        title=row.title,
        summary=row.summary or "",
        at=ts(at),
        read_at=ts(read_at),
        pinned=bool(row.pinned),
        publisher_unit_id=row.publisher_unit_id or "",
        link=pb.ItemLink(document_ids=raw if isinstance(raw, list) else []),
    )


def inbox_item(row: Row[Any]) -> pb.InboxItem:
    if row.type == "bulletin":
        return bulletin_item(row, row.at, row.link, row.read_at)
    raw = json.loads(row.link or "{}")
    link = pb.ItemLink(
        meeting_id=raw.get("meeting_id", ""),
        poll_id=raw.get("poll_id", ""),
        task_id=raw.get("task_id", ""),
        feedback_id=raw.get("feedback_id", ""),
        document_ids=raw.get("document_ids", []),
    )
    return pb.InboxItem(
        id=row.id,
        type=pb.ITEM_TYPE_NOTIFICATION,
        notification_kind=str_enum(pb.NotificationKind, row.kind, "NOTIFICATION_KIND_"),  # type: ignore[arg-type]
        title=row.title,
        summary=row.summary or "",
        at=ts(row.at),
        read_at=ts(row.read_at),
        link=link,
    )


def prefs_msg(p: Prefs) -> pb.Preferences:
    return pb.Preferences(
        email_enabled=p.email_enabled,
        email=p.email,
        webpush_enabled=p.webpush_enabled,
        quiet_start_minute=p.quiet_start,
        quiet_end_minute=p.quiet_end,
        bulletins_by_channel=p.bulletins_by_channel,
    )


def prefs_from(m: pb.Preferences) -> Prefs:
    return Prefs(
        m.email_enabled,
        m.email,
        m.webpush_enabled,
        m.quiet_start_minute,
        m.quiet_end_minute,
        m.bulletins_by_channel,
    )


def subscription_msg(row: Row[Any]) -> pb.PushSubscription:
    return pb.PushSubscription(
        id=row.id, endpoint=row.endpoint, user_agent=row.user_agent or "", created_at=ts(row.created_at)
    )


def feedback_msg(row: Row[Any]) -> pb.Feedback:
    return pb.Feedback(
        id=row.id,
        submitter_member_id=row.member_id,
        target_unit_id=row.target_unit_id,
        unit_id=row.unit_id,
        subject=row.subject,
        body=row.body,
        attachment_document_ids=json.loads(row.attachments),
        status=str_enum(pb.FeedbackStatus, row.status, "FEEDBACK_STATUS_"),  # type: ignore[arg-type]
        answer=row.answer or "",
        answered_by_account_id=row.answered_by or "",
        answered_at=ts(row.answered_at),
        escalations=int(row.escalations),
        due_at=ts(row.due_at),
        created_at=ts(row.created_at),
        updated_at=ts(row.updated_at),
        assignee_account_id=row.assignee_account_id or "",
        assigned_at=ts(row.assigned_at),
    )


def feedback_event_msg(row: Row[Any]) -> pb.FeedbackEvent:
    return pb.FeedbackEvent(
        at=ts(row.at),
        action=row.action,
        actor_account_id=row.actor_account_id or "",
        unit_id=row.unit_id,
        note=row.note or "",
    )


def feedback_counts(unit_id: str, r: dict[str, Any]) -> pb.FeedbackCounts:
    answered = int(r.get("with_answer") or 0)
    return pb.FeedbackCounts(
        unit_id=unit_id,
        received=int(r.get("received") or 0),
        in_progress=int(r.get("in_progress") or 0),
        answered=int(r.get("answered") or 0),
        closed=int(r.get("closed") or 0),
        overdue=int(r.get("overdue") or 0),
        escalated=int(r.get("escalated") or 0),
        mean_answer_seconds=float(r.get("answer_seconds") or 0) / answered if answered else 0.0,
        median_answer_seconds=statistics.median(r["answer_durations"]) if r.get("answer_durations") else 0.0,
        with_answer=answered,
    )
