"""Bulletins, the member's inbox (with a live endpoint), delivery preferences, Web Push
subscriptions and feedback: each view is one notifications RPC with the caller's token.

Live updates: `GET /inbox/version` answers 304 to `If-None-Match` of the current version
(conditional polling: cheap for the service and for old phones), and `GET /inbox/events` is a
Server-Sent Events stream of version changes (WatchInbox) for up to `max_seconds`; the client
reconnects with the last version. SSE holds a gunicorn worker and a gRPC stream for its duration,
so polling is the default and SSE is for the few open desktop clients.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
from flask import Response, current_app, request

from gateway import clients
from gateway.api import Routes
from gateway.clients import Backend
from gateway.convert import enum_to_json, from_json, to_json, to_json_all
from gateway.schemas.common import PageQuery
from gateway.schemas.notifications import (
    AnswerBody,
    AssignBody,
    CreateBulletinBody,
    EscalateBody,
    FeedbackStatusBody,
    GetBulletinQuery,
    InboxQuery,
    ListBulletinsQuery,
    ListFeedbackQuery,
    MarkReadBody,
    Message,
    PreferencesBody,
    PushSubscriptionBody,
    ReadStatsQuery,
    SubmitFeedbackBody,
    UpdateBulletinBody,
    WatchQuery,
    WithdrawBody,
)
from gateway.security import bearer_token
from gateway.streams import token_subject
from sotay.notifications.v1 import notifications_pb2 as pb
from sotay.notifications.v1 import notifications_pb2_grpc

routes = Routes(
    "bulletins",
    "Bulletins published down the tree, with read receipts",
    other_tags={
        "inbox": "The member's inbox: bulletins for their unit and ancestors, personal notifications, live version",
        "delivery": "Delivery preferences (e-mail, Web Push, quiet hours) and Web Push subscriptions",
        "feedback": "Feedback and petitions (phản ánh – kiến nghị) sent up the tree",
    },
)

NOTIFICATIONS = Backend("notifications", pb.DESCRIPTOR.services_by_name["NotificationsService"])


def svc(*, long: bool = False) -> notifications_pb2_grpc.NotificationsServiceStub:
    return clients.stub(NOTIFICATIONS, notifications_pb2_grpc.NotificationsServiceStub, long=long)


def page(items: list[dict[str, Any]], reply: Any) -> dict[str, Any]:
    total = getattr(reply, "total_size", None)
    return {"items": items, "next_page_token": reply.next_page_token, "total_size": total}


# ---------- bulletins ----------


@routes.route("/bulletins", "POST", body=CreateBulletinBody, response=Message, status=201,
              summary="Publish a bulletin (now or scheduled) to units of the publisher's subtree")
def create_bulletin(body: CreateBulletinBody) -> dict[str, Any]:
    req = from_json(pb.CreateBulletinRequest, body.model_dump(exclude_none=True))
    return to_json(svc().CreateBulletin(req).bulletin)


@routes.route("/bulletins", "GET", query=ListBulletinsQuery, response=Message,
              summary="Bulletins a unit has published")
def list_bulletins(query: ListBulletinsQuery) -> dict[str, Any]:
    reply = svc().ListBulletins(from_json(pb.ListBulletinsRequest, query.model_dump()))
    return page(to_json_all(reply.bulletins), reply)


@routes.route("/bulletins/<bulletin_id>", "GET", query=GetBulletinQuery, response=Message,
              summary="Read a bulletin (mark_read records a read receipt)")
def get_bulletin(bulletin_id: str, query: GetBulletinQuery) -> dict[str, Any]:
    reply = svc().GetBulletin(pb.GetBulletinRequest(id=bulletin_id, mark_read=query.mark_read))
    return to_json(reply)


@routes.route("/bulletins/<bulletin_id>", "PATCH", body=UpdateBulletinBody, response=Message,
              summary="Edit, pin or change the expiry of a bulletin")
def update_bulletin(bulletin_id: str, body: UpdateBulletinBody) -> dict[str, Any]:
    given = body.model_dump(exclude_none=True)
    if "pinned" in given:
        given["set_pinned"] = True
    req = from_json(pb.UpdateBulletinRequest, {"id": bulletin_id, **given})
    return to_json(svc().UpdateBulletin(req).bulletin)


@routes.route("/bulletins/<bulletin_id>/withdraw", "POST", body=WithdrawBody, response=Message,
              summary="Withdraw a bulletin from every inbox")
def withdraw_bulletin(bulletin_id: str, body: WithdrawBody) -> dict[str, Any]:
    reply = svc().WithdrawBulletin(pb.WithdrawBulletinRequest(id=bulletin_id, reason=body.reason))
    return to_json(reply.bulletin)


@routes.route("/bulletins/<bulletin_id>/read-stats", "GET", query=ReadStatsQuery, response=Message,
              summary="Read receipts per unit: counts, and who has and has not read")
def read_stats(bulletin_id: str, query: ReadStatsQuery) -> dict[str, Any]:
    req = from_json(pb.GetBulletinReadStatsRequest, {"bulletin_id": bulletin_id, **query.model_dump()})
    return to_json(svc().GetBulletinReadStats(req))


# ---------- inbox ----------


def _enum_names(enum: Any) -> dict[int, str | None]:
    return {v.number: enum_to_json(enum, v.number) for v in enum.values}


_ITEM_TYPES = _enum_names(pb.ItemType.DESCRIPTOR)
_BULLETIN_KINDS = _enum_names(pb.BulletinKind.DESCRIPTOR)
_NOTIFICATION_KINDS = _enum_names(pb.NotificationKind.DESCRIPTOR)


def _time(item: pb.InboxItem, name: str) -> str | None:
    if not item.HasField(name):  # type: ignore[arg-type]
        return None
    value = getattr(item, name)
    return value.ToJsonString() if (value.seconds or value.nanos) else None  # type: ignore[no-any-return]


def inbox_item_json(item: pb.InboxItem) -> dict[str, Any]:
    """to_json(item), written out: the inbox is the most read page, and the generic walk over the
    descriptors costs more than the rest of the route (tests keep the two identical)."""
    link = item.link
    return {
        "id": item.id,
        "type": _ITEM_TYPES.get(item.type),
        "bulletin_kind": _BULLETIN_KINDS.get(item.bulletin_kind),
        "notification_kind": _NOTIFICATION_KINDS.get(item.notification_kind),
        "title": item.title,
        "summary": item.summary,
        "at": _time(item, "at"),
        "read_at": _time(item, "read_at"),
        "pinned": item.pinned,
        "publisher_unit_id": item.publisher_unit_id,
        "link": {
            "meeting_id": link.meeting_id,
            "poll_id": link.poll_id,
            "task_id": link.task_id,
            "feedback_id": link.feedback_id,
            "document_ids": list(link.document_ids),
        } if item.HasField("link") else None,
    }


@routes.route("/inbox", "GET", query=InboxQuery, response=Message, tag="inbox", summary="The caller's inbox")
def list_inbox(query: InboxQuery) -> dict[str, Any]:
    reply = svc().ListInbox(from_json(pb.ListInboxRequest, query.model_dump(exclude_none=True)))
    return page([inbox_item_json(i) for i in reply.items], reply)


@routes.route("/inbox/read", "POST", body=MarkReadBody, response=Message, tag="inbox",
              summary="Mark bulletins and notifications read")
def mark_read(body: MarkReadBody) -> dict[str, Any]:
    return to_json(svc().MarkRead(from_json(pb.MarkReadRequest, body.model_dump())))


@routes.route("/inbox/read-all", "POST", response=Message, tag="inbox", summary="Mark everything read")
def mark_all_read() -> dict[str, Any]:
    return to_json(svc().MarkAllRead(pb.MarkAllReadRequest()))


@routes.route("/inbox/version", "GET", response=Message, tag="inbox",
              summary="Inbox version and unread counts (ETag; 304 when If-None-Match matches)")
def inbox_version() -> Response:
    reply = svc().GetInboxVersion(pb.GetInboxVersionRequest())
    etag = f'"{reply.version}"'
    if request.headers.get("If-None-Match") == etag:
        response = Response(status=304)
    else:
        response = Response(json.dumps(to_json(reply)), mimetype="application/json")
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@routes.route("/inbox/events", "GET", query=WatchQuery, tag="inbox", produces=["text/event-stream"],
              summary="Server-Sent Events: the inbox version each time it changes (429/503 when too many are open)")
def inbox_events(query: WatchQuery) -> Response:
    # A slot first (gateway.streams: caps per worker and per member), keyed by the token's
    # subject; the service verifies the token, so a forged one holds its slot for one call only.
    token = bearer_token()
    slot = current_app.extensions["sotay.streams"].admit(token_subject(token))
    # Asked without known_version, the service answers at once, so its refusal (a bad token, its
    # own caps) becomes a JSON error here rather than an empty stream.
    stream = svc(long=True).WatchInbox(pb.WatchInboxRequest(max_seconds=query.max_seconds))
    try:
        first = next(stream, None)
    except BaseException:
        stream.cancel()
        slot.release()
        raise

    def events() -> Iterator[str]:
        yield "retry: 5000\n\n"
        try:
            if first is not None and first.version != query.known_version:
                yield event(first)
            for change in stream:
                yield event(change)
        except grpc.RpcError:
            return
        finally:
            stream.cancel()
            slot.release()

    response = Response(events(), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.call_on_close(slot.release)  # also when the body is never read
    return response


def event(change: pb.WatchInboxResponse) -> str:
    return f"id: {change.version}\nevent: inbox\ndata: {json.dumps(to_json(change))}\n\n"


# ---------- delivery ----------


@routes.route("/preferences/notifications", "GET", response=Message, tag="delivery",
              summary="The caller's delivery preferences")
def get_preferences() -> dict[str, Any]:
    return to_json(svc().GetPreferences(pb.GetPreferencesRequest()).preferences)


@routes.route("/preferences/notifications", "PUT", body=PreferencesBody, response=Message, tag="delivery",
              summary="Set the caller's delivery preferences")
def put_preferences(body: PreferencesBody) -> dict[str, Any]:
    req = pb.UpdatePreferencesRequest(preferences=from_json(pb.Preferences, body.model_dump()))
    return to_json(svc().UpdatePreferences(req).preferences)


@routes.route("/push-subscriptions/config", "GET", response=Message, tag="delivery",
              summary="The VAPID application server key for PushManager.subscribe()")
def push_config() -> dict[str, Any]:
    return to_json(svc().GetPushConfig(pb.GetPushConfigRequest()))


@routes.route("/push-subscriptions", "POST", body=PushSubscriptionBody, response=Message, status=201,
              tag="delivery", summary="Register this browser for Web Push (repeatable)")
def add_push_subscription(body: PushSubscriptionBody) -> dict[str, Any]:
    req = pb.AddPushSubscriptionRequest(endpoint=body.endpoint, p256dh=body.keys.p256dh, auth=body.keys.auth,
                                        user_agent=body.user_agent or request.headers.get("User-Agent", "")[:300])
    return to_json(svc().AddPushSubscription(req).subscription)


@routes.route("/push-subscriptions", "GET", query=PageQuery, response=Message, tag="delivery",
              summary="The caller's Web Push subscriptions")
def list_push_subscriptions(query: PageQuery) -> dict[str, Any]:
    reply = svc().ListPushSubscriptions(from_json(pb.ListPushSubscriptionsRequest, query.model_dump()))
    return page(to_json_all(reply.subscriptions), reply)


@routes.route("/push-subscriptions/<subscription_id>", "DELETE", status=204, tag="delivery",
              summary="Remove a Web Push subscription")
def remove_push_subscription(subscription_id: str) -> None:
    svc().RemovePushSubscription(pb.RemovePushSubscriptionRequest(id=subscription_id))


# ---------- feedback ----------


@routes.route("/feedback", "POST", body=SubmitFeedbackBody, response=Message, status=201, tag="feedback",
              summary="Send feedback or a petition to one's cell or a committee above it")
def submit_feedback(body: SubmitFeedbackBody) -> dict[str, Any]:
    req = from_json(pb.SubmitFeedbackRequest, body.model_dump())
    return to_json(svc().SubmitFeedback(req).feedback)


@routes.route("/feedback", "GET", query=PageQuery, response=Message, tag="feedback",
              summary="The caller's own feedback")
def list_my_feedback(query: PageQuery) -> dict[str, Any]:
    reply = svc().ListMyFeedback(from_json(pb.ListMyFeedbackRequest, query.model_dump()))
    return page(to_json_all(reply.items), reply)


@routes.route("/feedback/<feedback_id>", "GET", response=Message, tag="feedback",
              summary="A feedback item and its history (submitter or handlers)")
def get_feedback(feedback_id: str) -> dict[str, Any]:
    return to_json(svc().GetFeedback(pb.GetFeedbackRequest(id=feedback_id)))


@routes.route("/feedback/<feedback_id>/status", "POST", body=FeedbackStatusBody, response=Message,
              tag="feedback", summary="Take up (in_progress) or close a feedback item")
def feedback_status(feedback_id: str, body: FeedbackStatusBody) -> dict[str, Any]:
    req = from_json(pb.UpdateFeedbackStatusRequest, {"id": feedback_id, **body.model_dump()})
    return to_json(svc().UpdateFeedbackStatus(req).feedback)


@routes.route("/feedback/<feedback_id>/answer", "POST", body=AnswerBody, response=Message, tag="feedback",
              summary="Answer a feedback item (the submitter is notified)")
def answer_feedback(feedback_id: str, body: AnswerBody) -> dict[str, Any]:
    req = pb.AnswerFeedbackRequest(id=feedback_id, answer=body.answer, idempotency_key=body.idempotency_key)
    return to_json(svc().AnswerFeedback(req).feedback)


@routes.route("/feedback/<feedback_id>/assign", "POST", body=AssignBody, response=Message, tag="feedback",
              summary="Assign an open item to an account holding a role on its unit (handlers)")
def assign_feedback(feedback_id: str, body: AssignBody) -> dict[str, Any]:
    req = pb.AssignFeedbackRequest(id=feedback_id, account_id=body.account_id, note=body.note)
    return to_json(svc().AssignFeedback(req).feedback)


@routes.route("/feedback/<feedback_id>/escalate", "POST", body=EscalateBody, response=Message, tag="feedback",
              summary="Send an open item to the unit above now (handlers)")
def escalate_feedback(feedback_id: str, body: EscalateBody) -> dict[str, Any]:
    req = pb.EscalateFeedbackRequest(id=feedback_id, note=body.note)
    return to_json(svc().EscalateFeedback(req).feedback)


@routes.route("/units/<unit_id>/feedback", "GET", query=ListFeedbackQuery, response=Message, tag="feedback",
              summary="Feedback a unit handles (its handlers; subtree for admins)")
def list_unit_feedback(unit_id: str, query: ListFeedbackQuery) -> dict[str, Any]:
    req = from_json(pb.ListFeedbackRequest, {"unit_id": unit_id, **query.model_dump(exclude_none=True)})
    reply = svc().ListFeedback(req)
    return page(to_json_all(reply.items), reply)


@routes.route("/units/<unit_id>/feedback-stats", "GET", response=Message, tag="feedback",
              summary="Feedback statistics per unit of a subtree")
def feedback_stats(unit_id: str) -> dict[str, Any]:
    return to_json(svc().GetFeedbackStats(pb.GetFeedbackStatsRequest(unit_id=unit_id)))
