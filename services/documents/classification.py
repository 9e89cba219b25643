"""Security classification (mật, tối mật, tuyệt mật): such documents never enter the platform.

Detected in two places: the metadata (an explicit classification, or the marking written in
capitals in the title, number or summary) and the top of the extracted text, where a stamp
reads `MẬT`, `TỐI MẬT`, `TUYỆT MẬT` or `ĐỘ MẬT: …`. Ordinary words such as "bí mật",
"mật khẩu" or "mật thiết" in running text are not markings.
"""

from __future__ import annotations

import re
import unicodedata

from services.core.errors import InvalidArgument
from services.core.text import fold

LEVELS = ("tuyệt mật", "tối mật", "mật")
_HEAD_LINES = 15
HEAD_CHARS = 1500  # the marking is looked for in this much of the top of the text, no further
# A stamp line (folded): "mat", "toi mat", "tuyet mat", "do mat: toi mat", with stray punctuation.
_STAMP = re.compile(r"^(?:do mat\s*:?\s*)?(tuyet mat|toi mat|mat)$")
# In metadata the marking is written in capitals as a word of its own.
_CAPS = re.compile(r"(?<![\wÀ-ỹ])(TUYỆT MẬT|TỐI MẬT|MẬT)(?![\wÀ-ỹ])")
_NOT_CLASSIFIED = {"", "thuong", "khong", "khong mat", "none", "unclassified", "public", "cong khai"}


def _plain(line: str) -> str:
    kept = "".join(ch if ch.isalnum() or ch in " :" else " " for ch in line)
    return " ".join(fold(kept).split())


def marking_in_text(text: str) -> str:
    """The classification stamp at the top of a document's text, or ""."""
    head = unicodedata.normalize("NFC", text[:HEAD_CHARS])
    lines = [ln.strip() for ln in head.splitlines() if ln.strip()][:_HEAD_LINES]
    for line in lines:
        letters = [ch for ch in line if ch.isalpha()]
        if not letters or not all(ch.isupper() for ch in letters):
            continue  # stamps are in capitals
        found = _STAMP.match(_plain(line)) or _STAMP.match(_plain(line.split(":", 1)[-1]))
        if found:
            return found.group(1)
        level = _edge_stamp([w.strip(".,;:()[]*-") for w in line.split()])
        if level:
            return level
    return ""


def _edge_stamp(words: list[str]) -> str:
    """A stamp sharing an all-caps line with the header: first or last words, not "BÍ MẬT"."""
    words = [w for w in words if w]
    if not words:
        return ""
    for pair, level in ((["TUYỆT", "MẬT"], "tuyet mat"), (["TỐI", "MẬT"], "toi mat")):
        if words[:2] == pair or words[-2:] == pair:
            return level
    if words[0] == "MẬT" or (words[-1] == "MẬT" and (len(words) < 2 or words[-2] != "BÍ")):
        return "mat"
    return ""


def marking_in_metadata(classification: str, *fields: str) -> str:
    declared = fold(classification)
    if declared not in _NOT_CLASSIFIED:
        return declared
    for value in fields:
        found = _CAPS.search(unicodedata.normalize("NFC", value))
        if found:
            return fold(found.group(1))
    return ""


def refuse(level: str, where: str) -> InvalidArgument:
    return InvalidArgument(
        "classified_document",
        f"classified documents ({level}) must not be stored on this platform (found in the {where})",
        level=level,
        where=where,
    )
