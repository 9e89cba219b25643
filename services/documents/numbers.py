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
