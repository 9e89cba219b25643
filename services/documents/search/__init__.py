"""Full-text search over published documents: one `SearchIndex` interface, two backends.

- Elasticsearch (ELASTICSEARCH_URL set): a versioned index behind an alias, asciifolding with
  preserve_original (folds đ -> d), exact-accent sub-fields for ranking.
- SQLite FTS5 (embedded default, DOCUMENTS_SEARCH_DB): the same folding done in Python with
  `services.core.text.fold` rules at index and query time, plus an exact-accent table.

Both pass the same contract tests (tests/contract/documents/test_search_contract.py).
Permission filtering happens inside the query (`Visibility`): a hit, the total, the
highlights and the facets only ever come from documents the caller may see.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from services.core.config import data_dir, env
from services.core.text import fold

SORT_RELEVANCE, SORT_NEWEST, SORT_OLDEST = "relevance", "newest", "oldest"
MAX_WINDOW = 10_000  # deepest result reachable by paging


@dataclass(frozen=True)
class IndexedDocument:
    id: str
    version: int  # increases with every change; an older version never replaces a newer one
    title: str
    number: str
    number_key: str
    doc_type: str
    category: str
    issuing_body: str
    issued_on: str  # ISO date or ""
    published_at: float
    unit_id: str  # publishing unit
    publisher_chain: tuple[str, ...]  # publishing unit and its ancestors
    audience_unit_ids: tuple[str, ...]
    summary: str = ""
    body: str = ""


def number_text(doc: IndexedDocument) -> str:
    """Words of the number as typed and as keyed: `05-NQ/TU` -> "05 nq tu 5"."""
    words = re.findall(r"\w+", fold(doc.number)) + re.findall(r"\w+", doc.number_key)
    return " ".join(dict.fromkeys(words))


@dataclass(frozen=True)
class Visibility:
    """Published documents addressed to `units` (the caller's unit and its ancestors), and any
    document published inside the subtrees of `manage_units` (the caller's editor/admin grants)."""

    units: tuple[str, ...]
    manage_units: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchQuery:
    visibility: Visibility
    text: str = ""
    doc_types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    issuing_body: str = ""
    issued_from: str = ""
    issued_to: str = ""
    unit_id: str = ""
    sort: str = SORT_RELEVANCE
    offset: int = 0
    size: int = 20


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    title: str
    number: str
    doc_type: str
    category: str
    issuing_body: str
    issued_on: str
    unit_id: str
    highlights: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: list[Hit]
    facets: dict[str, list[tuple[str, int]]]


class SearchUnavailable(Exception):
    """The search backend does not answer (the indexer retries; a search is UNAVAILABLE)."""


class SearchIndex(Protocol):
    kind: str

    def ensure(self) -> None:
        """Create the index (and alias) when missing."""

    def upsert(self, docs: list[IndexedDocument]) -> None:
        """Add or replace documents; a document older than the one indexed is ignored."""

    def delete(self, items: list[tuple[str, int]]) -> None:
        """Remove (id, version) pairs; a later upsert with a higher version brings one back."""

    def search(self, query: SearchQuery) -> SearchResult: ...

    def refresh(self) -> None:
        """Make every write visible to searches now (tests and reindex)."""

    def reindex(self, docs: Iterable[IndexedDocument], progress: Callable[[int], None] | None = None) -> str:
        """Build a fresh index from `docs` and switch to it atomically; returns its name."""

    def close(self) -> None: ...


def make_search_index() -> SearchIndex:
    url = env("ELASTICSEARCH_URL")
    if url:
        from services.documents.search.es import ElasticIndex

        return ElasticIndex(url, env("ES_INDEX_ALIAS", "sotay-documents"))
    from services.documents.search.fts import FtsIndex

    return FtsIndex(Path(env("DOCUMENTS_SEARCH_DB") or data_dir() / "documents-search.db"))
