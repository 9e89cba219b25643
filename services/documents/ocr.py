"""The text worker (`python -m services.documents ocr`): every text not extracted on the request path.

Two loops in one process (so whatever runs the OCR worker runs both):

- Whole texts of big text-layer files (state text_pending). The upload already checked the top
  of the text for a classification stamp and stored the file; here the whole text is extracted
  for search and the text view. A version is claimed (text_running, a lease of TEXT_LEASE
  seconds), its file read back from the store, extracted and saved; a file that turns out to be
  damaged further in is `failed`, one without a usable text layer goes on to OCR.
- OCR of scans (ocr_pending): claimed (ocr_running, a lease of OCR_LEASE seconds so a crashed
  worker's job is taken again), copied to a temporary folder and recognised in Vietnamese.

Either way, a classification marking found in the text means the file must not stay: it is
deleted from the store, the text dropped and the document withdrawn (refused_classified) - or,
for a new version still pending on a published document, that version alone refused. A clean
result publishes a document whose publication was held for it, or makes a pending version
current (publication.py). Failures are retried (OCR_ATTEMPTS, TEXT_ATTEMPTS times), then `failed`.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from services.core.db import Database
from services.core.errors import InvalidArgument, ServiceError
from services.core.liveness import LOOPS
from services.documents import classification, extract, files, publication, store
from services.documents.events import emit_refresh
from services.documents.storage import BlobStore

log = logging.getLogger("sotay.documents.ocr")
OCR_LEASE = 900.0
OCR_ATTEMPTS = 3
TEXT_LEASE = 300.0
TEXT_ATTEMPTS = 3


def _claim(
    db: Database, pending: str, running: str, lease: float, attempts: int
) -> tuple[str, int, str, str] | None:
    """Take the oldest waiting version, or one whose worker's lease ran out (it crashed);
    one that crashed a worker `attempts` times is `failed` instead."""
    now = time.time()
    with db.write() as conn:
        row = conn.execute(
            sa.text(
                "SELECT document_id, version, blob_key, kind, extraction_state, ocr_attempts FROM document_versions "
                "WHERE extraction_state = :p OR (extraction_state = :r AND ocr_claimed_at < :stale) "
                "ORDER BY created_at LIMIT 1"
            ),
            {"p": pending, "r": running, "stale": now - lease},
        ).first()
        if row is None:
            return None
        key = {"d": row.document_id, "v": row.version, "was": row.extraction_state}
        if row.extraction_state == running and row.ocr_attempts >= attempts:
            conn.execute(
                sa.text(
                    "UPDATE document_versions SET extraction_state = :f, extraction_error = :e "
                    "WHERE document_id = :d AND version = :v AND extraction_state = :was"
                ),
                {**key, "f": store.FAILED, "e": f"the worker stopped while reading this file {attempts} times"},
            )
            return None
        claimed = conn.execute(
            sa.text(
                "UPDATE document_versions SET extraction_state = :r, ocr_claimed_at = :t, "
                "ocr_attempts = ocr_attempts + 1 WHERE document_id = :d AND version = :v "
                "AND extraction_state = :was"
            ),
            {**key, "r": running, "t": now},
        ).rowcount
    return (row.document_id, row.version, row.blob_key, row.kind) if claimed else None


def _attempts(db: Database, doc_id: str, version: int) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                sa.text("SELECT ocr_attempts FROM document_versions WHERE document_id = :d AND version = :v"),
                {"d": doc_id, "v": version},
            ).scalar_one()
        )


def _finish(db: Database, doc_id: str, version: int, **values: object) -> None:
    with db.write() as conn:
        sets = ", ".join(f"{k} = :{k}" for k in values)
        conn.execute(
            sa.text(f"UPDATE document_versions SET {sets} WHERE document_id = :d AND version = :v"),
            {**values, "d": doc_id, "v": version},
        )
        doc = store.get(conn, doc_id)
        if doc.pending_version == version:  # a new version of a published document
            if values.get("extraction_state") in publication.CLEAN:
                publication.promote(conn, doc, version)
            elif values.get("extraction_state") in (store.REFUSED, store.FAILED):
                store.update(conn, doc_id, pending_version=0)  # refused alone; the checked one stays
            return
        if values.get("extraction_state") == store.REFUSED and doc.status != store.WITHDRAWN:
            publication.withdraw(conn, doc, "classified marking found in the document's text")
        elif doc.current_version == version:
            store.update(conn, doc_id)  # the indexed text changes: bump the version
            emit_refresh(conn, doc_id)
            publication.release(conn, doc_id, version)


def _refuse(db: Database, blobs: BlobStore, doc_id: str, version: int, key: str, level: str) -> None:
    _finish(
        db,
        doc_id,
        version,
        extraction_state=store.REFUSED,
        text="",
        extraction_error=f"classified marking ({level}) found; the file was removed",
    )
    blobs.delete(key)


def text_once(db: Database, blobs: BlobStore) -> bool:
    """Extract the whole text of one waiting version; False when there was none."""
    job = _claim(db, store.TEXT_PENDING, store.TEXT_RUNNING, TEXT_LEASE, TEXT_ATTEMPTS)
    if job is None:
        return False
    doc_id, version, key, kind = job
    try:
        with tempfile.SpooledTemporaryFile(max_size=files.SPOOL_MEMORY) as spool:
            for block in blobs.chunks(key, 1024 * 1024):
                spool.write(block)
            extracted = extract.extract(kind, spool)  # type: ignore[arg-type]
    except InvalidArgument as exc:  # damaged past the part read on upload: no text, the file stays
        log.warning("text extraction failed for %s v%s: %s", doc_id, version, exc.message)
        _finish(db, doc_id, version, extraction_state=store.FAILED, extraction_error=exc.message[:500])
        return True
    except (ServiceError, OSError) as exc:  # the store is down: try again later
        attempts = _attempts(db, doc_id, version)
        state = store.FAILED if attempts >= TEXT_ATTEMPTS else store.TEXT_PENDING
        log.warning("text extraction of %s v%s (attempt %s) failed: %s", doc_id, version, attempts, exc)
        _finish(db, doc_id, version, extraction_state=state, extraction_error=str(exc)[:500])
        return True
    level = classification.marking_in_text(extracted.text)
    if level:  # the upload saw the same top of the text, so only a change of rules gets here
        _refuse(db, blobs, doc_id, version, key, level)
    elif extracted.needs_ocr:
        _finish(db, doc_id, version, extraction_state=store.OCR_PENDING, text=extracted.text, ocr_attempts=0)
    else:
        _finish(
            db,
            doc_id,
            version,
            extraction_state=store.DONE,
            text=extracted.text,
            text_source=extracted.source,
            extraction_error="",
        )
    return True


def ocr_once(db: Database, blobs: BlobStore) -> bool:
    """Process one waiting version; False when there was none."""
    job = _claim(db, store.OCR_PENDING, store.OCR_RUNNING, OCR_LEASE, OCR_ATTEMPTS)
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
        attempts = _attempts(db, doc_id, version)
        state = store.FAILED if attempts >= OCR_ATTEMPTS else store.OCR_PENDING
        log.warning("ocr failed for %s v%s (attempt %s): %s", doc_id, version, attempts, message)
        _finish(db, doc_id, version, extraction_state=state, extraction_error=message)
        return True
    level = classification.marking_in_text(text)
    if level:
        _refuse(db, blobs, doc_id, version, key, level)
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


def _loop(
    name: str, once: Callable[[Database, BlobStore], bool], db: Database, blobs: BlobStore,
    stop: threading.Event, idle: float,
) -> None:
    # One round is one document's extraction or OCR (a long scan takes minutes).
    loop = LOOPS.loop("documents", name, idle, minimum=3600.0)
    try:
        while not stop.is_set():
            try:
                worked = once(db, blobs)
                loop.done()
                if not worked:
                    stop.wait(idle)
            except sa.exc.OperationalError:
                log.warning("%s: database unavailable, retrying", name, exc_info=True)
                loop.done(ok=False)
                stop.wait(5.0)
    except BaseException:
        log.exception("%s worker failed; stopping the process so that it is restarted", name)
        stop.set()
        raise


def run_ocr(db: Database, blobs: BlobStore, stop: threading.Event, idle_sleep: float = 2.0) -> None:
    if not extract.ocr_available():
        log.error("tesseract is not installed: install tesseract-ocr and tesseract-ocr-vie")
    texts = threading.Thread(
        target=_loop, args=("text", text_once, db, blobs, stop, 0.5), name="text-extraction", daemon=True
    )
    texts.start()
    _loop("ocr", ocr_once, db, blobs, stop, idle_sleep)
    texts.join(timeout=30)
