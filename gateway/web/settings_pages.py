"""How a member is told: e-mail, Web Push on this device, quiet hours, bulletins by those
channels. The form works without script; turning Web Push on for a device needs the browser's
Push API, so that one button is shown by script only."""

from __future__ import annotations

import re

import grpc
from flask import Response, redirect, request, url_for

from gateway.routes.notifications import svc as notifications
from gateway.web.auth import form_error
from gateway.web.base import bp, login_required, render
from gateway.web.i18n import _
from sotay.notifications.v1 import notifications_pb2 as npb

TIME_RE = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
B64URL_RE = re.compile(r"[A-Za-z0-9_-]{8,200}")


def minutes(value: str) -> int | None:
    found = TIME_RE.fullmatch(value.strip())
    return int(found.group(1)) * 60 + int(found.group(2)) if found else None


def hhmm(value: int) -> str:
    return f"{value // 60:02d}:{value % 60:02d}"


def page(prefs: npb.Preferences, status: int = 200, error: str = "", saved: bool = False) -> Response:
    vapid = notifications().GetPushConfig(npb.GetPushConfigRequest()).vapid_public_key
    return render("notification_settings.html", status=status, prefs=prefs, error=error, saved=saved,
                  quiet_start=hhmm(prefs.quiet_start_minute), quiet_end=hhmm(prefs.quiet_end_minute),
                  vapid_key=vapid)


@bp.route("/settings/notifications", methods=["GET", "POST"])
@login_required
def notification_settings() -> Response:
    if request.method == "GET":
        prefs = notifications().GetPreferences(npb.GetPreferencesRequest()).preferences
        return page(prefs, saved=request.args.get("done") == "saved")
    form = request.form
    start, end = minutes(form.get("quiet_start", "00:00")), minutes(form.get("quiet_end", "00:00"))
    wanted = npb.Preferences(
        email_enabled=bool(form.get("email_enabled")), email=form.get("email", "").strip()[:254],
        webpush_enabled=bool(form.get("webpush_enabled")), bulletins_by_channel=bool(form.get("bulletins_by_channel")),
        quiet_start_minute=start or 0, quiet_end_minute=end or 0,
    )
    if start is None or end is None:
        return page(wanted, 400, _("Quiet hours are times like 22:00."))
    try:
        notifications().UpdatePreferences(npb.UpdatePreferencesRequest(preferences=wanted))
    except grpc.RpcError as exc:
        shown = form_error(exc)
        if shown is None:
            raise
        return page(wanted, shown[0], shown[1])
    return redirect(url_for("web.notification_settings", done="saved"), code=303)  # type: ignore[return-value]


@bp.route("/push-subscriptions", methods=["POST"])
@login_required
def push_subscription() -> Response:
    """This device's Web Push subscription, sent by the settings page's script (form-encoded,
    with the CSRF token): 204, or 400 for a malformed one."""
    form = request.form
    endpoint = form.get("endpoint", "")
    if not endpoint.startswith("https://") or len(endpoint) > 2000 or not all(
        B64URL_RE.fullmatch(form.get(k, "")) for k in ("p256dh", "auth")
    ):
        return Response(status=400)
    notifications().AddPushSubscription(npb.AddPushSubscriptionRequest(
        endpoint=endpoint, p256dh=form["p256dh"], auth=form["auth"],
        user_agent=request.headers.get("User-Agent", "")[:300]))
    return Response(status=204)
