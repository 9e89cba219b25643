"""What a search box entry means: folded terms, exact (accented) terms, a phrase, a number."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from services.core.text import fold
from services.documents.numbers import LooseNumber, find_citation, number_words, parse_loose

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
    """The entry's words; a document number typed alone ("28 qc tu") or cited inside the entry
    ("Nghị quyết số 06-NQ/TU", "NQ 06") becomes the number's own words ("6 nq tu"), which every
    document's number_text holds, so the citation's "nghị quyết số" need not be in the text."""
    raw = unicodedata.normalize("NFC", text.strip())[:500]
    folded = tuple(_WORD.findall(fold(raw)))[:MAX_TERMS]
    exact = tuple(_WORD.findall(raw.lower()))[:MAX_TERMS]
    number = parse_loose(raw) if raw else None
    if number is not None:
        folded = exact = number_words(number)
    elif raw:
        matches = list(_WORD.finditer(raw))[:MAX_TERMS]
        seps = [raw[(matches[i - 1].end() if i else 0):m.start()] for i, m in enumerate(matches)]
        words = [fold(m.group()) for m in matches]
        cited = find_citation(words, seps)
        if cited is not None:
            number = cited.number
            folded = (*words[:cited.start], *number_words(number), *words[cited.end:])
            lower = [m.group().lower() for m in matches]
            exact = (*lower[:cited.start], *number_words(number), *lower[cited.end:])
    return ParsedQuery(raw, folded, exact, number)
