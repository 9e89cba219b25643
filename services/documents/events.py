"""The documents service's outbox events (topics in docs/SERVICE-GUIDE.md)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from services.core.outbox import emit
from services.documents import store

TOPIC_PUBLISHED = "documents.document.published"
TOPIC_VERSION = "documents.document.version_added"
# Outside "documents.document.": the search indexer rebuilds a document on those, not on a study mark.
TOPIC_STUDIED = "documents.study.marked"
# Internal: the document's index entry must be rebuilt. The indexer rebuilds it on every event
# about the document, so a change that emits another event needs no refresh as well.
TOPIC_REFRESH = "documents.index.refresh"


def emit_published(conn: Connection, doc: store.Doc) -> None:
    emit(
        conn,
        TOPIC_PUBLISHED,
        doc.id,
        {
            "document_id": doc.id,
            "title": doc.title,
            "number": doc.number,
            "doc_type": doc.doc_type,
            "category": doc.category,
            "audience_unit_ids": list(doc.audience_unit_ids),
            "publisher_unit_id": doc.unit_id,
            "published_at": doc.published_at,
        },
    )


def emit_version(conn: Connection, doc: store.Doc, version: int) -> None:
    emit(conn, TOPIC_VERSION, doc.id, {"document_id": doc.id, "version": version,
                                       "audience_unit_ids": list(doc.audience_unit_ids)})


def emit_studied(conn: Connection, document_id: str, member_id: str, unit_id: str, at: float) -> None:
    emit(conn, TOPIC_STUDIED, document_id, {"document_id": document_id, "member_id": member_id, "unit_id": unit_id,
                                            "at": at})


def emit_refresh(conn: Connection, doc_id: str) -> None:
    emit(conn, TOPIC_REFRESH, doc_id, {"document_id": doc_id})
