"""Rows to protobuf messages and enum names to strings."""

from __future__ import annotations

from services.core.enums import enum_str, str_enum
from services.core.timestamps import timestamp
from services.documents import store
from services.documents.metadata import type_name
from sotay.documents.v1 import documents_pb2 as pb

EXTRACTION = {
    store.DONE: pb.EXTRACTION_STATE_DONE,
    store.OCR_PENDING: pb.EXTRACTION_STATE_OCR_PENDING,
    store.OCR_RUNNING: pb.EXTRACTION_STATE_OCR_RUNNING,
    store.OCR_DONE: pb.EXTRACTION_STATE_OCR_DONE,
    store.FAILED: pb.EXTRACTION_STATE_FAILED,
    store.REFUSED: pb.EXTRACTION_STATE_REFUSED_CLASSIFIED,
}


def status_name(value: int) -> str:
    return enum_str(pb.DocumentStatus, value, "DOCUMENT_STATUS_", "status")


def version_msg(v: store.Version) -> pb.DocumentVersion:
    return pb.DocumentVersion(
        version=v.version,
        filename=v.filename,
        content_type=v.content_type,
        size=v.size,
        sha256=v.sha256,
        extraction_state=EXTRACTION.get(v.extraction_state, pb.EXTRACTION_STATE_UNSPECIFIED),  # type: ignore[arg-type]
        extraction_error=v.extraction_error,
        text_source=v.text_source,
        text_chars=v.text_chars or 0,
        note=v.note,
        created_at=timestamp(v.created_at),
        created_by=v.created_by,
    )


def document_msg(doc: store.Doc, version: store.Version | None = None, studied: bool = False) -> pb.Document:
    msg = pb.Document(
        id=doc.id,
        metadata=pb.DocumentMetadata(
            title=doc.title,
            number=doc.number,
            doc_type=doc.doc_type,
            category=doc.category,
            issued_on=doc.issued_on,
            issuing_body=doc.issuing_body,
            signer=doc.signer,
            summary=doc.summary,
        ),
        number_seq=doc.number_seq,
        issuer_code=doc.issuer_code,
        doc_type_name=type_name(doc.doc_type),
        status=str_enum(pb.DocumentStatus, doc.status, "DOCUMENT_STATUS_"),
        unit_id=doc.unit_id,
        audience_unit_ids=list(doc.audience_unit_ids),
        current_version=doc.current_version,
        pending_version=doc.pending_version,
        review_note=doc.review_note,
        created_at=timestamp(doc.created_at),
        updated_at=timestamp(doc.updated_at),
        created_by=doc.created_by,
        studied=studied,
    )
    if doc.published_at:
        msg.published_at.CopyFrom(timestamp(doc.published_at))
    if version is not None:
        msg.version.CopyFrom(version_msg(version))
    return msg
