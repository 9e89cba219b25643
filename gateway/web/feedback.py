"""Feedback and petitions (phản ánh, kiến nghị): a member writes to the cell or a unit above,
follows where it is, and reads the answer."""

from __future__ import annotations

import grpc
from flask import Response, redirect, request, url_for

from gateway.routes.notifications import svc as notifications
from gateway.web.auth import form_error
from gateway.web.base import PAGE, bp, login_required, my_units, page_token, render
from gateway.web.i18n import N_, _
from gateway.web.meetings import form_key, given_key
from sotay.notifications.v1 import notifications_pb2 as npb

STATUSES = {
    npb.FEEDBACK_STATUS_RECEIVED: N_("Received"),
    npb.FEEDBACK_STATUS_IN_PROGRESS: N_("Being handled"),
    npb.FEEDBACK_STATUS_ANSWERED: N_("Answered"),
    npb.FEEDBACK_STATUS_CLOSED: N_("Closed"),
}


def feedback_list(status: int = 200, error: str = "", subject: str = "", body: str = "") -> Response:
    reply = notifications().ListMyFeedback(npb.ListMyFeedbackRequest(page_size=PAGE, page_token=page_token()))
    units = my_units()
    return render("feedback.html", status=status, reply=reply, units=list(reversed(units)),
                  unit_names={u.id: u.name for u in units}, statuses=STATUSES, key=form_key(), error=error,
                  subject=subject, body=body)


@bp.route("/feedback", methods=["GET", "POST"])
@login_required
def feedback() -> Response:
    if request.method == "GET":
        return feedback_list()
    subject = request.form.get("subject", "").strip()[:300]
    body = request.form.get("body", "").strip()[:10000]
    if not subject or not body:
        return feedback_list(400, _("Please write a subject and the content."), subject, body)
    try:
        made = notifications().SubmitFeedback(npb.SubmitFeedbackRequest(
            unit_id=request.form.get("unit_id", "")[:100], subject=subject, body=body,
            idempotency_key=given_key()))
    except grpc.RpcError as exc:
        shown = form_error(exc)
        if shown is None:
            raise
        return feedback_list(shown[0], shown[1], subject, body)
    return redirect(url_for("web.feedback_item", feedback_id=made.feedback.id, done="sent"), code=303)  # type: ignore[return-value]


@bp.route("/feedback/<feedback_id>")
@login_required
def feedback_item(feedback_id: str) -> Response:
    reply = notifications().GetFeedback(npb.GetFeedbackRequest(id=feedback_id))
    units = my_units()
    return render("feedback_item.html", f=reply.feedback, statuses=STATUSES,
                  unit_names={u.id: u.name for u in units}, sent=request.args.get("done") == "sent",
                  answered=reply.feedback.status in (npb.FEEDBACK_STATUS_ANSWERED, npb.FEEDBACK_STATUS_CLOSED))
