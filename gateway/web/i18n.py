"""The web pages' message catalogues (Babel, gettext): Vietnamese by default, English beside it.

Source strings are English msgids; `translations/<lang>/LC_MESSAGES/messages.po` hold the texts.
scripts/setup (and the image build) compile them to .mo; a missing or stale .mo is compiled from
its .po in memory at start, so an install that skipped the step still speaks Vietnamese.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from flask import g, request

log = logging.getLogger("sotay.gateway.web")

TRANSLATIONS = Path(__file__).with_name("translations")
DEFAULT_LOCALE = "vi"
LOCALES = {"vi": "Tiếng Việt", "en": "English"}
LOCALE_COOKIE = "sotay_lang"

_catalogues: dict[str, Translations] = {}


def load(locale: str) -> Translations:
    folder = TRANSLATIONS / locale / "LC_MESSAGES"
    po, mo = folder / "messages.po", folder / "messages.mo"
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as f:
            return Translations(f, domain="messages")
    log.warning("compiling the %s catalogue in memory (run scripts/setup to compile it once)", locale)
    with po.open("rb") as f:
        catalog = read_po(f, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain="messages")


def catalogue(locale: str) -> Translations:
    found = _catalogues.get(locale)
    if found is None:
        found = _catalogues[locale] = load(locale)
    return found


def current_locale() -> str:
    """The locale chosen by the cookie of the language links, else Vietnamese."""
    locale = g.get("locale")
    if locale is None:
        chosen = request.cookies.get(LOCALE_COOKIE, "")
        locale = g.locale = chosen if chosen in LOCALES else DEFAULT_LOCALE
    return str(locale)


def gettext(message: str, **values: object) -> str:
    text = catalogue(current_locale()).ugettext(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, n: int, **values: object) -> str:
    text = catalogue(current_locale()).ungettext(singular, plural, n)
    return text % {"num": n, **values}


_ = gettext


def N_(message: str) -> str:
    """Marks a msgid for extraction where it is defined; `_()` translates it where it is shown."""
    return message


def raw_gettext(message: str) -> str:
    """For Jinja's new-style gettext, which does the %-formatting itself."""
    return catalogue(current_locale()).ugettext(message)


def raw_ngettext(singular: str, plural: str, n: int) -> str:
    return catalogue(current_locale()).ungettext(singular, plural, n)
