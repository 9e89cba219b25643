"""The web blueprint and what every page shares: rendering, sign-in requirement, CSRF check,
the session cookie write-back, caching headers and the HTML error pages."""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import grpc
from flask import Blueprint, Flask, Response, g, redirect, render_template, request, url_for
from google.protobuf.timestamp_pb2 import Timestamp
from werkzeug.exceptions import HTTPException

from gateway import clients
from gateway import errors as api_errors
from gateway.web import i18n, session
from gateway.web.i18n import N_, _
from gateway.web.messages import REASONS, reason_message
from services.core.errors import error_info
from sotay.identity.v1 import identity_pb2 as ipb

log = logging.getLogger("sotay.gateway.web")

F = TypeVar("F", bound=Callable[..., Any])
HERE = Path(__file__).parent
TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
STATIC_MAX_AGE = 365 * 86400
PAGE = 20  # items on a list page
PAGE_TOKEN = re.compile(r"[A-Za-z0-9_=-]{0,200}")  # the services' page tokens are URL-safe base64


def _static_version() -> str:
    digest = hashlib.sha256()
    for path in sorted((HERE / "static").iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


class WebBlueprint(Blueprint):
    def get_send_file_max_age(self, filename: str | None) -> int | None:
        """Static files are named by their content's version (?v=...): cache them for a year."""
        return STATIC_MAX_AGE if request.args.get("v") == STATIC_VERSION else 300


STATIC_VERSION = _static_version()
bp = WebBlueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static")


def static_url(filename: str) -> str:
    return url_for("web.static", filename=filename, v=STATIC_VERSION)


def local_time(value: Timestamp | datetime | None, with_time: bool = True) -> str:
    """dd/mm/yyyy [HH:MM] in Vietnam's time zone; empty for an unset timestamp."""
    if value is None:
        return ""
    if isinstance(value, Timestamp):
        if not value.seconds and not value.nanos:
            return ""
        value = datetime.fromtimestamp(value.seconds, UTC)
    local = value.astimezone(TIMEZONE)
    return local.strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


@bp.app_template_filter("day")
def day(iso: str) -> str:
    """An ISO date (YYYY-MM-DD) as dd/mm/yyyy; anything else as it is."""
    year, _, rest = iso.partition("-")
    month, _, date = rest.partition("-")
    return f"{date}/{month}/{year}" if len(iso) == 10 and year.isdigit() and month.isdigit() and date.isdigit() else iso


@bp.app_template_global()
def csrf_token() -> str:
    return session.current().csrf_token()


def render(template: str, status: int = 200, **context: Any) -> Response:
    me = session.current()
    body = render_template(
        template, me=me, lang=i18n.current_locale(), locales=i18n.LOCALES, static_url=static_url,
        local_time=local_time, **context,
    )
    return Response(body, status=status, mimetype="text/html")


def safe_next(target: str | None) -> str:
    """A same-site path to go back to after signing in (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("web.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("/api/"):
        return url_for("web.home")
    return target


def to_login() -> Response:
    path = request.full_path.rstrip("?") if request.method == "GET" else request.path
    return redirect(url_for("web.login", next=path), code=303)  # type: ignore[return-value]


def login_required(view: F) -> F:
    """The page needs a signed-in member: a valid access token (refreshed if needed) is put where
    the gRPC channels forward it (gateway.clients.request_token); otherwise the browser goes to the login page."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = session.fresh_access_token(session.current())
        if token is None:
            return to_login()
        g.access_token = token
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def my_units() -> list[ipb.Unit]:
    """The member's own unit and every one above it (whose documents reach the member, and to
    which the member may write)."""
    me = session.current()
    if not me.unit_id:
        return []
    stub = clients.identity()
    above = stub.ListAncestors.future(ipb.ListAncestorsRequest(id=me.unit_id))
    own = stub.GetUnit(ipb.GetUnitRequest(id=me.unit_id)).unit
    return [*above.result().units, own]


@bp.before_request
def check_csrf() -> Response | None:
    """Every POST carries the session's CSRF token (a hidden field of each form) and, when the
    browser sends one, an Origin of this site."""
    if request.method != "POST":
        return None
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin.rstrip("/") != request.host_url.rstrip("/"):
        return error_page(403, _("This form was sent from another site and was refused."))
    if not session.current().csrf_valid(request.form.get("csrf_token", "")):
        return error_page(400, _("This form has expired. Please open the page again and resend it."))
    return None


@bp.after_request
def finish(response: Response) -> Response:
    session.save(response)
    if request.endpoint not in ("web.static", "web.manifest", "web.service_worker", "web.offline"):
        # Pages show one member's data: never kept by shared caches or the back/forward cache.
        response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("Vary", "Cookie")
    return response


TITLES = {
    400: N_("The request could not be handled"),
    403: N_("You do not have access to this page"),
    404: N_("Page not found"),
    405: N_("This action is not allowed here"),
    413: N_("The file is too large"),
    429: N_("Too many attempts"),
    500: N_("Something went wrong"),
    503: N_("The service is busy"),
}
DEFAULT_TEXT = {
    403: N_("Your account does not have permission to see this."),
    404: N_("The page you asked for does not exist or has been removed."),
    405: N_("Please go back and use the buttons on the page."),
    413: N_("Please choose a smaller file."),
    429: N_("Please wait a moment and try again."),
    500: N_("The error has been recorded. Please try again later."),
    503: N_("A part of the system is not answering. Please try again in a moment."),
}
GO_BACK = N_("Please go back and try again.")


def page_token() -> str:
    """The list page asked for (`?page=`), or the first when the token is not well formed."""
    token = request.args.get("page", "")
    return token if PAGE_TOKEN.fullmatch(token) else ""


def error_page(code: int, text: str = "") -> Response:
    title = _(TITLES.get(code, TITLES[500 if code >= 500 else 400]))
    text = text or _(DEFAULT_TEXT.get(code, GO_BACK))
    response = render("error.html", status=code, title=title, text=text, code=code)
    session.save(response)
    response.headers["Cache-Control"] = "no-store"
    return response


def rpc_error_page(exc: grpc.RpcError) -> Response:
    code: grpc.StatusCode = exc.code()  # type: ignore[attr-defined]
    status = api_errors.http_status(code)
    reason, _meta = error_info(exc)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        session.current().clear()
        response = to_login()
        session.save(response)
        return response
    if status >= 500:
        log.warning("rpc failed", extra={"fields": {"code": code.name, "reason": reason,
                                                    "detail": exc.details()}})  # type: ignore[attr-defined]
        return error_page(503 if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) else 500)
    # A refusal says only what the reason's own text says (not_a_member), else the page's default.
    own = reason in REASONS or status not in (403, 404)
    return error_page(status, reason_message(reason) if own else "")


def handle_web_error(exc: Exception) -> Response:
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return rpc_error_page(exc)
    if isinstance(exc, HTTPException):
        if (exc.code or 500) < 400:
            return exc.get_response()  # type: ignore[return-value]
        return error_page(exc.code or 500)
    log.error("unhandled error", exc_info=exc)
    return error_page(500)


bp.register_error_handler(Exception, handle_web_error)


def is_api_path(path: str) -> bool:
    return path.startswith("/api/") or path in ("/healthz", "/readyz", "/api")


def install_error_pages(app: Flask) -> None:
    """HTML error pages for the web; /api and the health endpoints keep their JSON errors.

    Errors in the blueprint's views go to its own handler. An unknown address or a wrong method
    matches no view, so the app-wide 404 and 405 handlers choose by path."""

    def unmatched(exc: HTTPException) -> Response:
        if is_api_path(request.path):
            return api_errors.http_error_response(exc)
        return error_page(exc.code or 404)

    app.register_error_handler(404, unmatched)
    app.register_error_handler(405, unmatched)
