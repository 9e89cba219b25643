"""The documents service's outbox events (messages in protos/sotay/events/v1/documents_events.proto)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from services.core.outbox import emit
from services.documents import store
from sotay.events.v1.documents_events_pb2 import DocumentPublished, DocumentVersionAdded, IndexRefresh, StudyMarked

# The events the search indexer rebuilds a document's entry on (not a study mark). IndexRefresh is
# internal: the indexer rebuilds on every event about the document, so a change that emits
# another of these needs no refresh as well.
INDEXED = (DocumentPublished, DocumentVersionAdded, IndexRefresh)


def emit_published(conn: Connection, doc: store.Doc) -> None:
    emit(conn, doc.id, DocumentPublished(
        document_id=doc.id,
        title=doc.title,
        number=doc.number,
        doc_type=doc.doc_type,
        category=doc.category,
        audience_unit_ids=list(doc.audience_unit_ids),
        publisher_unit_id=doc.unit_id,
        published_at=doc.published_at or 0.0,
    ))


def emit_version(conn: Connection, doc: store.Doc, version: int) -> None:
    emit(conn, doc.id, DocumentVersionAdded(document_id=doc.id, version=version,
                                            audience_unit_ids=list(doc.audience_unit_ids)))


def emit_studied(conn: Connection, document_id: str, member_id: str, unit_id: str, at: float) -> None:
    emit(conn, document_id, StudyMarked(document_id=document_id, member_id=member_id, unit_id=unit_id, at=at))


def emit_refresh(conn: Connection, doc_id: str) -> None:
    emit(conn, doc_id, IndexRefresh(document_id=doc_id))
