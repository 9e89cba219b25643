"""Sign in, sign out, change password, language choice."""

from __future__ import annotations

import grpc
from flask import Response, g, redirect, request, url_for

from gateway import clients
from gateway.routes.auth import login_limiter
from gateway.security import client_ip
from gateway.web import session
from gateway.web.base import bp, login_required, render, safe_next
from gateway.web.i18n import LOCALE_COOKIE, LOCALES, N_, _
from gateway.web.messages import reason_message
from services.core.errors import error_info
from sotay.identity.v1 import identity_pb2 as ipb

FORM_ERRORS = {
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.NOT_FOUND: 400,
}
NOTICES = {
    "password": N_("Your password has been changed. Please sign in with the new password."),
    "signed_out": N_("You have signed out."),
}
MAX_FIELD = 300


def form_error(exc: grpc.RpcError) -> tuple[int, str] | None:
    """(HTTP status, member-facing text) of an RPC error a form shows beside its fields; None for
    the others (the error page handles them)."""
    status = FORM_ERRORS.get(exc.code())  # type: ignore[attr-defined]
    if status is None:
        return None
    reason, _meta = error_info(exc)
    return status, reason_message(reason)


def field(name: str) -> str:
    return request.form.get(name, "")[:MAX_FIELD]


def start_session(tokens: ipb.LoginResponse | ipb.RedeemActivationCodeResponse) -> None:
    """Keep the tokens, and the name and unit every page header shows."""
    me = session.current()
    me.set_tokens(tokens.access_token, tokens.refresh_token, tokens.expires_in)
    me.csrf = ""  # a new CSRF token for the signed-in session (csrf_token() makes it)
    g.access_token = tokens.access_token
    profile = clients.identity().GetMe(ipb.GetMeRequest())
    me.name = profile.member.full_name or profile.username
    me.unit_name, me.unit_id, me.member_id = "", profile.unit_id, profile.member.id
    if profile.unit_id:
        unit = clients.identity().GetUnit(ipb.GetUnitRequest(id=profile.unit_id))
        me.unit_name = unit.unit.name


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if session.fresh_access_token(session.current()) is not None:
            return redirect(target, code=303)  # type: ignore[return-value]
        notice = NOTICES.get(request.args.get("done", ""))
        return render("login.html", next=target, notice=_(notice) if notice else "")
    username = field("username").strip()
    wait = login_limiter().hit(client_ip())
    if wait:
        response = render("login.html", status=429, next=target, username=username,
                          error=reason_message("rate_limited"))
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        tokens = clients.identity().Login(
            ipb.LoginRequest(username=username, password=field("password"), client_ip=client_ip())
        )
    except grpc.RpcError as exc:
        shown = form_error(exc)
        if shown is None:
            raise
        return render("login.html", status=shown[0], next=target, username=username, error=shown[1])
    start_session(tokens)
    return redirect(target, code=303)  # type: ignore[return-value]


@bp.route("/activate", methods=["GET", "POST"])
def activate() -> Response:
    """First sign-in of a member created by import: the one-time code from the cell's secretary
    and a password of the member's choosing."""
    if request.method == "GET":
        return render("activate.html")
    login_name = field("login").strip()
    new, again = field("new_password"), field("new_password_again")
    if new != again:
        return render("activate.html", status=400, login=login_name,
                      error=_("The two new passwords are not the same."))
    wait = login_limiter().hit(client_ip())
    if wait:
        response = render("activate.html", status=429, login=login_name, error=reason_message("rate_limited"))
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        tokens = clients.identity().RedeemActivationCode(ipb.RedeemActivationCodeRequest(
            login=login_name, code=field("code"), new_password=new, client_ip=client_ip()))
    except grpc.RpcError as exc:
        shown = form_error(exc)
        if shown is None:
            raise
        return render("activate.html", status=shown[0], login=login_name, error=shown[1])
    start_session(tokens)
    return redirect(url_for("web.home"), code=303)  # type: ignore[return-value]


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """Revokes the login (the refresh token's whole family) at identity, then forgets the cookie."""
    me = session.current()
    if me.refresh:
        clients.identity().Logout(ipb.LogoutRequest(refresh_token=me.refresh))
    me.clear()
    return redirect(url_for("web.login", done="signed_out"), code=303)  # type: ignore[return-value]


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password() -> Response:
    if request.method == "GET":
        return render("password.html")
    new, again = field("new_password"), field("new_password_again")
    if new != again:
        return render("password.html", status=400, error=_("The two new passwords are not the same."))
    try:
        clients.identity().ChangePassword(
            ipb.ChangePasswordRequest(current_password=field("current_password"), new_password=new),
        )
    except grpc.RpcError as exc:
        shown = form_error(exc)
        if shown is None:
            raise
        return render("password.html", status=shown[0], error=shown[1])
    # Identity ends every login of the account when its password changes, this one included.
    session.current().clear()
    return redirect(url_for("web.login", done="password"), code=303)  # type: ignore[return-value]


@bp.route("/language/<code>")
def language(code: str) -> Response:
    response: Response = redirect(safe_next(request.args.get("next")), code=303)  # type: ignore[assignment]
    if code in LOCALES:
        response.set_cookie(LOCALE_COOKIE, code, max_age=365 * 86400, path="/", httponly=True,
                            secure=request.is_secure, samesite="Lax")
    return response
