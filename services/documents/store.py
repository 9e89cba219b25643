"""Document rows: insert, read, list what a caller may see, and the state the index needs.

Every change bumps `change_seq`, the document's own counter, which the search index uses as
an external version so that an older state never overwrites a newer one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.db import execute
from services.core.errors import NotFound
from services.core.ids import require_id
from services.core.paging import counted_page
from services.documents.search import IndexedDocument, Visibility

DRAFT, REVIEW, PUBLISHED, WITHDRAWN = "draft", "review", "published", "withdrawn"
STATUSES = (DRAFT, REVIEW, PUBLISHED, WITHDRAWN)
UNPUBLISHED = (DRAFT, REVIEW)  # may still be published

# extraction states
DONE, OCR_PENDING, OCR_RUNNING, OCR_DONE, FAILED, REFUSED = (
    "done",
    "ocr_pending",
    "ocr_running",
    "ocr_done",
    "failed",
    "refused_classified",
)
# The top of the text was checked on upload; the whole text is extracted by the background worker.
TEXT_PENDING, TEXT_RUNNING = "text_pending", "text_running"


@dataclass
class Version:
    document_id: str
    version: int
    blob_key: str
    sha256: str
    size: int
    kind: str
    content_type: str
    filename: str
    note: str
    extraction_state: str
    extraction_error: str
    text_source: str
    text_chars: int
    created_by: str
    created_at: float


@dataclass
class Doc:
    id: str
    title: str
    number: str
    number_key: str
    number_seq: int
    doc_type: str
    issuer_code: str
    category: str
    issued_on: str
    issuing_body: str
    signer: str
    summary: str
    status: str
    unit_id: str
    current_version: int
    change_seq: int
    created_by: str
    created_at: float
    updated_at: float
    published_at: float | None
    audience_unit_ids: tuple[str, ...]
    publisher_chain: tuple[str, ...]
    publish_pending: bool = False  # a draft to publish once its file's text is checked (publication.py)
    pending_version: int = 0  # a newer version of a published document, waiting for its text check
    review_note: str = ""  # why a reviewer returned it to draft

    def visible_to(self, vis: Visibility) -> bool:
        if set(self.publisher_chain) & set(vis.manage_units):
            return True
        return self.status == PUBLISHED and bool(set(self.audience_unit_ids) & set(vis.units))


_VERSION_COLUMNS = (
    "document_id, version, blob_key, sha256, size, kind, content_type, filename, note, extraction_state, "
    "extraction_error, text_source, length(text) AS text_chars, created_by, created_at"
)


def _doc(conn: Connection, row: Any, units: list[Any] | None = None) -> Doc:
    if units is None:
        units = list(
            conn.execute(
                sa.text("SELECT unit_id, rel FROM document_units WHERE document_id = :d ORDER BY unit_id"),
                {"d": row.id},
            ).all()
        )
    data = dict(row._mapping)
    data["issued_on"] = data["issued_on"] or ""
    data.pop("withdrawn_at", None)
    data.pop("withdrawn_reason", None)
    data["publish_pending"] = bool(data.get("publish_pending"))
    data["pending_version"] = int(data.get("pending_version") or 0)
    data["review_note"] = data.get("review_note") or ""
    return Doc(
        **data,
        audience_unit_ids=tuple(u.unit_id for u in units if u.rel == "a"),
        publisher_chain=tuple(u.unit_id for u in units if u.rel == "p"),
    )


def get(conn: Connection, document_id: str, for_update: bool = False) -> Doc:
    doc_id = require_id(document_id, "id", "document")
    row = conn.execute(sa.text("SELECT * FROM documents WHERE id = :id"), {"id": doc_id}).first()
    if row is None:
        raise NotFound("document_not_found", f"document {document_id!r} does not exist")
    return _doc(conn, row)


def get_many(conn: Connection, ids: list[str]) -> list[Doc]:
    """The documents with these ids that exist, in that order (two queries, whatever the count)."""
    if not ids:
        return []
    params: dict[str, Any] = {}
    keys = _in("i", tuple(ids), params)
    rows = {r.id: r for r in conn.execute(sa.text(f"SELECT * FROM documents WHERE id IN ({keys})"), params)}
    units: dict[str, list[Any]] = {}
    for u in conn.execute(
        sa.text(
            f"SELECT document_id, unit_id, rel FROM document_units WHERE document_id IN ({keys}) "
            "ORDER BY document_id, unit_id"
        ),
        params,
    ):
        units.setdefault(u.document_id, []).append(u)
    return [_doc(conn, rows[i], units.get(i, [])) for i in ids if i in rows]


def current_texts(conn: Connection, ids: list[str]) -> dict[str, str]:
    """The text of each document's current version (one query)."""
    if not ids:
        return {}
    params: dict[str, Any] = {}
    keys = _in("i", tuple(ids), params)
    return {
        r.document_id: r.text or ""
        for r in conn.execute(
            sa.text(
                "SELECT v.document_id, v.text FROM document_versions v JOIN documents d "
                f"ON d.id = v.document_id AND v.version = d.current_version WHERE d.id IN ({keys})"
            ),
            params,
        )
    }


def insert(conn: Connection, values: dict[str, Any], audience: list[str], chain: list[str]) -> Doc:
    """Insert a new document; returns it as `get` would (without reading it back)."""
    now = time.time()
    row = {**values, "change_seq": 1, "created_at": now, "updated_at": now}
    columns = ", ".join(row)
    execute(conn, f"INSERT INTO documents ({columns}) VALUES ({', '.join(':' + k for k in row)})", row)
    _insert_units(conn, values["id"], audience, chain)
    data = {k: v for k, v in row.items() if k not in ("withdrawn_at", "withdrawn_reason")}
    data["issued_on"] = data.get("issued_on") or ""
    data["publish_pending"] = bool(data.get("publish_pending"))
    return Doc(
        **data,
        audience_unit_ids=tuple(sorted(set(audience))),
        publisher_chain=tuple(sorted(set(chain))),
    )


def insert_many(conn: Connection, docs: list[tuple[dict[str, Any], list[str], list[str]]]) -> None:
    """Insert many new documents at once (imports, benchmarks): `(values, audience, chain)` each,
    one multi-row statement per table instead of three round trips per document."""
    if not docs:
        return
    now = time.time()
    rows = [{**values, "change_seq": 1, "created_at": now, "updated_at": now} for values, _, _ in docs]
    columns = list(rows[0])
    conn.execute(
        sa.text(f"INSERT INTO documents ({', '.join(columns)}) VALUES ({', '.join(':' + k for k in columns)})"),
        rows,
    )
    units = [
        {"d": values["id"], "u": u, "r": rel}
        for values, audience, chain in docs
        for rel, ids in (("a", audience), ("p", chain))
        for u in dict.fromkeys(ids)
    ]
    conn.execute(sa.text("INSERT INTO document_units (document_id, unit_id, rel) VALUES (:d, :u, :r)"), units)


def insert_versions(conn: Connection, versions: list[dict[str, Any]]) -> None:
    """Insert many version rows in one statement (see insert_many)."""
    if not versions:
        return
    now = time.time()
    rows = [{**v, "ocr_attempts": 0, "ocr_claimed_at": None, "created_at": now} for v in versions]
    columns = list(rows[0])
    conn.execute(
        sa.text(
            f"INSERT INTO document_versions ({', '.join(columns)}) VALUES ({', '.join(':' + k for k in columns)})"
        ),
        rows,
    )


def set_units(conn: Connection, document_id: str, audience: list[str], chain: list[str]) -> None:
    conn.execute(sa.text("DELETE FROM document_units WHERE document_id = :d"), {"d": document_id})
    _insert_units(conn, document_id, audience, chain)


UNITS_PER_INSERT = 500  # well inside SQLite's and PostgreSQL's limits on parameters per statement


def _insert_units(conn: Connection, document_id: str, audience: list[str], chain: list[str]) -> None:
    """Multi-row statements of up to UNITS_PER_INSERT rows (an executemany costs a round trip or a
    pipeline step per row)."""
    units = [(u, "a") for u in dict.fromkeys(audience)] + [(u, "p") for u in dict.fromkeys(chain)]
    for start in range(0, len(units), UNITS_PER_INSERT):
        batch = units[start : start + UNITS_PER_INSERT]
        params: dict[str, Any] = {"d": document_id}
        for i, (unit, rel) in enumerate(batch):
            params[f"u{i}"], params[f"r{i}"] = unit, rel
        values = ", ".join(f"(:d, :u{i}, :r{i})" for i in range(len(batch)))
        execute(conn, f"INSERT INTO document_units (document_id, unit_id, rel) VALUES {values}", params)


def update(conn: Connection, document_id: str, **values: Any) -> None:
    """Change columns, bump the change counter and updated_at."""
    values["updated_at"] = time.time()
    sets = ", ".join(f"{k} = :{k}" for k in values)
    conn.execute(
        sa.text(f"UPDATE documents SET {sets}, change_seq = change_seq + 1 WHERE id = :id"),
        {**values, "id": document_id},
    )


def insert_version(conn: Connection, values: dict[str, Any]) -> Version:
    """Insert a version; returns it as `version` would (without reading it back)."""
    row = {**values, "ocr_attempts": 0, "ocr_claimed_at": None, "created_at": time.time()}
    columns = ", ".join(row)
    execute(conn, f"INSERT INTO document_versions ({columns}) VALUES ({', '.join(':' + k for k in row)})", row)
    fields = {k: row[k] for k in Version.__dataclass_fields__ if k in row}
    return Version(**fields, text_chars=len(row["text"]))


def version(conn: Connection, document_id: str, number: int) -> Version:
    row = conn.execute(
        sa.text(f"SELECT {_VERSION_COLUMNS} FROM document_versions WHERE document_id = :d AND version = :v"),
        {"d": document_id, "v": number},
    ).first()
    if row is None:
        raise NotFound("version_not_found", f"version {number} does not exist")
    return Version(**row._mapping)


def last_version(conn: Connection, document_id: str) -> int:
    """The highest version number stored (current, pending or refused)."""
    return int(
        conn.execute(
            sa.text("SELECT MAX(version) FROM document_versions WHERE document_id = :d"), {"d": document_id}
        ).scalar()
        or 0
    )


def versions(conn: Connection, document_id: str, offset: int, size: int, newest: int) -> list[Version]:
    """Versions up to `newest`, newest first."""
    rows = conn.execute(
        sa.text(
            f"SELECT {_VERSION_COLUMNS} FROM document_versions WHERE document_id = :d AND version <= :top "
            "ORDER BY version DESC LIMIT :n OFFSET :o"
        ),
        {"d": document_id, "n": size, "o": offset, "top": newest},
    ).all()
    return [Version(**r._mapping) for r in rows]


def version_text(conn: Connection, document_id: str, number: int) -> str:
    return str(
        conn.execute(
            sa.text("SELECT text FROM document_versions WHERE document_id = :d AND version = :v"),
            {"d": document_id, "v": number},
        ).scalar()
        or ""
    )


def _in(name: str, values: tuple[str, ...], params: dict[str, Any]) -> str:
    keys = []
    for i, value in enumerate(values):
        params[f"{name}{i}"] = value
        keys.append(f":{name}{i}")
    return ", ".join(keys) or "NULL"


def list_visible(
    conn: Connection, vis: Visibility, filters: dict[str, str], offset: int, size: int
) -> tuple[list[Doc], int]:
    params: dict[str, Any] = {}
    seen = (
        "(d.status = 'published' AND EXISTS (SELECT 1 FROM document_units a WHERE a.document_id = d.id "
        f"AND a.rel = 'a' AND a.unit_id IN ({_in('u', vis.units, params)})))"
    )
    if vis.manage_units:
        seen = (
            f"({seen} OR EXISTS (SELECT 1 FROM document_units p WHERE p.document_id = d.id AND p.rel = 'p' "
            f"AND p.unit_id IN ({_in('m', vis.manage_units, params)})))"
        )
    where = [seen]
    for column in ("category", "doc_type", "unit_id", "status"):
        if filters.get(column):
            where.append(f"d.{column} = :f_{column}")
            params[f"f_{column}"] = filters[column]
    order = "COALESCE(d.published_at, d.created_at) DESC, d.id"
    rows, total = counted_page(conn, "documents d", " AND ".join(where), order, params, offset, size, "d.*")
    return [_doc(conn, r) for r in rows], total


def indexed(conn: Connection, doc: Doc, body: str | None = None) -> IndexedDocument:
    return IndexedDocument(
        id=doc.id,
        version=doc.change_seq,
        title=doc.title,
        number=doc.number,
        number_key=doc.number_key,
        doc_type=doc.doc_type,
        category=doc.category,
        issuing_body=doc.issuing_body,
        issued_on=doc.issued_on,
        published_at=doc.published_at or 0.0,
        unit_id=doc.unit_id,
        publisher_chain=doc.publisher_chain,
        audience_unit_ids=doc.audience_unit_ids,
        summary=doc.summary,
        body=version_text(conn, doc.id, doc.current_version) if body is None else body,
    )


def index_state(conn: Connection, ids: list[str]) -> tuple[list[IndexedDocument], list[tuple[str, int]]]:
    """What the search index must hold for these documents: entries to upsert (published) and
    (id, version) pairs to delete (drafts, withdrawn). Unknown ids are left out. Three queries."""
    docs = get_many(conn, list(dict.fromkeys(ids)))
    published = [d for d in docs if d.status == PUBLISHED]
    texts = current_texts(conn, [d.id for d in published])
    upserts = [indexed(conn, d, texts.get(d.id, "")) for d in published]
    deletes = [(d.id, d.change_seq) for d in docs if d.status != PUBLISHED]
    return upserts, deletes


def all_published(conn: Connection, batch: int = 500) -> Iterator[IndexedDocument]:
    last = ""
    while True:
        ids = list(
            conn.execute(
                sa.text("SELECT id FROM documents WHERE status = 'published' AND id > :last ORDER BY id LIMIT :n"),
                {"last": last, "n": batch},
            ).scalars()
        )
        if not ids:
            return
        upserts, _ = index_state(conn, ids)
        yield from upserts
        last = ids[-1]


def changed_since(conn: Connection, since: float) -> list[str]:
    return list(conn.execute(sa.text("SELECT id FROM documents WHERE updated_at >= :t"), {"t": since}).scalars())
