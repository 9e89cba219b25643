"""The members' web app: server-rendered pages at `/` beside the JSON API at /api/v1.

    base.py       the blueprint, rendering, sign-in requirement, CSRF, error pages
    session.py    the encrypted session cookie holding identity's tokens
    i18n.py       message catalogues (translations/<lang>/LC_MESSAGES/messages.po)
    auth.py       sign in and out, password, language
    home.py       the member's home page
    guide.py      how to use it, in short steps per role (open without signing in)
    bulletins.py  the inbox and a page per bulletin (with its read receipt)
    documents.py  the library: categories, units, search, reader, download, study mark
    study.py      who has studied a document: a cell's names, a committee's units cell by cell
    meetings.py   the cell's meetings: documents, check-in, opinions, votes, result, minutes, tasks
    manage_meetings.py  the secretary's workspace: a meeting from creation to minutes, the attendance sheet
    feedback.py   feedback and petitions: send, follow, read the answer
    committee.py  the committee's pages: its units, the feedback queue and statistics, compliance
    publish.py    the committee publishes documents (number register, review) and bulletins
    reports.py    the committee's review: figures, SVG charts, XLSX/DOCX, rollout exemptions
    pwa.py        manifest, service worker (offline reading of opened pages, Web Push), offline page
    settings_pages.py  notification settings and this device's Web Push subscription
    staff.py      which staff pages the signed-in account's roles reach (the menu and the pages' guards)
    roster.py     a cell's roster: members, transfers, import with its report, activation-code sheet
    admin.py      administration: units tree (merge of communes), people and roles, audit log

Every page is plain HTML forms and links (no script needed); the services do the work and
enforce who may see what, over the same gRPC clients as the API routes.
"""

from __future__ import annotations

from flask import Flask

from gateway.web import (
    admin,
    auth,
    base,
    bulletins,
    committee,
    documents,
    feedback,
    guide,
    home,
    i18n,
    manage_meetings,
    meetings,
    publish,
    pwa,
    reports,
    roster,
    settings_pages,
    staff,
    study,
)

__all__ = [
    "admin", "auth", "bulletins", "committee", "documents", "feedback", "guide", "home", "install", "manage_meetings",
    "meetings", "publish", "pwa", "reports", "roster", "settings_pages", "staff", "study",
]


def install(app: Flask) -> None:
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.raw_gettext, i18n.raw_ngettext, newstyle=True
    )
    app.register_blueprint(base.bp)
    base.install_error_pages(app)
