"""Installable and readable offline: the web app manifest, the service worker (at /sw.js, so
that it controls every page) and the offline page it shows for pages never opened before."""

from __future__ import annotations

import orjson
from flask import Response, render_template, url_for

from gateway.web.base import STATIC_VERSION, bp, render, static_url
from gateway.web.i18n import _

SW_TEMPLATE = "sw.js"


@bp.route("/manifest.webmanifest")
def manifest() -> Response:
    body = {
        "name": _("Party Member's Handbook"),
        "short_name": _("Handbook"),
        "description": _("Documents, bulletins and cell meetings of the Party members."),
        "lang": "vi",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f6f4f1",
        "theme_color": "#a31515",
        "icons": [
            {"src": static_url("icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static_url("icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {"src": static_url("icon.svg"), "sizes": "any", "type": "image/svg+xml", "purpose": "any"},
        ],
    }
    response = Response(orjson.dumps(body), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.route("/sw.js")
def service_worker() -> Response:
    body = render_template(SW_TEMPLATE, version=STATIC_VERSION, offline_url=url_for("web.offline"),
                           css_url=static_url("site.css"), icon_url=static_url("icon-192.png"),
                           app_name=_("Party Member's Handbook"))
    response = Response(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"  # browsers check for a new worker on each visit
    return response


@bp.route("/offline")
def offline() -> Response:
    """Served to the service worker at install; needs no session and shows none."""
    response = render("offline.html")
    response.headers["Cache-Control"] = "no-cache"
    return response
