"""The inbox (bulletins and personal notifications) and a readable page for each bulletin.

Opening a bulletin's page records its read receipt (GetBulletin with mark_read): the page is
plain HTML, a few kilobytes, so the old phones of the seed report open it."""

from __future__ import annotations

from flask import Response, redirect, request, url_for

from gateway.routes.notifications import svc as notifications
from gateway.web.base import PAGE, bp, login_required, page_token, render
from gateway.web.i18n import N_
from sotay.notifications.v1 import notifications_pb2 as npb

FILTERS = {
    "unread": (npb.INBOX_FILTER_UNREAD, N_("Unread")),
    "all": (npb.INBOX_FILTER_UNSPECIFIED, N_("All")),
    "history": (npb.INBOX_FILTER_HISTORY, N_("Read before")),
}
KINDS = {
    npb.BULLETIN_KIND_BULLETIN: N_("Internal bulletin"),
    npb.BULLETIN_KIND_ANNOUNCEMENT: N_("Announcement"),
    npb.BULLETIN_KIND_DIRECTIVE: N_("Directive"),
    npb.BULLETIN_KIND_DOCUMENT: N_("New document"),
}
NOTIFICATION_KINDS = {
    npb.NOTIFICATION_KIND_MEETING_ANNOUNCED: N_("Meeting announced"),
    npb.NOTIFICATION_KIND_MEETING_DOCUMENTS: N_("Documents for the meeting"),
    npb.NOTIFICATION_KIND_POLL_OPENED: N_("Vote opened"),
    npb.NOTIFICATION_KIND_RESOLUTION_PUBLISHED: N_("Resolution published"),
    npb.NOTIFICATION_KIND_TASK_ASSIGNED: N_("Task assigned"),
    npb.NOTIFICATION_KIND_TASK_DUE_SOON: N_("Task due soon"),
    npb.NOTIFICATION_KIND_FEEDBACK_ANSWERED: N_("Feedback answered"),
    npb.NOTIFICATION_KIND_FEEDBACK_ESCALATED: N_("Feedback moved up"),
}


def kind_label(item: npb.InboxItem) -> str:
    if item.type == npb.ITEM_TYPE_BULLETIN:
        return KINDS.get(item.bulletin_kind, KINDS[npb.BULLETIN_KIND_BULLETIN])
    return NOTIFICATION_KINDS.get(item.notification_kind, "")


def item_link(item: npb.InboxItem) -> str:
    """Where an inbox item opens: a bulletin's page or the document it announces; for a
    notification, its meeting, else its document, else the inbox."""
    if item.type == npb.ITEM_TYPE_BULLETIN:
        if item.bulletin_kind == npb.BULLETIN_KIND_DOCUMENT and item.link.document_ids:
            return url_for("web.document", document_id=item.link.document_ids[0])
        return url_for("web.bulletin", bulletin_id=item.id)
    if item.link.meeting_id:
        return url_for("web.meeting", meeting_id=item.link.meeting_id)
    if item.link.feedback_id:
        return url_for("web.feedback_item", feedback_id=item.link.feedback_id)
    if item.link.document_ids:
        return url_for("web.document", document_id=item.link.document_ids[0])
    return url_for("web.inbox")


@bp.route("/inbox")
@login_required
def inbox() -> Response:
    chosen = request.args.get("show", "unread")
    if chosen not in FILTERS:
        chosen = "unread"
    reply = notifications().ListInbox(
        npb.ListInboxRequest(filter=FILTERS[chosen][0], page_size=PAGE, page_token=page_token())
    )
    return render("inbox.html", reply=reply, show=chosen, filters=FILTERS, kind_label=kind_label,
                  item_link=item_link, ITEM_TYPE_BULLETIN=npb.ITEM_TYPE_BULLETIN)


@bp.route("/inbox/read", methods=["POST"])
@login_required
def inbox_read() -> Response:
    """Mark one notification read, or everything (`all`)."""
    if request.form.get("all"):
        notifications().MarkAllRead(npb.MarkAllReadRequest())
    else:
        ids = [i for i in request.form.getlist("notification_id")[:PAGE] if i]
        if ids:
            notifications().MarkRead(npb.MarkReadRequest(notification_ids=ids))
    return redirect(url_for("web.inbox", show=request.form.get("show", "unread")), code=303)  # type: ignore[return-value]


@bp.route("/bulletins/<bulletin_id>")
@login_required
def bulletin(bulletin_id: str) -> Response:
    reply = notifications().GetBulletin(npb.GetBulletinRequest(id=bulletin_id, mark_read=True))
    found = reply.bulletin
    return render("bulletin.html", bulletin=found, kind=KINDS.get(found.kind, KINDS[npb.BULLETIN_KIND_BULLETIN]))
