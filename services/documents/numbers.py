"""Party document numbers and symbols (`số, ký hiệu`), after HD 36-HD/VPTW.

A number reads `N-TYPE/ISSUER`: `28-QC/TU` is Quy chế no. 28 of a Tỉnh ủy, `3055-CV/HU` a Công
văn of a Huyện ủy, `123-QĐ/ĐU` a Quyết định of an Đảng ủy. The issuer may have several parts
(`25-HD/BTCTU`, `12-NQ/ĐU-CB`). Keys for matching are folded (`QĐ` -> `qd`) so a number typed
without accents or with spaces (`28 qc tu`, `123-qd/du`) finds the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.core.errors import InvalidArgument
from services.core.text import fold

# Type symbol -> name (HD 36-HD/VPTW, appendix on abbreviations of document types).
DOC_TYPES: dict[str, str] = {
    "NQ": "Nghị quyết",
    "QĐ": "Quyết định",
    "CT": "Chỉ thị",
    "KL": "Kết luận",
    "QC": "Quy chế",
    "QĐi": "Quy định",
    "HD": "Hướng dẫn",
    "TB": "Thông báo",
    "TT": "Thông tri",
    "BC": "Báo cáo",
    "KH": "Kế hoạch",
    "CTr": "Chương trình",
    "ĐA": "Đề án",
    "TTr": "Tờ trình",
    "CV": "Công văn",
    "BB": "Biên bản",
}
_BY_FOLDED = {fold(k): k for k in DOC_TYPES}
_BY_UPPER = {k.upper(): k for k in DOC_TYPES}
_SYMBOL = r"[A-Za-zĐđ]{1,5}"
_ISSUER = r"[A-Za-zĐđ0-9]{1,12}(?:-[A-Za-zĐđ0-9]{1,12}){0,3}"
_NUMBER = re.compile(rf"^(\d{{1,6}})\s*-\s*({_SYMBOL})\s*/\s*({_ISSUER})$")
# Loose form in a search box, already folded: "28 qc tu", "28-qc", "28/qc/tu", "28-qc/tu".
_LOOSE = re.compile(r"^(\d{1,6})(?:[\s\-/.]+([a-z]{1,5})(?:[\s\-/.]+([a-z0-9]{1,12}(?:[\s\-][a-z0-9]{1,12}){0,3}))?)?$")


@dataclass(frozen=True)
class DocNumber:
    seq: int
    doc_type: str  # canonical symbol, e.g. "QĐ"
    issuer: str  # upper case, e.g. "ĐU"
    text: str  # canonical display, e.g. "123-QĐ/ĐU"

    @property
    def key(self) -> str:
        return number_key(self.seq, self.doc_type, self.issuer)


def number_key(seq: int, doc_type: str, issuer: str) -> str:
    """Folded, comparable form: `123-qd/du`."""
    return f"{seq}-{fold(doc_type)}/{fold(issuer).replace(' ', '-')}"


def canonical_type(symbol: str) -> str:
    """The canonical type symbol for `symbol` typed in any case, with or without accents ("" if unknown)."""
    raw = symbol.strip()
    if raw in DOC_TYPES:
        return raw
    if raw.upper() in _BY_UPPER:
        return _BY_UPPER[raw.upper()]
    return _BY_FOLDED.get(fold(raw), "")


def require_type(symbol: str, field: str = "doc_type") -> str:
    found = canonical_type(symbol)
    if not found:
        raise InvalidArgument(
            "unknown_doc_type",
            f"unknown document type {symbol[:20]!r}; one of {', '.join(DOC_TYPES)}",
            field=field,
        )
    return found


def parse_number(raw: str) -> DocNumber:
    """Parse and validate `N-TYPE/ISSUER` (INVALID_ARGUMENT with reason invalid_number otherwise)."""
    text = " ".join(raw.split())
    match = _NUMBER.match(text)
    if not match:
        raise InvalidArgument(
            "invalid_number",
            f"number {raw[:40]!r} is not in the form N-TYPE/ISSUER (e.g. 28-QC/TU, 123-QĐ/ĐU)",
            field="number",
        )
    seq = int(match.group(1))
    if seq <= 0:
        raise InvalidArgument("invalid_number", "the number must be positive", field="number")
    doc_type = require_type(match.group(2), field="number")
    issuer = match.group(3).upper().replace("đ", "Đ")
    return DocNumber(seq, doc_type, issuer, f"{match.group(1)}-{doc_type}/{issuer}")


@dataclass(frozen=True)
class LooseNumber:
    """A search box entry read as a number: the full key, or a key prefix when parts are missing."""

    seq: int
    doc_type: str  # folded type symbol, "" when not typed
    issuer: str  # folded issuer, "" when not typed

    @property
    def key(self) -> str:
        return f"{self.seq}-{self.doc_type}/{self.issuer}"

    @property
    def complete(self) -> bool:
        return bool(self.doc_type and self.issuer)

    @property
    def prefix(self) -> str:
        """Key prefix for partial numbers (`28-qc/`)."""
        if self.complete:
            return self.key
        return f"{self.seq}-{self.doc_type}/" if self.doc_type else f"{self.seq}-"


# Folded type names as citations spell them ("nghi quyet" -> "nq"), for "Nghị quyết số 06".
TYPE_NAMES: dict[str, str] = {fold(name): fold(symbol) for symbol, name in DOC_TYPES.items()}
_SEQ = re.compile(r"\d{1,6}")
_GLUED = re.compile(r"([a-z]{1,5})(\d{1,6})")  # "nq06"


@dataclass(frozen=True)
class Citation:
    """A document number cited inside a search box entry: words [start, end) of the entry."""

    number: LooseNumber
    start: int
    end: int



def number_words(number: LooseNumber) -> tuple[str, ...]:
    """The number's words as every document's number_text keeps them: `06-NQ/TU` -> ("6", "nq", "tu")."""
    return tuple(w for w in (str(number.seq), number.doc_type, *number.issuer.split("-")) if w)


def find_citation(words: list[str], seps: list[str]) -> Citation | None:
    """The first document number cited among folded `words` (seps[i]: what stood before word i),
    the way Vietnamese texts cite them: "nghị quyết số 06-NQ/TU", "06/NQ-TU", "NQ 06", "NQ-06/TU",
    "NQ06", "quy chế số 28". An issuer is taken only after a "/" or "-" ("06 NQ về ..." has none);
    a type name and "số" before the number belong to the citation."""
    for i, word in enumerate(words):
        seq, symbol, end = "", "", i
        glued = _GLUED.fullmatch(word)
        if _SEQ.fullmatch(word):
            seq, end = word, i + 1
            if end < len(words) and words[end] in _BY_FOLDED and not any(c.isalnum() for c in seps[end]):
                symbol, end = words[end], end + 1
        elif glued and glued.group(1) in _BY_FOLDED:
            symbol, seq, end = glued.group(1), glued.group(2), i + 1
        elif word in _BY_FOLDED and i + 1 < len(words) and _SEQ.fullmatch(words[i + 1]):
            symbol, seq, end = word, words[i + 1], i + 2
        if not seq:
            continue
        start = i
        if start > 0 and words[start - 1] == "so":
            start -= 1
        named = ""
        for size in (2, 1):
            name = " ".join(words[max(0, start - size):start])
            if start - size >= 0 and name in TYPE_NAMES:
                named, start = TYPE_NAMES[name], start - size
                break
        symbol = symbol or named
        if not symbol:
            continue
        issuer: list[str] = []
        while end < len(words) and "/" in seps[end] if not issuer else end < len(words) and seps[end].strip() == "-":
            issuer.append(words[end])
            end += 1
        if int(seq) <= 0:
            continue
        return Citation(LooseNumber(int(seq), symbol, "-".join(issuer)), start, end)
    return None


def parse_loose(query: str) -> LooseNumber | None:
    """`28-QC/TU`, `28 qc tu`, `28-qc` -> a number to look for; None when the query is not a number."""
    folded = fold(query)
    match = _LOOSE.match(folded)
    if not match or not match.group(2):
        return None
    symbol = match.group(2)
    if symbol not in _BY_FOLDED:
        return None
    issuer = (match.group(3) or "").replace(" ", "-")
    return LooseNumber(int(match.group(1)), symbol, issuer)
