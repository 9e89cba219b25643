"""Folding with an offset map, and snippets with <mark> built on the original text.

The FTS5 index stores text folded character by character (`fold_chars`), so a match found
there maps back to the same characters of the original, accented text.
"""

from __future__ import annotations

import html
import unicodedata

_D = str.maketrans({"đ": "d", "Đ": "d"})
MARK_START, MARK_END = "\x01", "\x02"


def _fold_char(ch: str) -> str:
    if ch.isspace():
        return " "
    decomposed = unicodedata.normalize("NFD", ch.translate(_D))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def fold_chars(text: str) -> tuple[str, list[int]]:
    """Text folded per character (same tokens as core.text.fold) and, for each folded
    character, the index of the original character it came from."""
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        folded = _fold_char(ch) if not ch.isascii() or ch.isupper() else ch
        out.append(folded)
        origin.extend([i] * len(folded))
    return "".join(out), origin


def fold_text(text: str) -> str:
    return fold_chars(text)[0]


def spans_from_marked(marked: str, origin: list[int]) -> list[tuple[int, int]]:
    """Original-text spans of the regions FTS5 wrapped in MARK_START/MARK_END."""
    spans: list[tuple[int, int]] = []
    pos = 0  # position in the unmarked folded text
    start = -1
    for ch in marked:
        if ch == MARK_START:
            start = pos
        elif ch == MARK_END:
            if 0 <= start < pos <= len(origin):
                spans.append((origin[start], origin[pos - 1] + 1))
            start = -1
        else:
            pos += 1
    return spans


def render(text: str, spans: list[tuple[int, int]]) -> str:
    out: list[str] = []
    last = 0
    for start, end in spans:
        if start < last:
            continue
        out.append(html.escape(text[last:start], quote=False))
        out.append("<mark>" + html.escape(text[start:end], quote=False) + "</mark>")
        last = end
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


def fragments(text: str, spans: list[tuple[int, int]], size: int = 160, count: int = 2) -> list[str]:
    """Up to `count` windows of about `size` characters around the first matches."""
    result: list[str] = []
    covered = -1
    for start, _end in spans:
        if len(result) >= count:
            break
        if start < covered:
            continue
        lo = max(0, start - size // 3)
        while lo > 0 and not text[lo - 1].isspace() and start - lo < size // 2:
            lo -= 1
        hi = min(len(text), lo + size)
        while hi < len(text) and not text[hi].isspace() and hi - lo < size + 20:
            hi += 1
        inside = [(max(s, lo) - lo, min(e, hi) - lo) for s, e in spans if s < hi and e > lo]
        piece = render(text[lo:hi], inside).replace("\n", " ")
        result.append(("…" if lo > 0 else "") + piece + ("…" if hi < len(text) else ""))
        covered = hi
    return result
