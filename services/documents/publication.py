"""Publishing, and holding a publication back while the file's text has not been checked.

The classification check reads the top of a document's text. For text-layer files (PDF, DOCX,
ODT, plain text) that happens on the upload's request path, so a marked file is refused there and
then. A scan (an image, a PDF without a text layer) can only be read by OCR in the background:
until OCR has said the text is clean, a publication asked for (at upload or by PublishDocument) is
*held* - the document stays a draft with `publish_pending` - and the worker publishes it when OCR
finds no marking, or withdraws it and deletes the file when it finds one. A document whose OCR
failed stays a draft; an editor who has read the scan may then publish it.

A scanned new version of a *published* document is held the same way, as its `pending_version`:
members keep the current version until OCR finds the new one clean (`promote`); a marked one is
refused and deleted alone - the document and the version already checked stay.
"""

from __future__ import annotations

import time

from sqlalchemy.engine import Connection

from services.documents import events, register, store

# The version's text has not been checked for a classification marking yet.
UNCHECKED = (store.OCR_PENDING, store.OCR_RUNNING)
# Extraction finished and found no marking.
CLEAN = (store.DONE, store.OCR_DONE)


def held(extraction_state: str) -> bool:
    return extraction_state in UNCHECKED


def publish(conn: Connection, doc: store.Doc) -> store.Doc:
    """Publish a draft now (the caller checked it may be)."""
    store.update(conn, doc.id, status=store.PUBLISHED, published_at=time.time(), publish_pending=False)
    doc = store.get(conn, doc.id)
    events.emit_published(conn, doc)  # the search indexer acts on it as on a refresh
    return doc


def request(conn: Connection, doc: store.Doc, version: store.Version) -> store.Doc:
    """PublishDocument on a draft: publish now, or hold until the current version is checked."""
    if held(version.extraction_state):
        if not doc.publish_pending:
            store.update(conn, doc.id, publish_pending=True)
        return store.get(conn, doc.id)
    return publish(conn, doc)


def promote(conn: Connection, doc: store.Doc, version: int) -> None:
    """The pending version's text is clean: it becomes the current version."""
    store.update(conn, doc.id, current_version=version, pending_version=0)
    events.emit_version(conn, doc, version)
    events.emit_refresh(conn, doc.id)


def release(conn: Connection, doc_id: str, version: int) -> None:
    """A version's text check finished clean: publish the document if it was held for it."""
    doc = store.get(conn, doc_id)
    if doc.status not in store.UNPUBLISHED or not doc.publish_pending or doc.current_version != version:
        return
    if store.version(conn, doc_id, version).extraction_state in CLEAN:
        publish(conn, doc)


def withdraw(conn: Connection, doc: store.Doc, reason: str) -> None:
    """Withdraw a document; one never published frees its number in the register."""
    store.update(
        conn,
        doc.id,
        status=store.WITHDRAWN,
        withdrawn_at=time.time(),
        withdrawn_reason=reason,
        publish_pending=False,
    )
    if doc.published_at is None:
        register.release(conn, doc.id)
    events.emit_refresh(conn, doc.id)
