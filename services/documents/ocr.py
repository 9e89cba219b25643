"""The OCR worker (`python -m services.documents ocr`): scanned PDFs and images to text.

A version waiting for OCR is claimed (state ocr_running, a lease of OCR_LEASE seconds so a
crashed worker's job is taken again), its file copied to a temporary folder, recognised in
Vietnamese, and the text saved. A classification marking found in the recognised text means
the file must not stay: it is deleted from the store, the text dropped and the document
withdrawn (state refused_classified). Failures are retried OCR_ATTEMPTS times, then `failed`.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from services.core.db import Database
from services.core.errors import ServiceError
from services.documents import classification, extract, store
from services.documents.servicer import emit_refresh
from services.documents.storage import BlobStore

log = logging.getLogger("sotay.documents.ocr")
OCR_LEASE = 900.0
OCR_ATTEMPTS = 3


def _claim(db: Database) -> tuple[str, int, str, str] | None:
    now = time.time()
    with db.write() as conn:
        row = conn.execute(
            sa.text(
                "SELECT document_id, version, blob_key, kind, extraction_state FROM document_versions "
                "WHERE extraction_state = :p OR (extraction_state = :r AND ocr_claimed_at < :stale) "
                "ORDER BY created_at LIMIT 1"
            ),
            {"p": store.OCR_PENDING, "r": store.OCR_RUNNING, "stale": now - OCR_LEASE},
        ).first()
        if row is None:
            return None
        claimed = conn.execute(
            sa.text(
                "UPDATE document_versions SET extraction_state = :r, ocr_claimed_at = :t, "
                "ocr_attempts = ocr_attempts + 1 WHERE document_id = :d AND version = :v "
                "AND extraction_state = :was"
            ),
            {
                "r": store.OCR_RUNNING,
                "t": now,
                "d": row.document_id,
                "v": row.version,
                "was": row.extraction_state,
            },
        ).rowcount
    return (row.document_id, row.version, row.blob_key, row.kind) if claimed else None


def _finish(db: Database, doc_id: str, version: int, **values: object) -> None:
    with db.write() as conn:
        sets = ", ".join(f"{k} = :{k}" for k in values)
        conn.execute(
            sa.text(f"UPDATE document_versions SET {sets} WHERE document_id = :d AND version = :v"),
            {**values, "d": doc_id, "v": version},
        )
        doc = store.get(conn, doc_id)
        if values.get("extraction_state") == store.REFUSED and doc.status != store.WITHDRAWN:
            store.update(
                conn,
                doc_id,
                status=store.WITHDRAWN,
                withdrawn_at=time.time(),
                withdrawn_reason="classified marking found by OCR",
            )
            emit_refresh(conn, doc_id)
        elif doc.current_version == version:
            store.update(conn, doc_id)  # the indexed text changes: bump the version
            emit_refresh(conn, doc_id)


def ocr_once(db: Database, blobs: BlobStore) -> bool:
    """Process one waiting version; False when there was none."""
    job = _claim(db)
    if job is None:
        return False
    doc_id, version, key, kind = job
    try:
        with tempfile.TemporaryDirectory(prefix="sotay-ocr-") as tmp:
            path = Path(tmp) / f"input.{kind}"
            blobs.to_path(key, path)
            text = extract.ocr(kind, path)
    except (ServiceError, extract.OcrUnavailable, OSError, TimeoutError) as exc:
        message = getattr(exc, "message", str(exc))[:500]
        with db.read() as conn:
            attempts = conn.execute(
                sa.text("SELECT ocr_attempts FROM document_versions WHERE document_id = :d AND version = :v"),
                {"d": doc_id, "v": version},
            ).scalar_one()
        state = store.FAILED if attempts >= OCR_ATTEMPTS else store.OCR_PENDING
        log.warning("ocr failed for %s v%s (attempt %s): %s", doc_id, version, attempts, message)
        _finish(db, doc_id, version, extraction_state=state, extraction_error=message)
        return True
    level = classification.marking_in_text(text)
    if level:
        _finish(
            db,
            doc_id,
            version,
            extraction_state=store.REFUSED,
            text="",
            extraction_error=f"classified marking ({level}) found; the file was removed",
        )
        blobs.delete(key)
        return True
    _finish(
        db,
        doc_id,
        version,
        extraction_state=store.OCR_DONE,
        text=text,
        text_source="ocr",
        extraction_error="",
    )
    return True


def run_ocr(db: Database, blobs: BlobStore, stop: threading.Event, idle_sleep: float = 2.0) -> None:
    if not extract.ocr_available():
        log.error("tesseract is not installed: install tesseract-ocr and tesseract-ocr-vie")
    while not stop.is_set():
        try:
            if not ocr_once(db, blobs):
                stop.wait(idle_sleep)
        except sa.exc.OperationalError:
            log.warning("ocr: database unavailable, retrying", exc_info=True)
            stop.wait(5.0)
