"""Rows to protobuf messages and enum names to strings."""

from __future__ import annotations

from services.core.errors import InvalidArgument
from services.core.timestamps import timestamp
from services.documents import store
from services.documents.metadata import type_name
from sotay.documents.v1 import documents_pb2 as pb

STATUS = {
    store.DRAFT: pb.DOCUMENT_STATUS_DRAFT,
    store.REVIEW: pb.DOCUMENT_STATUS_REVIEW,
    store.PUBLISHED: pb.DOCUMENT_STATUS_PUBLISHED,
    store.WITHDRAWN: pb.DOCUMENT_STATUS_WITHDRAWN,
}
STATUS_NAME: dict[int, str] = {int(v): k for k, v in STATUS.items()}
EXTRACTION = {
    store.DONE: pb.EXTRACTION_STATE_DONE,
    store.OCR_PENDING: pb.EXTRACTION_STATE_OCR_PENDING,
    store.OCR_RUNNING: pb.EXTRACTION_STATE_OCR_RUNNING,
    store.OCR_DONE: pb.EXTRACTION_STATE_OCR_DONE,
    store.FAILED: pb.EXTRACTION_STATE_FAILED,
    store.REFUSED: pb.EXTRACTION_STATE_REFUSED_CLASSIFIED,
}


def status_name(value: int) -> str:
    if value == pb.DOCUMENT_STATUS_UNSPECIFIED:
        return ""
    if value not in STATUS_NAME:
        raise InvalidArgument("invalid_status", "status is not valid", field="status")
    return STATUS_NAME[value]


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
        status=STATUS[doc.status],  # type: ignore[arg-type]
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
