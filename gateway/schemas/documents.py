"""Documents: upload forms, search and list queries, study and number checks, and the replies
(documents service)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field

from gateway.schemas.common import Count, Form, IdempotencyKey, PageToken, ProtoEnum, Query, Reply
from sotay.documents.v1 import documents_pb2 as pb

DocumentStatus = Annotated[str, ProtoEnum(pb.DocumentStatus)]
ExtractionState = Annotated[str, ProtoEnum(pb.ExtractionState)]

# ---------- requests ----------


class UploadForm(Form):
    title: str = Field(max_length=500)
    number: str = Field(max_length=60, description="number and symbol, e.g. 28-QC/TU")
    doc_type: str = Field("", max_length=10, description="type symbol (NQ, CT, QC, TB...); from the number if empty")
    category: str = Field(description="van-kien-tu-lieu | hoc-tap-nghi-quyet | thong-bao-noi-bo | chuyen-de | tin-tuc")
    issued_on: str = Field("", description="ISO date")
    audience_unit_id: str = Field(description="the publishing unit (its subtree receives the document)")
    audience_unit_ids: str = Field("", description="comma-separated chosen units inside that subtree")
    issuing_body: str = Field("", max_length=200)
    signer: str = Field("", max_length=120)
    summary: str = Field("", max_length=4000)
    classification: str = Field("", description="a security classification; anything but empty is refused")
    status: Literal["draft", "published"] = "draft"
    idempotency_key: IdempotencyKey = ""  # or the Idempotency-Key header
    sha256: str = Field("", max_length=64)


class VersionForm(Form):
    note: str = Field("", max_length=1000)
    idempotency_key: IdempotencyKey = ""
    sha256: str = Field("", max_length=64)


class SearchQuery(Query):
    q: str = Field("", max_length=500)
    doc_type: str = Field("", description="comma-separated type symbols")
    category: str = Field("", description="comma-separated categories")
    issuing_body: str = ""
    issued_from: str = ""
    issued_to: str = ""
    unit_id: str = ""
    sort: Literal["relevance", "newest", "oldest"] = "relevance"
    page_size: int = Field(20, ge=0, le=100)
    page_token: PageToken = ""


class ListQuery(Query):
    category: str = ""
    doc_type: str = ""
    unit_id: str = ""
    status: Literal["", "draft", "review", "published", "withdrawn"] = ""
    page_size: int = Field(50, ge=0, le=500)
    page_token: PageToken = ""


class VersionQuery(Query):
    version: Count = 0


class WithdrawBody(Form):
    reason: str = Field("", max_length=500)


class ReturnBody(Form):
    note: str = Field(max_length=1000, description="what must change before it is published")


class NumberQuery(Query):
    number: str = Field("", max_length=60, description="a number to check, e.g. 28-QC/TU")
    doc_type: str = Field("", max_length=10, description="type symbol for the next number when no number is given")
    issuer_code: str = Field("", max_length=60, description="issuer for the next number; default: the unit's last")


class StudyQuery(Query):
    unit_id: str
    filter: Literal["", "studied", "not_studied"] = ""
    page_size: int = Field(100, ge=0, le=1000)
    page_token: PageToken = ""


# ---------- responses ----------


class DocumentMetadata(Reply):
    title: str
    number: str = Field(description="number and symbol as cited, e.g. 28-QC/TU")
    doc_type: str = Field(description="type symbol: NQ, CT, QC, TB...")
    category: str
    issued_on: str = Field(description="ISO date, or empty")
    issuing_body: str
    signer: str
    summary: str
    classification: str


class DocumentVersion(Reply):
    version: int
    filename: str
    content_type: str
    size: int = Field(description="bytes")
    sha256: str
    extraction_state: ExtractionState | None
    extraction_error: str
    text_source: str = Field(description="where the text came from: text_layer | docx | odt | plain | ocr")
    text_chars: int
    note: str
    created_at: dt.datetime | None
    created_by: str


class Document(Reply):
    id: str
    title: str = Field(description="metadata.title, repeated for lists")
    number: str = Field(description="metadata.number, repeated for lists")
    doc_type: str = Field(description="metadata.doc_type, repeated for lists")
    metadata: DocumentMetadata | None
    number_seq: int = Field(description="the sequence part of the parsed number")
    issuer_code: str
    doc_type_name: str
    status: DocumentStatus | None
    unit_id: str = Field(description="the publishing unit")
    audience_unit_ids: list[str] = Field(description="narrows the audience; empty: the publishing unit's subtree")
    current_version: int
    version: DocumentVersion | None = Field(description="the current file version")
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    published_at: dt.datetime | None
    created_by: str
    studied: bool = Field(description="the caller marked it studied")
    pending_version: int = Field(description="a newer version waiting for its text check (OCR); 0 when none")
    review_note: str = Field(description="the reviewer's note when it was returned to draft")


class UploadedDocument(Document):
    replayed: bool = Field(description="a retry with the same idempotency key: the upload already recorded")


class DocumentList(Reply):
    items: list[Document]
    total: int = Field(description="all the documents matching, when the service counts them")
    next_page_token: str = Field(description="empty on the last page")


class DocumentVersions(Reply):
    versions: list[DocumentVersion] = Field(description="newest first")
    next_page_token: str


class SearchHit(Reply):
    id: str
    title: str
    number: str
    doc_type: str
    category: str
    issuing_body: str
    issued_on: str
    unit_id: str
    score: float
    highlights: dict[str, list[str]] = Field(description="field -> fragments with the matches marked")


class SearchResults(Reply):
    total: int = Field(description="all the matches")
    items: list[SearchHit]
    facets: dict[str, dict[str, int]] = Field(description="field -> value -> matches, over all the matches")
    next_page_token: str = Field(description="empty on the last page")


class NumberCheck(Reply):
    available: bool = Field(description="the number is well formed and free (false when empty)")
    taken_by_document_id: str = Field(description="the document holding the number, when taken")
    next_number: str = Field(description="the next free number of the same type and issuer")
    number: str = Field(description="the canonical form of the number checked")
    last_seq: int


class Studied(Reply):
    studied_at: dt.datetime | None


class StudyEntry(Reply):
    member_id: str
    full_name: str
    unit_id: str
    studied: bool
    studied_at: dt.datetime | None


class UnitStudySummary(Reply):
    unit_id: str
    members: int
    studied: int


class StudyStatus(Reply):
    entries: list[StudyEntry]
    units: list[UnitStudySummary] = Field(description="per unit of the subtree (per child unit when by_child_unit)")
    total_members: int
    total_studied: int
    next_page_token: str
    by_child_unit: bool = Field(description="over 50,000 members: totals per child unit, no names (open a child)")
