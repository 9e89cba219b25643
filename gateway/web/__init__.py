"""The members' web app: server-rendered pages at `/` beside the JSON API at /api/v1.

    base.py       the blueprint, rendering, sign-in requirement, CSRF, error pages
    session.py    the encrypted session cookie holding identity's tokens
    i18n.py       message catalogues (translations/<lang>/LC_MESSAGES/messages.po)
    auth.py       sign in and out, password, language
    home.py       the member's home page
    bulletins.py  the inbox and a page per bulletin (with its read receipt)
    documents.py  the library: categories, units, search, reader, download, study mark
    meetings.py   the cell's meetings: documents, check-in, opinions, votes, result, minutes, tasks
    feedback.py   feedback and petitions: send, follow, read the answer
    reports.py    the committee's review: figures, SVG charts, XLSX/DOCX, rollout exemptions
    pwa.py        manifest, service worker (offline reading of opened pages, Web Push), offline page
    settings_pages.py  notification settings and this device's Web Push subscription

Every page is plain HTML forms and links (no script needed); the services do the work and
enforce who may see what, over the same gRPC clients as the API routes.
"""

from __future__ import annotations

from flask import Flask

from gateway.web import auth, base, bulletins, documents, feedback, home, i18n, meetings, pwa, reports, settings_pages

__all__ = ["auth", "bulletins", "documents", "feedback", "home", "install", "meetings", "pwa", "reports",
           "settings_pages"]


def install(app: Flask) -> None:
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.raw_gettext, i18n.raw_ngettext, newstyle=True
    )
    app.register_blueprint(base.bp)
    base.install_error_pages(app)
