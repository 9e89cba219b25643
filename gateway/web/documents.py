"""The library: documents by category and publishing unit, search, a page per document with
the reader (the documents service's HTML view, by a normal link), the original's download and
the "I have studied this" mark; a cell's secretary withdraws a document of the cell published by
mistake (the documents service decides who may)."""

from __future__ import annotations

from typing import Any

import grpc
from flask import Response, redirect, request, url_for

from gateway.routes.documents import documents
from gateway.web import staff
from gateway.web.auth import form_error
from gateway.web.base import PAGE, bp, login_required, my_units, page_token, render
from gateway.web.i18n import N_, _
from sotay.documents.v1 import documents_pb2 as dpb

CATEGORIES = {
    "hoc-tap-nghi-quyet": N_("Studying resolutions"),
    "van-kien-tu-lieu": N_("Documents and records"),
    "thong-bao-noi-bo": N_("Internal bulletins"),
    "chuyen-de": N_("Thematic studies"),
    "tin-tuc": N_("News"),
}
# The reader is the service's own page: no script, inline styles only.
VIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@bp.route("/documents")
@login_required
def library() -> Response:
    query = request.args.get("q", "").strip()[:200]
    category = request.args.get("category", "")
    category = category if category in CATEGORIES else ""
    units = my_units()
    unit_id = request.args.get("unit", "")
    unit_id = unit_id if unit_id in {u.id for u in units} else ""
    stub = documents()
    context: dict[str, Any] = {}
    if query:
        reply = stub.SearchDocuments(dpb.SearchDocumentsRequest(
            query=query, categories=[category] if category else [], unit_id=unit_id,
            page_size=PAGE, page_token=page_token()))
        context.update(hits=reply.hits, total=reply.total_size, next_page=reply.next_page_token)
    else:
        listed = stub.ListDocuments(dpb.ListDocumentsRequest(
            category=category, unit_id=unit_id, status=dpb.DOCUMENT_STATUS_PUBLISHED,
            page_size=PAGE, page_token=page_token()))
        context.update(docs=listed.documents, total=listed.total_size, next_page=listed.next_page_token)
    return render("library.html", q=query, category=category, categories=CATEGORIES, units=units,
                  unit_id=unit_id, unit_names={u.id: u.name for u in units}, **context)


@bp.route("/documents/<document_id>")
@login_required
def document(document_id: str, status: int = 200, error: str = "") -> Response:
    found = documents().GetDocument(dpb.GetDocumentRequest(id=document_id)).document
    return render("document.html", status=status, error=error, doc=found,
                  category=CATEGORIES.get(found.metadata.category, ""), done=request.args.get("done", ""),
                  follows_study=bool(staff.study_units()), cell_officer=found.unit_id in staff.meeting_cells())


@bp.route("/documents/<document_id>/withdraw", methods=["POST"])
@login_required
def withdraw(document_id: str) -> Response:
    """A cell's own document withdrawn by its secretary or deputy; the reason is kept in the record."""
    reason = " ".join(request.form.get("reason", "").split())[:500]
    if not reason:
        return document(document_id, 400, _("Please say why the document is withdrawn."))
    try:
        documents().WithdrawDocument(dpb.WithdrawDocumentRequest(id=document_id, reason=reason))
    except grpc.RpcError as exc:
        shown = form_error(exc)
        if shown is None:
            raise
        return document(document_id, *shown)
    return redirect(url_for("web.document", document_id=document_id, done="withdrawn"), code=303)  # type: ignore[return-value]


@bp.route("/documents/<document_id>/read")
@login_required
def read(document_id: str) -> Response:
    """The document's text as the documents service renders it: a small page, no script."""
    reply = documents().GetDocumentView(dpb.GetDocumentViewRequest(id=document_id))
    response = Response(reply.html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = VIEW_CSP
    return response


@bp.route("/documents/<document_id>/download")
@login_required
def download(document_id: str) -> Response:
    """To the original file's short-lived link (S3, or the gateway's signed /api/v1/files/...)."""
    raw = request.args.get("version", "")
    version = int(raw) if raw.isdigit() and len(raw) < 7 else 0  # 0: the current version
    reply = documents().GetDownloadUrl(dpb.GetDownloadUrlRequest(id=document_id, version=version))
    return redirect(reply.url, code=303)  # type: ignore[return-value]


@bp.route("/documents/<document_id>/study", methods=["POST"])
@login_required
def study(document_id: str) -> Response:
    documents().MarkStudied(dpb.MarkStudiedRequest(document_id=document_id))
    return redirect(url_for("web.document", document_id=document_id, done="studied"), code=303)  # type: ignore[return-value]
