"""The DocumentsService gRPC servicer: authorise, run one transaction, convert.

Uploads: header first (validated and authorised before any byte is read), then chunks
spooled and hashed (SHA-256), up to the `end` message (a stream without it was cut short: gRPC
ends the stream of a client that went away as it ends a finished one), type checked by content,
the top of the text checked for a classification stamp (a marked file is refused here), then the file is stored
under a key of its own (one S3 round trip) while the rows and events are written in one
transaction, which commits only once the file is stored (incoming.py). A failure after the file
was stored removes it again, so neither a row without a file nor (in normal operation) a file
without a row is left behind.

The whole text of a small file is extracted on the request path; that of a bigger one by the
background worker (`python -m services.documents ocr`, state text_pending), which also OCRs scans.
A scan's publication is held until OCR has checked its text (publication.py). Each step's time
is in the metric documents_upload_step_seconds (timing.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeAlias

import grpc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core import idempotency
from services.core.auth import Principal
from services.core.config import env_int
from services.core.db import Database, execute, fetch_one
from services.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from services.core.identity_client import IdentityClient
from services.core.ids import new_id, require_id
from services.core.interceptors import current_principal
from services.core.paging import next_token, page_window
from services.core.timestamps import timestamp, ts
from services.documents import (
    access,
    links,
    metadata,
    publication,
    register,
    render,
    store,
    study,
)
from services.documents.convert import EXTRACTION, document_msg, status_name, version_msg
from services.documents.events import (
    emit_published,
    emit_refresh,
    emit_version,
)
from services.documents.incoming import receiving
from services.documents.numbers import canonical_type, parse_number, require_type
from services.documents.search import (
    MAX_WINDOW,
    SORT_NEWEST,
    SORT_OLDEST,
    SORT_RELEVANCE,
    SearchIndex,
    SearchQuery,
    SearchUnavailable,
)
from services.documents.storage import BlobStore
from services.documents.timing import step
from sotay.documents.v1 import documents_pb2 as pb
from sotay.documents.v1 import documents_pb2_grpc

log = logging.getLogger("sotay.documents")
Ctx: TypeAlias = grpc.ServicerContext

PUBLIC_METHODS = {"/sotay.documents.v1.DocumentsService/FetchFile"}
SORTS = {
    pb.SEARCH_SORT_UNSPECIFIED: SORT_RELEVANCE,
    pb.SEARCH_SORT_RELEVANCE: SORT_RELEVANCE,
    pb.SEARCH_SORT_NEWEST: SORT_NEWEST,
    pb.SEARCH_SORT_OLDEST: SORT_OLDEST,
}


def max_upload_bytes() -> int:
    return env_int("DOCUMENTS_MAX_UPLOAD_MB", 50) * 1024 * 1024


class DocumentsServicer(documents_pb2_grpc.DocumentsServiceServicer):
    def __init__(self, db: Database, blobs: BlobStore, index: SearchIndex, units: IdentityClient) -> None:
        self.db = db
        self.blobs = blobs
        self.index = index
        self.units = units
        self.links = links.LinkSigner(db)
        self.max_bytes = max_upload_bytes()
        self.url_ttl = env_int("DOCUMENTS_DOWNLOAD_TTL", 300)
        # Files are put into the store on these threads while the upload's rows are written.
        self.puts = ThreadPoolExecutor(max_workers=32, thread_name_prefix="documents-put")

    def _managed(self, me: Principal) -> frozenset[str]:
        """Where the caller publishes (access.managed_units). Asked before any transaction is
        opened: a cell role may need identity's answer (cached)."""
        return access.managed_units(me, lambda unit_id: self.units.unit(unit_id).is_cell)

    # ---------- uploads ----------

    def _replayed(self, conn: Connection, me: Principal, key: str) -> str | None:
        """The document an upload or new version sent before with this key made (None: none, or no key)."""
        if not key:
            return None
        found = idempotency.seen(conn, f"upload:{me.account_id}", key)
        if found is None:  # written by the release before during a rolling update (until its contract)
            row = fetch_one(
                conn, "SELECT document_id FROM upload_requests WHERE account_id = :a AND idempotency_key = :k",
                {"a": me.account_id, "k": key},
            )
            found = row.document_id if row else None
        return found

    def _record_upload(self, conn: Connection, me: Principal, key: str, document_id: str, version: int) -> None:
        """What `_replayed` finds when the same upload is sent again (unique per account and key)."""
        if not key:
            return
        idempotency.remember(conn, f"upload:{me.account_id}", key, document_id)
        execute(  # for the release before, during a rolling update (until its contract)
            conn,
            "INSERT INTO upload_requests (account_id, idempotency_key, document_id, version, created_at) "
            "VALUES (:a, :k, :d, :v, :t)",
            {"a": me.account_id, "k": key, "d": document_id, "v": version, "t": time.time()},
        )

    def _replay_lookup(self, me: Principal, key: str) -> str | None:
        with self.db.read() as conn:
            return self._replayed(conn, me, key)

    def _audience(self, chain: tuple[str, ...], requested: list[str]) -> list[str]:
        if not requested:
            return [chain[-1]]
        if len(requested) > 500:
            raise InvalidArgument("too_many_units", "at most 500 audience units", field="audience_unit_ids")
        audience = []
        for unit_id in dict.fromkeys(requested):
            target = self.units.chain(unit_id, "audience_unit_ids")
            if chain[-1] not in target:
                raise InvalidArgument(
                    "audience_outside_unit",
                    "every audience unit must be in the publishing unit's subtree",
                    field="audience_unit_ids",
                    unit_id=unit_id,
                )
            audience.append(target[-1])
        return audience

    @staticmethod
    def _header(requests: Iterator[Any]) -> Any:
        """The header an upload stream starts with."""
        first = next(requests, None)
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidArgument("header_required", "the first message must carry the header")
        return first.header

    def _chunks(self, requests: Iterator[Any]) -> Iterator[bytes]:
        """The file's bytes, up to the `end` message. gRPC ends the request stream of a client
        that went away as it ends a finished one, so a stream without `end` was cut short."""
        size = 0
        for message in requests:
            part = message.WhichOneof("part")
            if part == "chunk":
                size += len(message.chunk)
                yield message.chunk
            elif part == "end":
                if message.end.size != size:
                    raise InvalidArgument("upload_incomplete", f"{size} of the file's {message.end.size} bytes arrived")
                if next(requests, None) is not None:
                    raise InvalidArgument("after_end", "nothing may follow the end message")
                return
            else:
                raise InvalidArgument("header_repeated", "only the first message carries the header")
        raise InvalidArgument("upload_incomplete", "the upload stopped before its end message")

    def UploadDocument(
        self, request_iterator: Iterator[pb.UploadDocumentRequest], context: Ctx
    ) -> pb.UploadDocumentResponse:
        me = current_principal()
        managed = self._managed(me)
        header = self._header(request_iterator)
        key = idempotency.check(header.idempotency_key)
        replay = self.puts.submit(self._replay_lookup, me, key)  # looked up while the file arrives
        values = metadata.validate(header.metadata)
        unit_id = header.unit_id or (header.audience_unit_ids[0] if len(header.audience_unit_ids) == 1 else "")
        with step("unit_lookup"):
            chain = self.units.chain(unit_id)
            access.require_publisher(managed, chain)
            audience = self._audience(chain, list(header.audience_unit_ids))
        number = parse_number(values["number"])
        doc_id = new_id()
        chunks = self._chunks(request_iterator)
        with receiving(self.blobs, self.puts, doc_id, 1, chunks, self.max_bytes, header) as incoming:
            with step("replay_check"):
                seen = replay.result()
            if seen:  # a retry of an upload already done: nothing is stored
                return pb.UploadDocumentResponse(document=self._document_msg(seen, me), replayed=True)
            with self.db.read() as conn:  # refused before the file is stored; taken for good below
                register.check_free(conn, chain[-1], number)
            incoming.store()
            version = incoming.values
            # A scan waits for OCR to check its text before anyone sees it.
            hold = bool(header.publish) and publication.held(version["extraction_state"])
            publish = bool(header.publish) and not hold
            try:
                with step("db_transaction"), self.db.write() as conn:
                    seen = self._replayed(conn, me, key)
                    if seen:  # a concurrent retry won; this file is deleted again
                        return pb.UploadDocumentResponse(document=self._document_msg(seen, me), replayed=True)
                    now = time.time()
                    doc = store.insert(
                        conn,
                        {
                            **values,
                            "id": doc_id,
                            "status": store.PUBLISHED if publish else store.DRAFT,
                            "unit_id": chain[-1],
                            "current_version": 1,
                            "created_by": me.account_id,
                            "published_at": now if publish else None,
                            "withdrawn_at": None,
                            "withdrawn_reason": None,
                            "publish_pending": hold,
                        },
                        audience,
                        list(chain),
                    )
                    register.take(conn, chain[-1], number, doc_id, now)
                    ver = store.insert_version(conn, {**version, "note": "", "created_by": me.account_id})
                    self._record_upload(conn, me, key, doc_id, 1)
                    if publish:
                        emit_published(conn, doc)  # the indexer acts on it as on a refresh
                    else:
                        emit_refresh(conn, doc_id)
                    incoming.wait_stored()  # the rows commit only once the file is stored
                incoming.keep()
            except sa.exc.IntegrityError:
                with self.db.read() as conn:
                    seen = self._replayed(conn, me, key)
                if not seen:
                    raise
                return pb.UploadDocumentResponse(document=self._document_msg(seen, me), replayed=True)
        return pb.UploadDocumentResponse(document=document_msg(doc, ver))

    def AddDocumentVersion(
        self, request_iterator: Iterator[pb.AddDocumentVersionRequest], context: Ctx
    ) -> pb.AddDocumentVersionResponse:
        me = current_principal()
        managed = self._managed(me)
        header = self._header(request_iterator)
        key = idempotency.check(header.idempotency_key)
        if len(header.note) > 1000:
            raise InvalidArgument("field_too_long", "note has at most 1000 characters", field="note")
        with self.db.read() as conn:
            seen = self._replayed(conn, me, key)
            if seen:
                return pb.AddDocumentVersionResponse(document=self._document_msg(seen, me), replayed=True)
            doc = store.get(conn, header.document_id)
            access.require_manager(me, managed, doc)
            number = store.last_version(conn, doc.id) + 1  # after a pending or refused one too
        if doc.status == store.WITHDRAWN:
            raise FailedPrecondition("document_withdrawn", "a withdrawn document takes no new version")
        if doc.status == store.REVIEW:
            raise FailedPrecondition("in_review", "a document in review takes no new version; return it to draft first")
        chunks = self._chunks(request_iterator)
        with receiving(self.blobs, self.puts, doc.id, number, chunks, self.max_bytes, header) as incoming:
            incoming.store()
            version = incoming.values
            with step("db_transaction"), self.db.write() as conn:
                self.db.lock(conn, f"document-versions:{doc.id}")  # one version added at a time
                seen = self._replayed(conn, me, key)
                if seen:  # a concurrent retry won; this file is deleted again
                    return pb.AddDocumentVersionResponse(document=self._document_msg(seen, me), replayed=True)
                current = store.get(conn, doc.id)
                if store.last_version(conn, doc.id) + 1 != number or current.status in (store.WITHDRAWN, store.REVIEW):
                    raise FailedPrecondition("version_conflict", "another version was added at the same time; retry")
                ver = store.insert_version(conn, {**version, "note": header.note.strip(), "created_by": me.account_id})
                # A scan of a published document waits for OCR's check; members keep the version
                # they have until then (publication.promote). Otherwise it is current at once.
                held = current.status == store.PUBLISHED and publication.held(version["extraction_state"])
                if held:
                    store.update(conn, doc.id, pending_version=number)
                else:
                    store.update(conn, doc.id, current_version=number, pending_version=0)
                self._record_upload(conn, me, key, doc.id, number)
                doc = store.get(conn, doc.id)
                if (
                    doc.status == store.DRAFT
                    and doc.publish_pending
                    and not publication.held(version["extraction_state"])
                ):
                    doc = publication.publish(conn, doc)  # held for the previous file's OCR
                elif doc.status == store.PUBLISHED and not held:
                    emit_version(conn, doc, number)
                emit_refresh(conn, doc.id)
                incoming.wait_stored()  # the rows commit only once the file is stored
            incoming.keep()
        return pb.AddDocumentVersionResponse(document=document_msg(doc, ver))

    # ---------- reading ----------

    def _document_msg(self, doc_id: str, me: Principal) -> pb.Document:
        managed = self._managed(me)
        with self.db.read() as conn:
            doc = store.get(conn, doc_id)
            access.require_visible(me, managed, doc)
            return document_msg(doc, store.version(conn, doc.id, doc.current_version), study.studied(conn, doc.id, me))

    def GetDocument(self, request: pb.GetDocumentRequest, context: Ctx) -> pb.GetDocumentResponse:
        me = current_principal()
        return pb.GetDocumentResponse(document=self._document_msg(request.id, me))

    def ListDocuments(self, request: pb.ListDocumentsRequest, context: Ctx) -> pb.ListDocumentsResponse:
        me = current_principal()
        managed = self._managed(me)
        size, offset = page_window(request)
        filters = {"category": request.category, "status": status_name(request.status)}
        if request.doc_type:
            filters["doc_type"] = canonical_type(request.doc_type) or "-"
        if request.unit_id:
            filters["unit_id"] = require_id(request.unit_id, "unit_id")
        with self.db.read() as conn:
            found, total = store.list_visible(conn, access.visibility(me, managed), filters, offset, size)
            messages = [document_msg(d, store.version(conn, d.id, d.current_version)) for d in found]
        return pb.ListDocumentsResponse(
            documents=messages, next_page_token=next_token(offset, size, len(found), total), total_size=total
        )

    def ListDocumentVersions(
        self, request: pb.ListDocumentVersionsRequest, context: Ctx
    ) -> pb.ListDocumentVersionsResponse:
        me = current_principal()
        managed = self._managed(me)
        size, offset = page_window(request)
        with self.db.read() as conn:
            doc = store.get(conn, request.document_id)
            access.require_visible(me, managed, doc)
            newest = doc.current_version
            if access.can_manage(managed, doc):  # managers also see a version waiting for its check
                newest = max(newest, doc.pending_version)
            found = store.versions(conn, doc.id, offset, size, newest)
        return pb.ListDocumentVersionsResponse(
            versions=[version_msg(v) for v in found],
            next_page_token=next_token(offset, size, len(found), newest),
        )

    def GetDocumentView(self, request: pb.GetDocumentViewRequest, context: Ctx) -> pb.GetDocumentViewResponse:
        me = current_principal()
        managed = self._managed(me)
        with self.db.read() as conn:
            doc = store.get(conn, request.id)
            access.require_visible(me, managed, doc)
            number = access.readable_version(managed, doc, request.version)
            ver = store.version(conn, doc.id, number)
            text = store.version_text(conn, doc.id, number)
        return pb.GetDocumentViewResponse(
            html=render.page(doc, ver, text),
            extraction_state=EXTRACTION.get(ver.extraction_state, pb.EXTRACTION_STATE_UNSPECIFIED),  # type: ignore[arg-type]
        )

    def GetDownloadUrl(self, request: pb.GetDownloadUrlRequest, context: Ctx) -> pb.GetDownloadUrlResponse:
        me = current_principal()
        managed = self._managed(me)
        with self.db.read() as conn:
            doc = store.get(conn, request.id)
            access.require_visible(me, managed, doc)
            ver = store.version(conn, doc.id, access.readable_version(managed, doc, request.version))
        if ver.extraction_state == store.REFUSED:
            raise FailedPrecondition("file_removed", "this file was removed (classified marking found)")
        url = self.blobs.presigned_url(ver.blob_key, ver.filename, ver.content_type, self.url_ttl)
        expires = time.time() + self.url_ttl
        if not url:
            token, expires = self.links.sign(doc.id, ver.version, self.url_ttl)
            url = links.FILES_PATH + token
        return pb.GetDownloadUrlResponse(
            url=url,
            expires_at=timestamp(expires),
            filename=ver.filename,
            content_type=ver.content_type,
            sha256=ver.sha256,
        )

    def FetchFile(self, request: pb.FetchFileRequest, context: Ctx) -> Iterator[pb.FetchFileResponse]:
        doc_id, number = self.links.verify(request.token)
        with self.db.read() as conn:
            ver = store.version(conn, doc_id, number)
        if ver.extraction_state == store.REFUSED:
            raise NotFound("file_removed", "this file was removed")
        first = True
        for block in self.blobs.chunks(ver.blob_key):
            if first:
                yield pb.FetchFileResponse(
                    filename=ver.filename, content_type=ver.content_type, size=ver.size, chunk=block
                )
                first = False
            else:
                yield pb.FetchFileResponse(chunk=block)

    # ---------- lifecycle ----------

    def UpdateDocument(self, request: pb.UpdateDocumentRequest, context: Ctx) -> pb.UpdateDocumentResponse:
        me = current_principal()
        managed = self._managed(me)
        values = metadata.validate(request.metadata)
        with self.db.read() as conn:
            doc = store.get(conn, request.id)
            access.require_manager(me, managed, doc)
        audience = (
            self._audience(doc.publisher_chain, list(request.audience_unit_ids))
            if request.audience_unit_ids
            else list(doc.audience_unit_ids)
        )
        with self.db.write() as conn:
            doc = store.get(conn, request.id)
            if doc.status != store.DRAFT:
                raise FailedPrecondition("not_a_draft", "only a draft's metadata can be changed")
            if values["number_key"] != doc.number_key:
                register.renumber(conn, doc.unit_id, parse_number(values["number"]), doc.id, time.time())
            store.update(conn, doc.id, **values)
            store.set_units(conn, doc.id, audience, list(doc.publisher_chain))
            emit_refresh(conn, doc.id)
            doc = store.get(conn, doc.id)
            ver = store.version(conn, doc.id, doc.current_version)
        return pb.UpdateDocumentResponse(document=document_msg(doc, ver))

    def PublishDocument(self, request: pb.PublishDocumentRequest, context: Ctx) -> pb.PublishDocumentResponse:
        me = current_principal()
        managed = self._managed(me)
        with self.db.write() as conn:
            doc = store.get(conn, request.id)
            access.require_manager(me, managed, doc)
            if doc.status == store.WITHDRAWN:
                raise FailedPrecondition("document_withdrawn", "a withdrawn document cannot be published again")
            ver = store.version(conn, doc.id, doc.current_version)
            if doc.status in store.UNPUBLISHED:
                doc = publication.request(conn, doc, ver)  # held while a scan waits for OCR
        return pb.PublishDocumentResponse(document=document_msg(doc, ver))

    def _move(self, document_id: str, source: str, target: str, note: str = "") -> pb.Document:
        """One step of the review workflow (draft -> review, review -> draft), by a manager."""
        me = current_principal()
        managed = self._managed(me)
        with self.db.write() as conn:
            doc = store.get(conn, document_id)
            access.require_manager(me, managed, doc)
            if doc.status == target and not note:  # a repeated submission; a return needs a review
                return document_msg(doc, store.version(conn, doc.id, doc.current_version))  # repeated
            if doc.status != source:
                raise FailedPrecondition(
                    "invalid_transition", f"a {doc.status} document cannot go to {target}", status=doc.status
                )
            store.update(conn, doc.id, status=target, review_note=note)
            emit_refresh(conn, doc.id)
            doc = store.get(conn, doc.id)
            return document_msg(doc, store.version(conn, doc.id, doc.current_version))

    def SubmitDocumentForReview(
        self, request: pb.SubmitDocumentForReviewRequest, context: Ctx
    ) -> pb.SubmitDocumentForReviewResponse:
        return pb.SubmitDocumentForReviewResponse(document=self._move(request.id, store.DRAFT, store.REVIEW))

    def ReturnDocumentToDraft(
        self, request: pb.ReturnDocumentToDraftRequest, context: Ctx
    ) -> pb.ReturnDocumentToDraftResponse:
        note = " ".join(request.note.split())
        if not note:
            raise InvalidArgument("note_required", "say what must change before it is published", field="note")
        if len(note) > 1000:
            raise InvalidArgument("field_too_long", "note has at most 1000 characters", field="note")
        return pb.ReturnDocumentToDraftResponse(document=self._move(request.id, store.REVIEW, store.DRAFT, note))

    def WithdrawDocument(self, request: pb.WithdrawDocumentRequest, context: Ctx) -> pb.WithdrawDocumentResponse:
        me = current_principal()
        managed = self._managed(me)
        with self.db.write() as conn:
            doc = store.get(conn, request.id)
            access.require_manager(me, managed, doc)
            if doc.status != store.WITHDRAWN:
                publication.withdraw(conn, doc, request.reason.strip()[:500])
                doc = store.get(conn, doc.id)
            ver = store.version(conn, doc.id, doc.current_version)
        return pb.WithdrawDocumentResponse(document=document_msg(doc, ver))

    # ---------- search ----------

    def SearchDocuments(self, request: pb.SearchDocumentsRequest, context: Ctx) -> pb.SearchDocumentsResponse:
        me = current_principal()
        managed = self._managed(me)
        size, offset = page_window(request, default=20, maximum=100)
        if offset >= MAX_WINDOW:
            raise InvalidArgument("page_too_deep", f"results past {MAX_WINDOW} cannot be paged; refine the search")
        if len(request.query) > 500:
            raise InvalidArgument("query_too_long", "a search has at most 500 characters", field="query")
        doc_types = []
        for raw in request.doc_types:
            symbol = canonical_type(raw)
            if not symbol:
                raise InvalidArgument("unknown_doc_type", f"unknown document type {raw[:20]!r}", field="doc_types")
            doc_types.append(symbol)
        for category in request.categories:
            if category not in metadata.CATEGORIES:
                raise InvalidArgument("invalid_category", "unknown category", field="categories")
        for name in ("issued_from", "issued_to"):
            value = getattr(request, name)
            if value:
                try:
                    dt.date.fromisoformat(value)
                except ValueError as exc:
                    raise InvalidArgument("invalid_date", f"{name} must be an ISO date", field=name) from exc
        if request.sort not in SORTS:
            raise InvalidArgument("invalid_sort", "sort is not valid", field="sort")
        query = SearchQuery(
            visibility=access.visibility(me, managed),
            text=request.query,
            doc_types=tuple(doc_types),
            categories=tuple(request.categories),
            issuing_body=request.issuing_body.strip()[:200],
            issued_from=request.issued_from,
            issued_to=request.issued_to,
            unit_id=require_id(request.unit_id, "unit_id") if request.unit_id else "",
            sort=SORTS[request.sort],
            offset=offset,
            size=size,
        )
        try:
            result = self.index.search(query)
        except SearchUnavailable as exc:
            raise Unavailable("search_unavailable", "search is unavailable for a moment; try again") from exc
        return pb.SearchDocumentsResponse(
            total_size=result.total,
            hits=[
                pb.SearchHit(
                    id=h.id,
                    title=h.title,
                    number=h.number,
                    doc_type=h.doc_type,
                    category=h.category,
                    issuing_body=h.issuing_body,
                    issued_on=h.issued_on,
                    unit_id=h.unit_id,
                    score=h.score,
                    highlights=[pb.Highlight(field=k, fragments=v) for k, v in h.highlights.items()],
                )
                for h in result.hits
            ],
            facets=[
                pb.Facet(field=k, counts=[pb.FacetCount(value=v, count=n) for v, n in counts])
                for k, counts in result.facets.items()
            ],
            next_page_token=next_token(offset, size, len(result.hits), min(result.total, MAX_WINDOW)),
        )

    # ---------- resolution study ----------

    def MarkStudied(self, request: pb.MarkStudiedRequest, context: Ctx) -> pb.MarkStudiedResponse:
        me = current_principal()
        managed = self._managed(me)
        me.require_member("only a Party member's account records study")
        with self.db.write() as conn:
            doc = store.get(conn, request.document_id)
            access.require_visible(me, managed, doc)
            if doc.status != store.PUBLISHED:
                raise FailedPrecondition("not_published", "only a published document can be studied")
            at = study.mark(conn, doc.id, me)
        return pb.MarkStudiedResponse(studied_at=timestamp(at))

    def ListStudyStatus(self, request: pb.ListStudyStatusRequest, context: Ctx) -> pb.ListStudyStatusResponse:
        me = current_principal()
        managed = self._managed(me)
        size, offset = page_window(request, default=100, maximum=1000)
        with self.db.read() as conn:
            doc = store.get(conn, request.document_id)
            access.require_visible(me, managed, doc)
        chain = self.units.chain(request.unit_id)
        if not me.has_role_over(chain, *access.STUDY_VIEWERS):
            raise PermissionDenied(
                "not_allowed", "needs an officer, editor or admin role over this unit", unit_id=chain[-1]
            )
        report = study.report(self.db, self.units, doc, chain)
        wanted = {pb.STUDY_FILTER_STUDIED: True, pb.STUDY_FILTER_NOT_STUDIED: False}.get(request.filter)
        entries = [e for e in report.entries if wanted is None or e.studied is wanted]
        page = entries[offset : offset + size]
        return pb.ListStudyStatusResponse(
            entries=[
                pb.StudyEntry(
                    member_id=e.member_id,
                    full_name=e.full_name,
                    unit_id=e.unit_id,
                    studied=e.studied,
                    studied_at=ts(e.studied_at),
                )
                for e in page
            ],
            units=[pb.UnitStudySummary(unit_id=u, members=n, studied=s) for u, (n, s) in sorted(report.units.items())],
            total_members=report.members,
            total_studied=report.studied,
            next_page_token=next_token(offset, size, len(page), len(entries)),
            by_child_unit=report.by_child,
        )

    # ---------- number register ----------

    def CheckDocumentNumber(
        self, request: pb.CheckDocumentNumberRequest, context: Ctx
    ) -> pb.CheckDocumentNumberResponse:
        me = current_principal()
        managed = self._managed(me)
        chain = self.units.chain(request.unit_id)
        access.require_publisher(managed, chain)
        unit_id = chain[-1]
        reply = pb.CheckDocumentNumberResponse()
        with self.db.read() as conn:
            if request.number.strip():
                number = parse_number(request.number)
                entry = register.Entry(unit_id, number.doc_type, number.issuer)
                reply.number = number.text
                reply.taken_by_document_id = register.holder(conn, unit_id, number)
                reply.available = not reply.taken_by_document_id
            else:
                doc_type = require_type(request.doc_type) if request.doc_type.strip() else "NQ"
                issuer = " ".join(request.issuer_code.split()).upper() or register.last_issuer(conn, unit_id)
                if issuer:  # checked as a number's issuer part would be
                    issuer = parse_number(f"1-{doc_type}/{issuer}").issuer
                entry = register.Entry(unit_id, doc_type, issuer)
            reply.last_seq = register.last_seq(conn, entry)
            reply.next_number = register.next_number(conn, entry)
        return reply
