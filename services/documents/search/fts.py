"""SQLite FTS5 search index (the embedded backend), in its own SQLite file.

Tables: `docs` (what a hit shows, the original text for snippets), `doc_units` (audience
and publisher chain, for the permission filter inside the query), `fts` (text folded per
character: diacritics and đ -> d, as core.text.fold) and `fts_exact` (the original words, to
rank exact accents and exact phrases above loose matches).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from services.documents.search import (
    MAX_WINDOW,
    SORT_NEWEST,
    SORT_OLDEST,
    Hit,
    IndexedDocument,
    SearchQuery,
    SearchResult,
    number_text,
)
from services.documents.search.highlight import MARK_END, MARK_START, fold_chars, fold_text, fragments, render
from services.documents.search.highlight import spans_from_marked as _spans
from services.documents.search.query import parse

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS docs (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, "
    "version INTEGER NOT NULL, "
    "title TEXT, number TEXT, number_key TEXT, doc_type TEXT, category TEXT, issuing_body TEXT, "
    "issuing_body_key TEXT, issued_on TEXT, published_at REAL, unit_id TEXT, summary TEXT, body TEXT)",
    "CREATE INDEX IF NOT EXISTS docs_number ON docs (number_key)",
    "CREATE INDEX IF NOT EXISTS docs_issued ON docs (issued_on, published_at)",
    "CREATE TABLE IF NOT EXISTS doc_units (unit_id TEXT NOT NULL, rel TEXT NOT NULL, doc INTEGER NOT NULL, "
    "PRIMARY KEY (unit_id, rel, doc)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS doc_units_doc ON doc_units (doc)",
    "CREATE TABLE IF NOT EXISTS tombstones (id TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(title, summary, body, number_text, issuing_body, "
    "tokenize = 'unicode61 remove_diacritics 0')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS fts_exact USING fts5(title, summary, body, "
    "tokenize = 'unicode61 remove_diacritics 0')",
)


def _inode(path: Path) -> int:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return -1


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


class FtsIndex:
    kind = "fts5"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "inode", None) != _inode(self.path):
            conn.close()  # a reindex swapped the file in: reopen
            conn = None
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            self._local.inode = _inode(self.path)
        return conn

    def ensure(self) -> None:
        conn = self._conn()
        for statement in SCHEMA:
            conn.execute(statement)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def refresh(self) -> None:
        """Writes are visible when committed."""

    # ------------------------------------------------------------ writes

    def upsert(self, docs: list[IndexedDocument]) -> None:
        if not docs:
            return
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for doc in docs:
                    self._upsert_one(conn, doc)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _current(self, conn: sqlite3.Connection, doc_id: str) -> tuple[int | None, int]:
        row = conn.execute("SELECT rowid, version FROM docs WHERE id = ?", (doc_id,)).fetchone()
        dead = conn.execute("SELECT version FROM tombstones WHERE id = ?", (doc_id,)).fetchone()
        version = max(row[1] if row else -1, dead[0] if dead else -1)
        return (row[0] if row else None), version

    def _remove(self, conn: sqlite3.Connection, rowid: int) -> None:
        conn.execute("DELETE FROM docs WHERE rowid = ?", (rowid,))
        conn.execute("DELETE FROM doc_units WHERE doc = ?", (rowid,))
        conn.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
        conn.execute("DELETE FROM fts_exact WHERE rowid = ?", (rowid,))

    def _upsert_one(self, conn: sqlite3.Connection, doc: IndexedDocument) -> None:
        rowid, version = self._current(conn, doc.id)
        if doc.version < version:
            return  # a newer state is already indexed
        if rowid is not None:
            self._remove(conn, rowid)
        conn.execute("DELETE FROM tombstones WHERE id = ?", (doc.id,))
        cur = conn.execute(
            "INSERT INTO docs (id, version, title, number, number_key, doc_type, category, issuing_body, "
            "issuing_body_key, issued_on, published_at, unit_id, summary, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                doc.id,
                doc.version,
                doc.title,
                doc.number,
                doc.number_key,
                doc.doc_type,
                doc.category,
                doc.issuing_body,
                " ".join(fold_text(doc.issuing_body).split()),
                doc.issued_on,
                doc.published_at,
                doc.unit_id,
                doc.summary,
                doc.body,
            ),
        )
        new_row = cur.lastrowid
        units = {(u, "a") for u in doc.audience_unit_ids} | {(u, "p") for u in doc.publisher_chain}
        conn.executemany(
            "INSERT INTO doc_units (unit_id, rel, doc) VALUES (?, ?, ?)",
            [(u, rel, new_row) for u, rel in units],
        )
        words = number_text(doc)
        conn.execute(
            "INSERT INTO fts (rowid, title, summary, body, number_text, issuing_body) VALUES (?, ?, ?, ?, ?, ?)",
            (
                new_row,
                fold_text(doc.title),
                fold_text(doc.summary),
                fold_text(doc.body),
                words,
                fold_text(doc.issuing_body),
            ),
        )
        conn.execute(
            "INSERT INTO fts_exact (rowid, title, summary, body) VALUES (?, ?, ?, ?)",
            (new_row, doc.title, doc.summary, doc.body),
        )

    def delete(self, items: list[tuple[str, int]]) -> None:
        if not items:
            return
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for doc_id, version in items:
                    rowid, current = self._current(conn, doc_id)
                    if version < current:
                        continue
                    if rowid is not None:
                        self._remove(conn, rowid)
                    conn.execute("INSERT OR REPLACE INTO tombstones (id, version) VALUES (?, ?)", (doc_id, version))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def reindex(self, docs: Iterable[IndexedDocument], progress: Callable[[int], None] | None = None) -> str:
        """Build a new index file, then swap it in with an atomic rename."""
        staging = self.path.with_name(f"{self.path.name}.reindex-{int(time.time())}")
        fresh = FtsIndex(staging)
        fresh.ensure()
        batch: list[IndexedDocument] = []
        done = 0
        for doc in docs:
            batch.append(doc)
            if len(batch) >= 500:
                fresh.upsert(batch)
                done += len(batch)
                batch = []
                if progress:
                    progress(done)
        fresh.upsert(batch)
        done += len(batch)
        if progress:
            progress(done)
        fresh._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        fresh.close()
        with self._write_lock:
            self.close()
            staging.replace(self.path)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        return str(self.path)

    # ------------------------------------------------------------ reads

    def _where(self, q: SearchQuery, params: list[Any]) -> str:
        vis = q.visibility
        clauses = []
        if vis.units:
            clauses.append(
                "EXISTS (SELECT 1 FROM doc_units u WHERE u.doc = d.rowid AND u.rel = 'a' AND u.unit_id IN "
                f"({','.join('?' * len(vis.units))}))"
            )
            params.extend(vis.units)
        if vis.manage_units:
            clauses.append(
                "EXISTS (SELECT 1 FROM doc_units u WHERE u.doc = d.rowid AND u.rel = 'p' AND u.unit_id IN "
                f"({','.join('?' * len(vis.manage_units))}))"
            )
            params.extend(vis.manage_units)
        where = [f"({' OR '.join(clauses)})" if clauses else "0"]
        if q.doc_types:
            where.append(f"d.doc_type IN ({','.join('?' * len(q.doc_types))})")
            params.extend(q.doc_types)
        if q.categories:
            where.append(f"d.category IN ({','.join('?' * len(q.categories))})")
            params.extend(q.categories)
        if q.issuing_body:
            where.append("d.issuing_body_key = ?")
            params.append(" ".join(fold_text(q.issuing_body).split()))
        if q.issued_from:
            where.append("d.issued_on >= ?")
            params.append(q.issued_from)
        if q.issued_to:
            where.append("d.issued_on <= ?")
            params.append(q.issued_to)
        if q.unit_id:
            where.append("d.unit_id = ?")
            params.append(q.unit_id)
        return " AND ".join(where)

    def search(self, q: SearchQuery) -> SearchResult:
        parsed = parse(q.text)
        conn = self._conn()
        params: list[Any] = []
        select_params: list[Any] = []
        if parsed.empty:
            source = "docs d"
            score = "0.0"
        else:
            match = " ".join(_quote(t) for t in parsed.folded_terms)
            source = "fts JOIN docs d ON d.rowid = fts.rowid"
            params.append(match)
            phrase = _quote(" ".join(parsed.folded_terms))
            exact = " ".join(_quote(t) for t in parsed.exact_terms)
            exact_phrase = _quote(" ".join(parsed.exact_terms))
            number_key, number_prefix = "", ""
            if parsed.number is not None:
                number_key, number_prefix = parsed.number.key, parsed.number.prefix
            score = (
                "(-bm25(fts, 6.0, 2.0, 1.0, 8.0, 1.0)"
                " + 3.0 * (d.rowid IN (SELECT rowid FROM fts_exact WHERE fts_exact MATCH ?))"
                " + 4.0 * (d.rowid IN (SELECT rowid FROM fts WHERE fts MATCH ?))"
                " + 6.0 * (d.rowid IN (SELECT rowid FROM fts_exact WHERE fts_exact MATCH ?))"
                " + 100.0 * (d.number_key = ?) + 50.0 * (? <> '' AND substr(d.number_key, 1, length(?)) = ?))"
            )
            select_params = [
                exact,
                phrase,
                exact_phrase,
                number_key,
                number_prefix,
                number_prefix,
                number_prefix,
            ]
        where_params: list[Any] = []
        where = self._where(q, where_params)
        text_match = "fts MATCH ? AND " if not parsed.empty else ""
        base = f"FROM {source} WHERE {text_match}{where}"
        total = conn.execute(f"SELECT count(*) {base}", [*params, *where_params]).fetchone()[0]
        facets: dict[str, list[tuple[str, int]]] = {}
        for fld in ("doc_type", "category"):
            rows = conn.execute(
                f"SELECT d.{fld}, count(*) AS n {base} GROUP BY d.{fld} ORDER BY n DESC, d.{fld}",
                [*params, *where_params],
            ).fetchall()
            facets[fld] = [(r[0], int(r[1])) for r in rows if r[0]]
        if q.sort == SORT_NEWEST or parsed.empty:
            order = "d.issued_on DESC, d.published_at DESC, d.id"
        elif q.sort == SORT_OLDEST:
            order = "d.issued_on ASC, d.published_at ASC, d.id"
        else:
            order = "score DESC, d.issued_on DESC, d.id"
        if q.sort == SORT_OLDEST and parsed.empty:
            order = "d.issued_on ASC, d.published_at ASC, d.id"
        size = max(0, min(q.size, MAX_WINDOW - q.offset))
        rows = conn.execute(
            f"SELECT d.rowid, d.id, d.title, d.number, d.doc_type, d.category, d.issuing_body, d.issued_on, "
            f"d.unit_id, d.summary, d.body, {score} AS score {base} ORDER BY {order} LIMIT ? OFFSET ?",
            [*select_params, *params, *where_params, size, q.offset],
        ).fetchall()
        hits = [self._hit(conn, r, parsed.empty, params) for r in rows]
        return SearchResult(total=int(total), hits=hits, facets=facets)

    def _hit(self, conn: sqlite3.Connection, row: Any, empty: bool, params: list[Any]) -> Hit:
        highlights: dict[str, list[str]] = {}
        if not empty:
            marked = conn.execute(
                "SELECT highlight(fts, 0, ?, ?), highlight(fts, 1, ?, ?), highlight(fts, 2, ?, ?) "
                "FROM fts WHERE fts MATCH ? AND rowid = ?",
                (MARK_START, MARK_END) * 3 + (params[0], row[0]),
            ).fetchone()
            if marked is not None:
                for name, original, text in (
                    ("title", row[2], marked[0]),
                    ("summary", row[9], marked[1]),
                    ("body", row[10], marked[2]),
                ):
                    if not text or MARK_START not in text:
                        continue
                    spans = _spans(text, fold_chars(original or "")[1])
                    if name == "title":
                        highlights[name] = [render(original, spans)]
                    else:
                        highlights[name] = fragments(original, spans)
        return Hit(
            id=row[1],
            score=float(row[11]),
            title=row[2],
            number=row[3] or "",
            doc_type=row[4] or "",
            category=row[5] or "",
            issuing_body=row[6] or "",
            issued_on=row[7] or "",
            unit_id=row[8] or "",
            highlights=highlights,
        )
