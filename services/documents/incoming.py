"""An uploaded file on its way in: received, checked, and stored while its rows are written.

    with receiving(blobs, pool, doc_id, version, chunks, max_bytes, header) as incoming:
        incoming.store()             # starts the put on a thread of `pool`
        with db.write() as conn:
            ... rows from incoming.values ...
            incoming.wait_stored()   # last: the rows commit only once the file is stored
        incoming.keep()

`receiving` spools the chunks (hashing them with SHA-256 on the way), checks the type by content and
the top of the text for a classification stamp (a marked file is refused here, before anything is
stored) and yields. `store()` puts the file into the store on another thread, so that the
database work runs during the put instead of after it. Unless `keep()` is called (after the
commit), a stored file is deleted again when the `with` ends: neither a row without a file nor
(in normal operation) a file without a row is left behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from services.documents import classification, extract, files, store
from services.documents.storage import BlobStore, blob_key
from services.documents.timing import observe, step


@dataclass
class Incoming:
    values: dict[str, Any]  # the document_versions row, but note and created_by
    _blobs: BlobStore
    _pool: ThreadPoolExecutor
    _got: files.Received
    _put: Future[None] | None = None
    _kept: bool = field(default=False)

    def store(self) -> None:
        """Start putting the file into the store."""
        self._put = self._pool.submit(self._store)

    def _store(self) -> None:
        with step("store_put"):
            self._got.spool.seek(0)
            v = self.values
            self._blobs.put(v["blob_key"], self._got.spool, v["size"], v["sha256"], v["content_type"])

    def wait_stored(self) -> None:
        """Block until the file is stored; raises what the store raised (UNAVAILABLE...)."""
        assert self._put is not None, "store() first"
        with step("store_wait"):
            self._put.result()

    def keep(self) -> None:
        """The rows referring to the file are committed: it stays."""
        self.wait_stored()
        self._kept = True


@contextmanager
def receiving(
    blobs: BlobStore,
    pool: ThreadPoolExecutor,
    doc_id: str,
    version: int,
    chunks: Iterable[bytes],
    max_bytes: int,
    header: Any,
) -> Iterator[Incoming]:
    started = time.perf_counter()
    with files.receive(chunks, max_bytes, header.sha256) as got:
        observe("receive", time.perf_counter() - started)
        with step("type_check"):
            kind = files.sniff(got.spool)
            files.check_declared(kind, header.content_type, header.filename)
        with step("text_check"):
            # The top of the text exactly as the whole extraction would give it; the whole text
            # of a big file is extracted by the background worker (state text_pending).
            extracted = extract.extract_top(kind, got.spool, classification.HEAD_CHARS)
            level = classification.marking_in_text(extracted.text)
        if level:
            raise classification.refuse(level, "document text")
        if not extracted.complete:
            state = store.TEXT_PENDING
        else:
            state = store.OCR_PENDING if extracted.needs_ocr else store.DONE
        key = blob_key(doc_id, version, got.sha256)
        content_type = files.CONTENT_TYPES[kind]
        incoming = Incoming(
            {
                "document_id": doc_id,
                "version": version,
                "blob_key": key,
                "sha256": got.sha256,
                "size": got.size,
                "kind": kind,
                "content_type": content_type,
                "filename": files.safe_filename(header.filename, kind),
                "extraction_state": state,
                "extraction_error": "",
                "text_source": extracted.source if extracted.complete else "",
                "text": extracted.text if extracted.complete else "",
            },
            blobs,
            pool,
            got,
        )
        try:
            yield incoming
        finally:
            if incoming._put is not None and not incoming._kept:
                try:
                    incoming._put.result()
                except Exception:  # noqa: S110 - already reported to the caller, or moot
                    pass
                finally:
                    blobs.delete(key)  # idempotent; also clears what a failed put may have left
