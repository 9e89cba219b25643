"""Validation of document metadata (Party conventions) into column values."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

from services.core.errors import InvalidArgument
from services.documents import classification
from services.documents.numbers import DOC_TYPES, parse_number, require_type

CATEGORIES = ("van-kien-tu-lieu", "hoc-tap-nghi-quyet", "thong-bao-noi-bo", "chuyen-de", "tin-tuc")
LIMITS = {"title": 500, "issuing_body": 200, "signer": 120, "summary": 4000}


def _clean(value: str, field: str) -> str:
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if len(text) > LIMITS[field]:
        raise InvalidArgument("field_too_long", f"{field} has at most {LIMITS[field]} characters", field=field)
    return text


def validate(meta: Any) -> dict[str, Any]:
    """Columns for `meta` (a DocumentMetadata message); INVALID_ARGUMENT with a reason otherwise."""
    title = _clean(meta.title, "title")
    if not title:
        raise InvalidArgument("title_required", "title is required", field="title")
    summary = unicodedata.normalize("NFC", meta.summary).strip()
    if len(summary) > LIMITS["summary"]:
        raise InvalidArgument("field_too_long", f"summary has at most {LIMITS['summary']} characters", field="summary")
    issuing_body = _clean(meta.issuing_body, "issuing_body")
    signer = _clean(meta.signer, "signer")
    level = classification.marking_in_metadata(meta.classification, title, meta.number, summary)
    if level:
        raise classification.refuse(level, "metadata")
    if not meta.number.strip():
        raise InvalidArgument("number_required", "number is required (e.g. 28-QC/TU)", field="number")
    number = parse_number(meta.number)
    doc_type = number.doc_type
    if meta.doc_type.strip():
        declared = require_type(meta.doc_type)
        if declared != doc_type:
            raise InvalidArgument(
                "doc_type_mismatch",
                f"doc_type {declared} does not match the number's type {doc_type}",
                field="doc_type",
            )
    if meta.category not in CATEGORIES:
        raise InvalidArgument("invalid_category", f"category must be one of {', '.join(CATEGORIES)}", field="category")
    issued_on = ""
    if meta.issued_on:
        try:
            day = dt.date.fromisoformat(meta.issued_on)
        except ValueError as exc:
            raise InvalidArgument(
                "invalid_date", "issued_on must be an ISO date (YYYY-MM-DD)", field="issued_on"
            ) from exc
        if day > dt.date.today() + dt.timedelta(days=1) or day.year < 1930:
            raise InvalidArgument("invalid_date", "issued_on is out of range", field="issued_on")
        issued_on = day.isoformat()
    return {
        "title": title,
        "number": number.text,
        "number_key": number.key,
        "number_seq": number.seq,
        "doc_type": doc_type,
        "issuer_code": number.issuer,
        "category": meta.category,
        "issued_on": issued_on,
        "issuing_body": issuing_body,
        "signer": signer,
        "summary": summary,
    }


def type_name(symbol: str) -> str:
    return DOC_TYPES.get(symbol, "")
