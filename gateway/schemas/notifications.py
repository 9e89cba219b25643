"""Bulletins, the inbox, delivery preferences, Web Push subscriptions and feedback
(the notifications service). Bodies are validated here; values are checked by the service."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas.common import Body, IdempotencyKey, PageQuery, ProtoEnum, Query
from sotay.notifications.v1 import notifications_pb2 as pb

BulletinKind = Annotated[str, ProtoEnum(pb.BulletinKind)]
InboxFilter = Annotated[str, ProtoEnum(pb.InboxFilter)]
FeedbackStatus = Annotated[str, ProtoEnum(pb.FeedbackStatus)]
Id = Annotated[str, Field(min_length=1, max_length=100)]
Ids = Annotated[list[Id], Field(max_length=500)]


class Message(BaseModel):
    """A reply of the notifications service in its JSON form (see the gRPC contract for fields)."""

    model_config = ConfigDict(extra="allow")


class CreateBulletinBody(Body):
    publisher_unit_id: Id
    title: str = Field(max_length=300)
    body_html: str = Field("", max_length=200_000, description="sanitised to a small whitelist of tags")
    kind: BulletinKind | None = None
    audience_unit_ids: Ids = Field(default_factory=list, description="empty: the publisher unit's subtree")
    attachment_document_ids: Ids = Field(default_factory=list)
    publish_at: dt.datetime | None = Field(None, description="later: scheduled")
    expires_at: dt.datetime | None = None
    pinned: bool = False
    idempotency_key: IdempotencyKey = ""


class UpdateBulletinBody(Body):
    title: str = Field("", max_length=300)
    body_html: str = Field("", max_length=200_000)
    pinned: bool | None = None
    expires_at: dt.datetime | None = None
    clear_expires_at: bool = False


class WithdrawBody(Body):
    reason: str = Field("", max_length=500)


class GetBulletinQuery(Query):
    mark_read: bool = False


class ListBulletinsQuery(PageQuery):
    unit_id: Id
    include_withdrawn: bool = False


class ReadStatsQuery(PageQuery):
    unit_id: str = Field("", max_length=100)
    unread_only: bool = False


class InboxQuery(PageQuery):
    filter: InboxFilter | None = None


class MarkReadBody(Body):
    bulletin_ids: Ids = Field(default_factory=list)
    notification_ids: Ids = Field(default_factory=list)


class WatchQuery(Query):
    known_version: str = Field("", max_length=100)
    max_seconds: int = Field(0, ge=0, le=300)


class PreferencesBody(Body):
    email_enabled: bool = False
    email: str = Field("", max_length=254)
    webpush_enabled: bool = False
    quiet_start_minute: int = Field(0, ge=0, le=1439)
    quiet_end_minute: int = Field(0, ge=0, le=1439)
    bulletins_by_channel: bool = False


class PushKeys(Body):
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)


class PushSubscriptionBody(Body):
    """PushSubscription.toJSON() of the browser (expirationTime is accepted and ignored)."""

    endpoint: str = Field(max_length=2000)
    keys: PushKeys
    expirationTime: Any = None
    user_agent: str = Field("", max_length=300)


class SubmitFeedbackBody(Body):
    unit_id: Id
    subject: str = Field(max_length=300)
    body: str = Field(max_length=10_000)
    attachment_document_ids: Annotated[list[Id], Field(max_length=20)] = Field(default_factory=list)
    idempotency_key: IdempotencyKey = ""


class FeedbackStatusBody(Body):
    status: FeedbackStatus
    note: str = Field("", max_length=1000)


class AnswerBody(Body):
    answer: str = Field(max_length=10_000)
    idempotency_key: IdempotencyKey = ""


class AssignBody(Body):
    account_id: str = Field("", max_length=100, description="an account with a role on the item's unit; empty clears")
    note: str = Field("", max_length=1000)


class EscalateBody(Body):
    note: str = Field("", max_length=1000)


class ListFeedbackQuery(PageQuery):
    subtree: bool = False
    status: FeedbackStatus | None = None
