"""Bulletin bodies: HTML reduced to a small whitelist (nh3, the Ammonia sanitiser), plus a plain
text rendering for e-mail, Web Push and inbox summaries."""

from __future__ import annotations

import html
import re

import nh3

from services.core.errors import InvalidArgument

TAGS = {
    "p",
    "br",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "s",
    "ul",
    "ol",
    "li",
    "h2",
    "h3",
    "h4",
    "blockquote",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "hr",
}
ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
URL_SCHEMES = {"http", "https", "mailto", "tel"}
MAX_HTML = 200_000
_BLOCK_END = re.compile(r"</(p|li|h[2-4]|tr|blockquote)>|<br\s*/?>|<hr\s*/?>", re.IGNORECASE)


def sanitise(raw: str) -> str:
    if len(raw) > MAX_HTML:
        raise InvalidArgument("body_too_long", f"a body has at most {MAX_HTML} characters", field="body_html")
    return nh3.clean(
        raw,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        clean_content_tags={"script", "style"},
        link_rel="noopener noreferrer",
    ).strip()


def to_text(clean_html: str) -> str:
    """Plain text of sanitised HTML: block ends become line breaks, entities decoded."""
    marked = _BLOCK_END.sub(lambda m: m.group(0) + "\n", clean_html)
    text = html.unescape(nh3.clean(marked, tags=set()))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line)
