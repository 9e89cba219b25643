"""`python -m services.documents report-facts`: the documents' facts for the reports' backfill
(docs/reports.md) — every published document (as `documents.document.published` says it) and
every study mark (as `documents.study.marked`)."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.db import Database
from services.core.facts import emit_batches
from sotay.events.v1.documents_events_pb2 import DocumentFacts, DocumentPublished, StudyFacts, StudyMarked


def _document(conn: Connection, row: Any) -> DocumentPublished:
    return DocumentPublished(document_id=row.id, publisher_unit_id=row.unit_id, category=row.category,
                             doc_type=row.doc_type, published_at=row.published_at)


def _mark(conn: Connection, row: Any) -> StudyMarked:
    return StudyMarked(document_id=row.document_id, member_id=row.member_id, unit_id=row.unit_id, at=row.studied_at)


def run(db: Database, stop: threading.Event) -> None:
    emit_batches(db, DocumentFacts,
                 "SELECT id, unit_id, category, doc_type, published_at FROM documents "
                 "WHERE published_at IS NOT NULL AND id > :after ORDER BY id LIMIT :n", _document, batch=1000)
    with db.read() as conn:
        studied = list(conn.execute(sa.text("SELECT DISTINCT document_id FROM study_marks")).scalars())
    for document_id in studied:  # marks are keyed by (document, member): batches of one document's
        emit_batches(db, StudyFacts,
                     "SELECT member_id AS id, document_id, member_id, unit_id, studied_at FROM study_marks "
                     "WHERE document_id = :d AND member_id > :after ORDER BY member_id LIMIT :n", _mark,
                     {"d": document_id}, batch=2000)
