"""The NotificationsService gRPC servicer: authorise, run one transaction, convert."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any, TypeAlias

import grpc
import sqlalchemy as sa

from services.core import idempotency
from services.core.auth import ROLE_ADMIN, ROLE_CELL_COMMITTEE, ROLE_EDITOR, Principal
from services.core.config import ServerConfig, env, env_int
from services.core.db import Database
from services.core.enums import enum_str
from services.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)
from services.core.identity_client import IdentityClient, UnitInfo
from services.core.ids import new_id, require_id, require_unit_id
from services.core.interceptors import current_principal
from services.core.paging import counted_page, next_token, page_window
from services.core.slots import Slots, SlotsFull, cap_below
from services.core.timestamps import timestamp
from services.notifications import bulletins, feedback, inbox, readstats
from services.notifications.convert import (
    bulletin_msg,
    feedback_counts,
    feedback_event_msg,
    feedback_msg,
    inbox_item,
    prefs_from,
    prefs_msg,
    seconds,
    subscription_msg,
)
from services.notifications.delivery import queue, vapid
from services.notifications.feedback import OFFICER_HANDLERS
from services.notifications.units import member_of
from services.notifications.visible import VisibleBulletins
from sotay.notifications.v1 import notifications_pb2 as pb
from sotay.notifications.v1 import notifications_pb2_grpc

Ctx: TypeAlias = grpc.ServicerContext
PUBLISHERS = (ROLE_EDITOR, ROLE_ADMIN)
STATS_READERS = (ROLE_ADMIN, ROLE_EDITOR, *OFFICER_HANDLERS, ROLE_CELL_COMMITTEE)
PUBLIC_METHODS: set[str] = set()


def _bulletin_replay(conn: sa.Connection, me: Principal, key: str) -> sa.Row | None:  # type: ignore[type-arg]
    """The bulletin the caller created before with this key (None: none, or no key)."""
    if not key:
        return None
    found = idempotency.seen(conn, f"bulletin:{me.account_id}", key)
    if found is not None:
        return bulletins.get(conn, found)
    # Stored by the release before during a rolling update (until its contract).
    return bulletins.by_idempotency_key(conn, f"{me.account_id}:{key}")


def _b64(value: str, field: str, size: int | None) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise InvalidArgument(f"invalid_{field}", f"{field} must be base64url", field=field) from None
    if size is not None and len(raw) != size:
        raise InvalidArgument(f"invalid_{field}", f"{field} must be {size} bytes", field=field)
    return raw


def watch_slots() -> Slots:
    """Live inbox streams one server holds: INBOX_WATCH_MAX_STREAMS (default half of GRPC_WORKERS,
    always below it, so other calls find a thread) and INBOX_WATCH_MAX_PER_MEMBER (default 2)."""
    workers = ServerConfig.from_env("notifications").workers
    total = cap_below("INBOX_WATCH_MAX_STREAMS", workers, "GRPC_WORKERS")
    return Slots(total, env_int("INBOX_WATCH_MAX_PER_MEMBER", 2))


class NotificationsServicer(notifications_pb2_grpc.NotificationsServiceServicer):
    def __init__(self, db: Database, identity: IdentityClient | None = None) -> None:
        self.db = db
        self.identity = identity or IdentityClient()
        self.directory = inbox.MemberDirectory(db)
        self.visible = VisibleBulletins()
        self._vapid_key = ""
        self.watches = watch_slots()

    # ---------- helpers ----------

    def _publisher_unit(self, me: Principal, unit_id: str) -> UnitInfo:
        require_unit_id(unit_id, "publisher_unit_id")
        unit = self.identity.unit(require_id(unit_id, "publisher_unit_id", "unit"))
        if not me.has_role_over(unit.chain, *PUBLISHERS):
            raise PermissionDenied(
                "not_allowed", "needs role editor or admin over this unit", unit_id=unit_id
            )
        return unit

    def _can_manage(self, me: Principal, row: sa.Row) -> bool:  # type: ignore[type-arg]
        if not me.grant_units(PUBLISHERS):
            return False
        try:
            unit = self.identity.unit(row.publisher_unit_id)
        except NotFound:
            return False
        return me.has_role_over(unit.chain, *PUBLISHERS)

    # ---------- bulletins ----------

    def CreateBulletin(self, request: pb.CreateBulletinRequest, context: Ctx) -> pb.CreateBulletinResponse:
        me = current_principal()
        now = time.time()
        key = idempotency.check(request.idempotency_key)
        if key:
            with self.db.read() as conn:
                found = _bulletin_replay(conn, me, key)
                if found is not None:
                    return pb.CreateBulletinResponse(
                        bulletin=bulletin_msg(found, bulletins.audience(conn, found.id), now)
                    )
        require_unit_id(request.publisher_unit_id, "publisher_unit_id")
        kind = enum_str(pb.BulletinKind, request.kind, "BULLETIN_KIND_", "kind") or "bulletin"
        if kind == "document":
            raise InvalidArgument(
                "invalid_kind", "document items come from the documents service", field="kind"
            )
        draft = bulletins.validate(
            bulletins.Draft(
                request.publisher_unit_id,
                kind,
                request.title,
                request.body_html,
                list(request.audience_unit_ids) or [request.publisher_unit_id],
                list(request.attachment_document_ids),
                seconds(request.publish_at, request.HasField("publish_at")) or 0.0,
                seconds(request.expires_at, request.HasField("expires_at")),
                request.pinned,
            ),
            now,
        )
        publisher = self._publisher_unit(me, request.publisher_unit_id)
        draft.publisher_unit_id = publisher.id
        for unit_id in draft.audience:
            target = publisher if unit_id == publisher.id else self.identity.unit(unit_id)
            if publisher.id not in target.chain:
                raise PermissionDenied(
                    "audience_outside_subtree",
                    "an audience unit is outside the publisher's subtree",
                    unit_id=unit_id,
                )
        with self.db.write() as conn:
            if key:
                self.db.lock(conn, f"bulletin-idem:{me.account_id}:{key}")
                found = _bulletin_replay(conn, me, key)
                if found is not None:
                    return pb.CreateBulletinResponse(
                        bulletin=bulletin_msg(found, bulletins.audience(conn, found.id), now)
                    )
            # The column too, for the release before during a rolling update (until its contract).
            column_key = f"{me.account_id}:{key}" if key else None
            row = bulletins.insert(conn, draft, me.account_id, now, idempotency_key=column_key)
            if key:
                idempotency.remember(conn, f"bulletin:{me.account_id}", key, row.id)
            return pb.CreateBulletinResponse(bulletin=bulletin_msg(row, draft.audience, now))

    def UpdateBulletin(self, request: pb.UpdateBulletinRequest, context: Ctx) -> pb.UpdateBulletinResponse:
        me = current_principal()
        now = time.time()
        with self.db.read() as conn:
            row = bulletins.get(conn, request.id)
        self._require_manage(me, row)
        with self.db.write() as conn:
            row = bulletins.update(
                conn,
                bulletins.get(conn, row.id),
                request.title,
                request.body_html,
                request.pinned if request.set_pinned else None,
                seconds(request.expires_at, request.HasField("expires_at")),
                request.clear_expires_at,
                now,
            )
            return pb.UpdateBulletinResponse(
                bulletin=bulletin_msg(row, bulletins.audience(conn, row.id), now)
            )

    def _require_manage(self, me: Principal, row: sa.Row) -> None:  # type: ignore[type-arg]
        if row.kind == "document":
            raise PermissionDenied("managed_by_documents", "document items follow the documents service")
        if not self._can_manage(me, row):
            raise PermissionDenied("not_allowed", "needs role editor or admin over the publishing unit")

    def WithdrawBulletin(
        self, request: pb.WithdrawBulletinRequest, context: Ctx
    ) -> pb.WithdrawBulletinResponse:
        me = current_principal()
        now = time.time()
        with self.db.read() as conn:
            row = bulletins.get(conn, request.id)
        self._require_manage(me, row)
        with self.db.write() as conn:
            row = bulletins.withdraw(conn, bulletins.get(conn, row.id), request.reason, now)
            return pb.WithdrawBulletinResponse(
                bulletin=bulletin_msg(row, bulletins.audience(conn, row.id), now)
            )

    def GetBulletin(self, request: pb.GetBulletinRequest, context: Ctx) -> pb.GetBulletinResponse:
        me = current_principal()
        now = time.time()
        with self.db.read() as conn:
            row = bulletins.get(conn, request.id)
            audience = bulletins.audience(conn, row.id)
            member = bool(me.member_id and me.ancestors)
            shown = member and inbox.visible(conn, me, row.id, now)
            read = inbox.read_at(conn, me.member_id, row.id) if member else None
        history = read is not None and row.withdrawn_at is None
        if not (shown or history or self._can_manage(me, row)):
            raise NotFound(
                "bulletin_not_found", f"bulletin {request.id} is not in your inbox", bulletin_id=request.id
            )
        if request.mark_read and shown and read is None:
            self.directory.touch(me)
            with self.db.write() as conn:
                inbox.mark_bulletins(conn, me, [row.id], now)
                read = now
        return pb.GetBulletinResponse(
            bulletin=bulletin_msg(row, audience, now), read_at=timestamp(read) if read is not None else None
        )

    def ListBulletins(self, request: pb.ListBulletinsRequest, context: Ctx) -> pb.ListBulletinsResponse:
        me = current_principal()
        now = time.time()
        size, offset = page_window(request)
        unit = self._publisher_unit(me, request.unit_id)
        with self.db.read() as conn:
            found, total = bulletins.list_published_by(conn, unit.id, request.include_withdrawn, offset, size)
            audiences = bulletins.audiences(conn, [r.id for r in found])
        return pb.ListBulletinsResponse(
            bulletins=[bulletin_msg(r, audiences[r.id], now) for r in found],
            next_page_token=next_token(offset, size, len(found), total),
            total_size=total,
        )

    def GetBulletinReadStats(
        self, request: pb.GetBulletinReadStatsRequest, context: Ctx
    ) -> pb.GetBulletinReadStatsResponse:
        me = current_principal()
        size, offset = page_window(request, maximum=1000)
        with self.db.read() as conn:
            row = bulletins.get(conn, request.bulletin_id)
            audience = bulletins.audience(conn, row.id)
        unit = self.identity.unit(require_id(request.unit_id or audience[0], "unit_id", "unit"))
        if not set(audience) & set(unit.chain):
            raise InvalidArgument(
                "unit_not_in_audience", "the unit is not in the bulletin's audience", field="unit_id"
            )
        if not me.has_role_over(unit.chain, *STATS_READERS):
            raise PermissionDenied(
                "not_allowed", "needs role editor, admin or cell officer over this unit", unit_id=unit.id
            )
        members = readstats.member_reads(self.db, self.identity, row.id, unit.id)
        here, children = readstats.unit_counts(self.db, self.identity, row.id, unit)
        if request.unread_only:
            members = [m for m in members if m.read_at is None]
        page = members[offset : offset + size]

        def count(c: readstats.UnitCount) -> pb.UnitReadCount:
            return pb.UnitReadCount(unit_id=c.unit.id, unit_name=c.unit.name, members=c.members, read=c.read)

        return pb.GetBulletinReadStatsResponse(
            unit=count(here),
            children=[count(c) for c in children],
            members=[
                pb.MemberReadState(
                    member_id=m.member_id,
                    full_name=m.full_name,
                    unit_id=m.unit_id,
                    read_at=timestamp(m.read_at) if m.read_at is not None else None,
                )
                for m in page
            ],
            next_page_token=next_token(offset, size, len(page), len(members)),
        )

    # ---------- inbox ----------

    def ListInbox(self, request: pb.ListInboxRequest, context: Ctx) -> pb.ListInboxResponse:
        me = current_principal()
        member_of(me)
        flt = enum_str(pb.InboxFilter, request.filter, "INBOX_FILTER_", "filter") or "all"
        size, offset = page_window(request, default=20, maximum=100)
        now = time.time()
        with self.db.read() as conn:
            if inbox.check_filter(flt) == "history":
                rows, total = inbox.list_items(conn, me, flt, offset, size, now)
                items = [inbox_item(r) for r in rows]
            else:
                items, total = inbox.page(conn, self.visible, me, flt, offset, size, now)
        return pb.ListInboxResponse(
            items=items, next_page_token=next_token(offset, size, len(items), total), total_size=total
        )

    def MarkRead(self, request: pb.MarkReadRequest, context: Ctx) -> pb.MarkReadResponse:
        me = current_principal()
        member_of(me)
        if len(request.bulletin_ids) + len(request.notification_ids) > 500:
            raise InvalidArgument("too_many_ids", "at most 500 items at a time")
        now = time.time()
        self.directory.touch(me)
        with self.db.write() as conn:
            marked = inbox.mark_bulletins(conn, me, list(request.bulletin_ids), now)
            marked += inbox.mark_notifications(conn, me, list(request.notification_ids), now)
        return pb.MarkReadResponse(marked=marked)

    def MarkAllRead(self, request: pb.MarkAllReadRequest, context: Ctx) -> pb.MarkAllReadResponse:
        me = current_principal()
        member_of(me)
        self.directory.touch(me)
        with self.db.write() as conn:
            return pb.MarkAllReadResponse(marked=inbox.mark_all(conn, me, time.time()))

    def _version(self, me: Principal) -> tuple[str, int, int]:
        with self.db.read() as conn:
            return inbox.version(conn, me, time.time())

    def GetInboxVersion(self, request: pb.GetInboxVersionRequest, context: Ctx) -> pb.GetInboxVersionResponse:
        me = current_principal()
        member_of(me)
        version, ub, un = self._version(me)
        return pb.GetInboxVersionResponse(version=version, unread_bulletins=ub, unread_notifications=un)

    def WatchInbox(self, request: pb.WatchInboxRequest, context: Ctx) -> Iterator[pb.WatchInboxResponse]:
        me = current_principal()
        member_id, _ = member_of(me)
        limit = float(env("INBOX_WATCH_MAX_SECONDS", "300"))
        if request.max_seconds < 0:
            raise InvalidArgument(
                "invalid_max_seconds", "max_seconds must not be negative", field="max_seconds"
            )
        duration = min(float(request.max_seconds or 60), limit)
        context.send_initial_metadata(())  # the caller is accepted: the gateway may start its response
        interval = float(env("INBOX_WATCH_POLL_SECONDS", "2"))
        # A watch holds an RPC thread until it ends: capped below GRPC_WORKERS (watch_slots).
        try:
            slot = self.watches.acquire(member_id)
        except SlotsFull as full:
            reason = "watches_full" if full.scope == "total" else "too_many_watches"
            message = "too many live inbox streams, try again shortly"
            raise ResourceExhausted(reason, message, limit=full.limit) from None
        context.add_callback(slot.release)  # also when the client goes away mid-sleep
        with slot:
            deadline = time.monotonic() + duration
            known = request.known_version
            while True:
                version, ub, un = self._version(me)
                if version != known:
                    known = version
                    yield pb.WatchInboxResponse(version=version, unread_bulletins=ub, unread_notifications=un)
                left = deadline - time.monotonic()
                if left <= 0 or not context.is_active():
                    return
                time.sleep(min(interval, left))

    # ---------- delivery ----------

    def GetPreferences(self, request: pb.GetPreferencesRequest, context: Ctx) -> pb.GetPreferencesResponse:
        member_id, _ = member_of(current_principal())
        with self.db.read() as conn:
            return pb.GetPreferencesResponse(preferences=prefs_msg(queue.get_prefs(conn, member_id)))

    def UpdatePreferences(
        self, request: pb.UpdatePreferencesRequest, context: Ctx
    ) -> pb.UpdatePreferencesResponse:
        me = current_principal()
        member_id, _ = member_of(me)
        self.directory.touch(me)
        with self.db.write() as conn:
            saved = queue.save_prefs(conn, member_id, prefs_from(request.preferences))
        return pb.UpdatePreferencesResponse(preferences=prefs_msg(saved))

    def GetPushConfig(self, request: pb.GetPushConfigRequest, context: Ctx) -> pb.GetPushConfigResponse:
        current_principal()
        if not self._vapid_key:
            self._vapid_key = vapid.application_server_key(vapid.load(self.db))
        return pb.GetPushConfigResponse(vapid_public_key=self._vapid_key)

    def AddPushSubscription(
        self, request: pb.AddPushSubscriptionRequest, context: Ctx
    ) -> pb.AddPushSubscriptionResponse:
        me = current_principal()
        member_id, _ = member_of(me)
        endpoint = request.endpoint.strip()
        if not endpoint.startswith(("https://", "http://")) or len(endpoint) > 2000:
            raise InvalidArgument(
                "invalid_endpoint", "endpoint must be the push service URL", field="endpoint"
            )
        if _b64(request.p256dh, "p256dh", 65)[0] != 4:
            raise InvalidArgument(
                "invalid_p256dh", "p256dh must be an uncompressed P-256 key", field="p256dh"
            )
        _b64(request.auth, "auth", 16)
        self.directory.touch(me)
        now = time.time()
        with self.db.write() as conn:
            row = conn.execute(
                sa.text("SELECT * FROM push_subscriptions WHERE endpoint = :e"), {"e": endpoint}
            ).first()
            values = {
                "m": member_id,
                "k": request.p256dh,
                "a": request.auth,
                "ua": request.user_agent[:300],
                "e": endpoint,
                "now": now,
            }
            if row is None:
                conn.execute(
                    sa.text(
                        "INSERT INTO push_subscriptions (id, member_id, endpoint, p256dh, auth, "
                        "user_agent, created_at, failures) VALUES (:id, :m, :e, :k, :a, :ua, :now, 0)"
                    ),
                    {**values, "id": new_id()},
                )
            else:  # the browser re-subscribed (or another member now uses this browser)
                conn.execute(
                    sa.text(
                        "UPDATE push_subscriptions SET member_id = :m, p256dh = :k, auth = :a, "
                        "user_agent = :ua, failures = 0 WHERE endpoint = :e"
                    ),
                    values,
                )
            if (
                conn.execute(sa.text("SELECT 1 FROM preferences WHERE member_id = :m"), values).first()
                is None
            ):
                queue.save_prefs(conn, member_id, queue.Prefs())
            row = conn.execute(sa.text("SELECT * FROM push_subscriptions WHERE endpoint = :e"), values).one()
        return pb.AddPushSubscriptionResponse(subscription=subscription_msg(row))

    def RemovePushSubscription(
        self, request: pb.RemovePushSubscriptionRequest, context: Ctx
    ) -> pb.RemovePushSubscriptionResponse:
        member_id, _ = member_of(current_principal())
        sid = require_id(request.id, "id", "subscription")
        with self.db.write() as conn:
            deleted = conn.execute(
                sa.text("DELETE FROM push_subscriptions WHERE id = :id AND member_id = :m"),
                {"id": sid, "m": member_id},
            ).rowcount
        if not deleted:
            raise NotFound("subscription_not_found", "no such push subscription")
        return pb.RemovePushSubscriptionResponse()

    def ListPushSubscriptions(
        self, request: pb.ListPushSubscriptionsRequest, context: Ctx
    ) -> pb.ListPushSubscriptionsResponse:
        member_id, _ = member_of(current_principal())
        size, offset = page_window(request)
        with self.db.read() as conn:
            found, total = counted_page(
                conn, "push_subscriptions", "member_id = :m", "created_at, id", {"m": member_id}, offset, size
            )
        return pb.ListPushSubscriptionsResponse(
            subscriptions=[subscription_msg(r) for r in found],
            next_page_token=next_token(offset, size, len(found), total),
        )

    # ---------- feedback ----------

    def SubmitFeedback(self, request: pb.SubmitFeedbackRequest, context: Ctx) -> pb.SubmitFeedbackResponse:
        me = current_principal()
        key = idempotency.check(request.idempotency_key)
        with self.db.write() as conn:
            row = feedback.submit(
                conn,
                me,
                request.unit_id,
                request.subject,
                request.body,
                list(request.attachment_document_ids),
                key,
                time.time(),
            )
        return pb.SubmitFeedbackResponse(feedback=feedback_msg(row))

    def GetFeedback(self, request: pb.GetFeedbackRequest, context: Ctx) -> pb.GetFeedbackResponse:
        me = current_principal()
        with self.db.read() as conn:
            row = feedback.get_for(conn, me, request.id)
            events = feedback.history(conn, row.id)
        return pb.GetFeedbackResponse(
            feedback=feedback_msg(row), history=[feedback_event_msg(e) for e in events]
        )

    def ListMyFeedback(self, request: pb.ListMyFeedbackRequest, context: Ctx) -> pb.ListMyFeedbackResponse:
        member_id, _ = member_of(current_principal())
        size, offset = page_window(request)
        with self.db.read() as conn:
            found, total = feedback.list_mine(conn, member_id, offset, size)
        return pb.ListMyFeedbackResponse(
            items=[feedback_msg(r) for r in found],
            next_page_token=next_token(offset, size, len(found), total),
            total_size=total,
        )

    def ListFeedback(self, request: pb.ListFeedbackRequest, context: Ctx) -> pb.ListFeedbackResponse:
        me = current_principal()
        size, offset = page_window(request)
        status = enum_str(pb.FeedbackStatus, request.status, "FEEDBACK_STATUS_", "status")
        require_unit_id(request.unit_id)
        unit = self._handled_unit(me, request.unit_id, request.subtree)
        with self.db.read() as conn:
            found, total = feedback.list_for_unit(conn, unit.path, request.subtree, status, offset, size)
        return pb.ListFeedbackResponse(
            items=[feedback_msg(r) for r in found],
            next_page_token=next_token(offset, size, len(found), total),
            total_size=total,
        )

    def _handled_unit(self, me: Principal, unit_id: str, subtree: bool) -> UnitInfo:
        unit = self.identity.unit(require_id(unit_id, "unit_id", "unit"))
        allowed = me.has_role_over(unit.chain, ROLE_ADMIN) if subtree else feedback.handles(me, unit.path)
        if not allowed:
            raise PermissionDenied(
                "not_handler", "only the handlers of this unit see its feedback", unit_id=unit_id
            )
        return unit

    def UpdateFeedbackStatus(
        self, request: pb.UpdateFeedbackStatusRequest, context: Ctx
    ) -> pb.UpdateFeedbackStatusResponse:
        me = current_principal()
        status = enum_str(pb.FeedbackStatus, request.status, "FEEDBACK_STATUS_", "status")
        with self.db.write() as conn:
            row = feedback.get_for(conn, me, request.id)
            row = feedback.set_status(conn, me, row, status, request.note, time.time())
        return pb.UpdateFeedbackStatusResponse(feedback=feedback_msg(row))

    def AnswerFeedback(self, request: pb.AnswerFeedbackRequest, context: Ctx) -> pb.AnswerFeedbackResponse:
        me = current_principal()
        key = idempotency.check(request.idempotency_key)
        with self.db.write() as conn:
            row = feedback.get_for(conn, me, request.id)
            row = feedback.answer(conn, me, row, request.answer, key, time.time())
        return pb.AnswerFeedbackResponse(feedback=feedback_msg(row))

    def AssignFeedback(self, request: pb.AssignFeedbackRequest, context: Ctx) -> pb.AssignFeedbackResponse:
        me = current_principal()
        account_id = require_id(request.account_id, "account_id", "account") if request.account_id else ""
        if len(request.note) > 1000:
            raise InvalidArgument("note_too_long", "a note has at most 1000 characters", field="note")
        with self.db.read() as conn:
            row = feedback.get_for(conn, me, request.id)
        if account_id and not self.identity.holds_role_on(account_id, row.unit_id):
            raise FailedPrecondition(
                "assignee_without_role", "feedback is assigned to an account holding a role on its unit",
                account_id=account_id,
            )
        with self.db.write() as conn:
            row = feedback.get_for(conn, me, request.id)
            row = feedback.assign(conn, me, row, account_id, request.note, time.time())
        return pb.AssignFeedbackResponse(feedback=feedback_msg(row))

    def EscalateFeedback(self, request: pb.EscalateFeedbackRequest, context: Ctx) -> pb.EscalateFeedbackResponse:
        me = current_principal()
        with self.db.write() as conn:
            row = feedback.get_for(conn, me, request.id)
            row = feedback.escalate(conn, me, row, request.note, time.time())
        return pb.EscalateFeedbackResponse(feedback=feedback_msg(row))

    def GetFeedbackStats(
        self, request: pb.GetFeedbackStatsRequest, context: Ctx
    ) -> pb.GetFeedbackStatsResponse:
        me = current_principal()
        require_unit_id(request.unit_id)
        unit = self.identity.unit(require_id(request.unit_id, "unit_id", "unit"))
        if not (me.has_role_over(unit.chain, ROLE_ADMIN) or feedback.handles(me, unit.path)):
            raise PermissionDenied("not_handler", "only admins and handlers of this unit see its statistics")
        with self.db.read() as conn:
            per_unit = feedback.stats(conn, unit.path, time.time())
        total: dict[str, Any] = {"answer_durations": []}
        for r in per_unit:
            for k, v in r.items():
                if k == "answer_durations":
                    total[k] += v
                elif k != "unit_id":
                    total[k] = total.get(k, 0) + float(v or 0)
        return pb.GetFeedbackStatsResponse(
            total=feedback_counts(unit.id, total), units=[feedback_counts(r["unit_id"], r) for r in per_unit]
        )
