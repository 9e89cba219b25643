"""Documents: upload (streamed to the service), search, read (JSON and a small HTML page),
download, publish/withdraw, new versions and resolution study.

Every view is one documents RPC with the caller's token; permission checks, file checks and
errors (INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE...) come from the documents service.
The upload is never held in memory: the multipart file stream is read in 1 MiB chunks into
the client-streaming UploadDocument call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
from flask import Response, request

from gateway import clients
from gateway.api import Routes, relay_chunks
from gateway.convert import to_json
from gateway.errors import invalid_field
from gateway.multipart import READ_ERRORS, StreamedForm
from gateway.schemas.documents import (
    Document,
    DocumentList,
    DocumentVersions,
    ListQuery,
    NumberCheck,
    NumberQuery,
    ReturnBody,
    SearchQuery,
    SearchResults,
    Studied,
    StudyQuery,
    StudyStatus,
    UploadedDocument,
    UploadForm,
    VersionForm,
    VersionQuery,
    WithdrawBody,
)
from gateway.settings import Settings
from sotay.documents.v1 import documents_pb2 as pb
from sotay.documents.v1 import documents_pb2_grpc

T = TypeVar("T")
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024  # the service's default DOCUMENTS_MAX_UPLOAD_MB
MULTIPART_SLACK = 64 * 1024
DOCUMENTS = clients.Backend("documents", pb.DESCRIPTOR.services_by_name["DocumentsService"])
SORTS = {"relevance": pb.SEARCH_SORT_RELEVANCE, "newest": pb.SEARCH_SORT_NEWEST, "oldest": pb.SEARCH_SORT_OLDEST}
STATUSES = {
    "draft": pb.DOCUMENT_STATUS_DRAFT,
    "review": pb.DOCUMENT_STATUS_REVIEW,
    "published": pb.DOCUMENT_STATUS_PUBLISHED,
    "withdrawn": pb.DOCUMENT_STATUS_WITHDRAWN,
}

routes = Routes("documents", "Directives, resolutions, bulletins and materials: upload, search, read, study")


def documents(*, long: bool = False) -> documents_pb2_grpc.DocumentsServiceStub:
    return clients.stub(DOCUMENTS, documents_pb2_grpc.DocumentsServiceStub, long=long)


def _upload_limit(settings: Settings) -> int:
    return MAX_DOCUMENT_BYTES + MULTIPART_SLACK


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _require_file(upload: StreamedForm) -> None:
    if not upload.has_file:
        raise invalid_field("file", "file: attach the document file", "missing")


def _file_messages(request_class: Callable[..., T], header: Any, upload: StreamedForm) -> Iterator[T]:
    """The client stream of an upload: the header, the file's chunks as they arrive, then `end`
    with the size (the service refuses a stream without it: see UploadEnd)."""
    yield request_class(header=header)
    size = 0
    try:
        for chunk in upload.chunks():  # ends once the whole body is read and well formed
            size += len(chunk)
            yield request_class(chunk=chunk)
    except READ_ERRORS:
        # Kept for _relay's raise_failure(). Ending the stream without `end` makes the service refuse
        # it; raising here would have gRPC log a traceback for a client's bad body.
        return
    yield request_class(end=pb.UploadEnd(size=size))


def _relay(upload: StreamedForm, call: Callable[[], T]) -> T:
    """Run a call fed by the upload's chunks; when reading the body stopped it, that is the answer."""
    try:
        return call()
    except grpc.RpcError:
        upload.raise_failure()
        raise


def _key(form_key: str) -> str:
    """The client's key (the form field, else the Idempotency-Key header); none: not idempotent."""
    return form_key or request.headers.get("Idempotency-Key", "")


def document_json(doc: pb.Document) -> dict[str, Any]:
    """A document with its title, number and type also at the top (for lists)."""
    out = to_json(doc)
    out.update(title=doc.metadata.title, number=doc.metadata.number, doc_type=doc.metadata.doc_type)
    return out


def uploaded_json(reply: pb.UploadDocumentResponse | pb.AddDocumentVersionResponse) -> dict[str, Any]:
    return {**document_json(reply.document), "replayed": reply.replayed}


def document_list_json(reply: pb.ListDocumentsResponse) -> dict[str, Any]:
    return {
        "items": [document_json(d) for d in reply.documents],
        "total": reply.total_size,
        "next_page_token": reply.next_page_token,
    }


def search_json(reply: pb.SearchDocumentsResponse) -> dict[str, Any]:
    """Search results with highlights and facets as objects keyed by field."""
    return {
        "total": reply.total_size,
        "items": [
            {
                "id": h.id,
                "title": h.title,
                "number": h.number,
                "doc_type": h.doc_type,
                "category": h.category,
                "issuing_body": h.issuing_body,
                "issued_on": h.issued_on,
                "unit_id": h.unit_id,
                "score": h.score,
                "highlights": {x.field: list(x.fragments) for x in h.highlights},
            }
            for h in reply.hits
        ],
        "facets": {f.field: {c.value: c.count for c in f.counts} for f in reply.facets},
        "next_page_token": reply.next_page_token,
    }


@routes.route(
    "/documents",
    "POST",
    form=UploadForm,
    files=["file"],
    stream_file=True,
    status=201,
    max_body=_upload_limit,
    response=UploadedDocument,
    summary="Upload a document (multipart: `file` and the metadata fields)",
)
def upload_document(form: UploadForm, upload: StreamedForm) -> dict[str, Any]:
    _require_file(upload)
    header = pb.UploadHeader(
        idempotency_key=_key(form.idempotency_key),
        metadata=pb.DocumentMetadata(
            title=form.title,
            number=form.number,
            doc_type=form.doc_type,
            category=form.category,
            issued_on=form.issued_on,
            issuing_body=form.issuing_body,
            signer=form.signer,
            summary=form.summary,
            classification=form.classification,
        ),
        unit_id=form.audience_unit_id,
        audience_unit_ids=_csv(form.audience_unit_ids),
        publish=form.status == "published",
        filename=upload.filename,
        content_type=upload.content_type,
        sha256=form.sha256,
    )

    messages = _file_messages(pb.UploadDocumentRequest, header, upload)
    reply = _relay(upload, lambda: documents(long=True).UploadDocument(messages))
    return uploaded_json(reply)


@routes.route(
    "/documents/<document_id>/versions",
    "POST",
    form=VersionForm,
    files=["file"],
    stream_file=True,
    status=201,
    max_body=_upload_limit,
    response=UploadedDocument,
    summary="Add a new file version (the history is kept)",
)
def add_version(document_id: str, form: VersionForm, upload: StreamedForm) -> dict[str, Any]:
    _require_file(upload)
    header = pb.VersionHeader(
        document_id=document_id,
        idempotency_key=_key(form.idempotency_key),
        filename=upload.filename,
        content_type=upload.content_type,
        sha256=form.sha256,
        note=form.note,
    )

    messages = _file_messages(pb.AddDocumentVersionRequest, header, upload)
    reply = _relay(upload, lambda: documents(long=True).AddDocumentVersion(messages))
    return uploaded_json(reply)


@routes.route(
    "/documents/search",
    "GET",
    query=SearchQuery,
    response=SearchResults,
    summary="Search documents by words (diacritics optional) or number; only what you may see",
)
def search_documents(query: SearchQuery) -> dict[str, Any]:
    reply = documents().SearchDocuments(
        pb.SearchDocumentsRequest(
            query=query.q,
            doc_types=_csv(query.doc_type),
            categories=_csv(query.category),
            issuing_body=query.issuing_body,
            issued_from=query.issued_from,
            issued_to=query.issued_to,
            unit_id=query.unit_id,
            sort=SORTS[query.sort],
            page_size=query.page_size,
            page_token=query.page_token,
        ),
    )
    return search_json(reply)


@routes.route("/documents", "GET", query=ListQuery, response=DocumentList,
              summary="List the documents you may see, newest first")
def list_documents(query: ListQuery) -> dict[str, Any]:
    reply = documents().ListDocuments(
        pb.ListDocumentsRequest(
            category=query.category,
            doc_type=query.doc_type,
            unit_id=query.unit_id,
            status=STATUSES.get(query.status, pb.DOCUMENT_STATUS_UNSPECIFIED),
            page_size=query.page_size,
            page_token=query.page_token,
        ),
    )
    return document_list_json(reply)


@routes.route("/documents/<document_id>", "GET", response=Document, summary="Read a document's metadata")
def get_document(document_id: str) -> dict[str, Any]:
    return document_json(documents().GetDocument(pb.GetDocumentRequest(id=document_id)).document)


@routes.route("/documents/<document_id>/versions", "GET", response=DocumentVersions,
              summary="The document's file versions, newest first")
def list_versions(document_id: str) -> dict[str, Any]:
    return to_json(
        documents().ListDocumentVersions(
            pb.ListDocumentVersionsRequest(document_id=document_id)
        )
    )


@routes.route(
    "/documents/<document_id>/view",
    "GET",
    query=VersionQuery,
    produces=["text/html"],
    summary="The document as a small HTML page (no script; for any phone)",
)
def view_document(document_id: str, query: VersionQuery) -> Response:
    reply = documents().GetDocumentView(
        pb.GetDocumentViewRequest(id=document_id, version=query.version)
    )
    response = Response(reply.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["Cache-Control"] = "private, max-age=60"
    return response


@routes.route(
    "/documents/<document_id>/download",
    "GET",
    query=VersionQuery,
    status=302,
    summary="Redirect to a short-lived download URL of the original file",
)
def download_document(document_id: str, query: VersionQuery) -> Response:
    reply = documents().GetDownloadUrl(
        pb.GetDownloadUrlRequest(id=document_id, version=query.version)
    )
    response = Response(status=302, headers={"Location": reply.url})
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.route(
    "/files/<token>",
    "GET",
    auth=False,
    produces=["application/octet-stream"],
    summary="A file behind a signed, expiring link (local file backend)",
)
def fetch_file(token: str) -> Response:
    first, body = relay_chunks(documents(long=True).FetchFile(pb.FetchFileRequest(token=token)), "file download")
    response = Response(body, mimetype=(first.content_type if first else "application/octet-stream"))
    if first is not None:
        from urllib.parse import quote

        response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(first.filename)}"
        response.headers["Content-Length"] = str(first.size)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.route("/documents/<document_id>/publish", "POST", response=Document, summary="Publish a draft to its audience")
def publish_document(document_id: str) -> dict[str, Any]:
    reply = documents().PublishDocument(pb.PublishDocumentRequest(id=document_id))
    return document_json(reply.document)


@routes.route(
    "/documents/<document_id>/submit",
    "POST",
    response=Document,
    summary="Send a draft for review (it is frozen until published or returned)",
)
def submit_document(document_id: str) -> dict[str, Any]:
    reply = documents().SubmitDocumentForReview(
        pb.SubmitDocumentForReviewRequest(id=document_id)
    )
    return document_json(reply.document)


@routes.route(
    "/documents/<document_id>/return",
    "POST",
    form=ReturnBody,
    response=Document,
    summary="Return a document in review to draft, saying what must change",
)
def return_document(document_id: str, form: ReturnBody) -> dict[str, Any]:
    reply = documents().ReturnDocumentToDraft(
        pb.ReturnDocumentToDraftRequest(id=document_id, note=form.note)
    )
    return document_json(reply.document)


@routes.route(
    "/units/<unit_id>/document-numbers",
    "GET",
    query=NumberQuery,
    response=NumberCheck,
    summary="Check a number against the issuing unit's register; the next free number",
)
def check_number(unit_id: str, query: NumberQuery) -> dict[str, Any]:
    reply = documents().CheckDocumentNumber(
        pb.CheckDocumentNumberRequest(
            unit_id=unit_id, number=query.number, doc_type=query.doc_type, issuer_code=query.issuer_code
        ),
    )
    return to_json(reply)


@routes.route(
    "/documents/<document_id>/withdraw",
    "POST",
    form=WithdrawBody,
    response=Document,
    summary="Withdraw a document (it leaves search; the history stays)",
)
def withdraw_document(document_id: str, form: WithdrawBody) -> dict[str, Any]:
    reply = documents().WithdrawDocument(
        pb.WithdrawDocumentRequest(id=document_id, reason=form.reason)
    )
    return document_json(reply.document)


@routes.route("/documents/<document_id>/study", "POST", response=Studied,
              summary="Mark the document as studied (học tập)")
def mark_studied(document_id: str) -> dict[str, Any]:
    return to_json(documents().MarkStudied(pb.MarkStudiedRequest(document_id=document_id)))


@routes.route(
    "/documents/<document_id>/study",
    "GET",
    query=StudyQuery,
    response=StudyStatus,
    summary="Who in a unit's subtree has and has not studied the document",
)
def study_status(document_id: str, query: StudyQuery) -> dict[str, Any]:
    filters = {"studied": pb.STUDY_FILTER_STUDIED, "not_studied": pb.STUDY_FILTER_NOT_STUDIED}
    reply = documents().ListStudyStatus(
        pb.ListStudyStatusRequest(
            document_id=document_id,
            unit_id=query.unit_id,
            filter=filters.get(query.filter, pb.STUDY_FILTER_UNSPECIFIED),
            page_size=query.page_size,
            page_token=query.page_token,
        ),
    )
    return to_json(reply)
