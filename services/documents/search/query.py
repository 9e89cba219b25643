"""What a search box entry means: folded terms, exact (accented) terms, a phrase, a number."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from services.core.text import fold
from services.documents.numbers import LooseNumber, parse_loose

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 32


@dataclass(frozen=True)
class ParsedQuery:
    raw: str
    folded_terms: tuple[str, ...]
    exact_terms: tuple[str, ...]
    number: LooseNumber | None

    @property
    def empty(self) -> bool:
        return not self.folded_terms

    @property
    def has_accents(self) -> bool:
        return self.folded_terms != self.exact_terms


def parse(text: str) -> ParsedQuery:
    raw = unicodedata.normalize("NFC", text.strip())[:500]
    folded = tuple(_WORD.findall(fold(raw)))[:MAX_TERMS]
    exact = tuple(_WORD.findall(raw.lower()))[:MAX_TERMS]
    return ParsedQuery(raw, folded, exact, parse_loose(raw) if raw else None)
