"""The committee publishes: documents (an upload form checked against the unit's number register,
then draft -> review -> published, with the text extraction / OCR state shown) and bulletins
(sanitised rich text, scheduled, pinned, withdrawn; read statistics per unit with who has not
read). Plain forms: the upload is a multipart form, every action a button."""

from __future__ import annotations

import datetime as dt
import html
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
from flask import Response, abort, request
from google.protobuf.timestamp_pb2 import Timestamp
from werkzeug.datastructures import FileStorage

from gateway.routes.documents import MAX_DOCUMENT_BYTES, MULTIPART_SLACK, documents
from gateway.routes.notifications import svc as notifications
from gateway.web.auth import form_error
from gateway.web.base import TIMEZONE, bp, login_required, page_token, render
from gateway.web.bulletins import KINDS
from gateway.web.committee import ID_RE, Place, back_to, children, place
from gateway.web.documents import CATEGORIES
from gateway.web.i18n import N_, _
from gateway.web.meetings import form_key, given_key
from services.core.errors import error_info
from services.documents.numbers import DOC_TYPES
from sotay.documents.v1 import documents_pb2 as dpb
from sotay.identity.v1 import identity_pb2 as ipb
from sotay.notifications.v1 import notifications_pb2 as npb

CHUNK = 1024 * 1024
FIELDS = ("title", "number", "category", "issued_on", "issuing_body", "signer", "summary")
STATUS_LABELS = {
    dpb.DOCUMENT_STATUS_DRAFT: N_("Draft"),
    dpb.DOCUMENT_STATUS_REVIEW: N_("In review"),
    dpb.DOCUMENT_STATUS_PUBLISHED: N_("Published (state)"),
    dpb.DOCUMENT_STATUS_WITHDRAWN: N_("Withdrawn"),
}
STATUS_FILTERS = {
    "draft": dpb.DOCUMENT_STATUS_DRAFT,
    "review": dpb.DOCUMENT_STATUS_REVIEW,
    "published": dpb.DOCUMENT_STATUS_PUBLISHED,
    "withdrawn": dpb.DOCUMENT_STATUS_WITHDRAWN,
}
EXTRACTION_LABELS = {
    dpb.EXTRACTION_STATE_DONE: N_("Text extracted"),
    dpb.EXTRACTION_STATE_OCR_PENDING: N_("Waiting for text recognition (OCR)"),
    dpb.EXTRACTION_STATE_OCR_RUNNING: N_("Text recognition (OCR) running"),
    dpb.EXTRACTION_STATE_OCR_DONE: N_("Text recognised (OCR)"),
    dpb.EXTRACTION_STATE_FAILED: N_("Text could not be read"),
    dpb.EXTRACTION_STATE_REFUSED_CLASSIFIED: N_("Refused: classified marking found"),
}
BULLETIN_STATES = {
    npb.BULLETIN_STATE_SCHEDULED: N_("Scheduled"),
    npb.BULLETIN_STATE_PUBLISHED: N_("Shown to members"),
    npb.BULLETIN_STATE_EXPIRED: N_("Expired"),
    npb.BULLETIN_STATE_WITHDRAWN: N_("Withdrawn"),
}
EDITABLE_KINDS = {k: v for k, v in KINDS.items() if k != npb.BULLETIN_KIND_DOCUMENT}


# ---------- documents ----------


UPLOAD_FORMS = ("web.committee_upload", "web.upload_for_meeting", "web.publish_resolution")


@bp.before_app_request
def allow_document_files() -> None:
    """The upload form takes a document file, not the JSON body limit (runs before the CSRF check,
    which reads the form)."""
    if request.endpoint in UPLOAD_FORMS and request.method == "POST":
        request.max_content_length = MAX_DOCUMENT_BYTES + MULTIPART_SLACK


@bp.route("/committee/documents")
@login_required
def committee_documents() -> Response:
    where = place()
    shown = request.args.get("status", "")
    shown = shown if shown in STATUS_FILTERS else ""
    reply = documents().ListDocuments(dpb.ListDocumentsRequest(
        unit_id=where.id, status=STATUS_FILTERS.get(shown, dpb.DOCUMENT_STATUS_UNSPECIFIED), page_size=20,
        page_token=page_token()))
    return render("committee_documents.html", place=where, reply=reply, shown=shown, statuses=STATUS_LABELS,
                  filters=STATUS_FILTERS, extraction=EXTRACTION_LABELS)


# The usual issuer symbol of a unit that has registered no number yet (HD 36-HD/VPTW).
ISSUERS = {
    ipb.UNIT_KIND_PROVINCE: "TU",
    ipb.UNIT_KIND_COMMUNE: "ĐU",
    ipb.UNIT_KIND_DIRECT_COMMITTEE: "ĐU",
    ipb.UNIT_KIND_GRASSROOTS: "ĐU",
    ipb.UNIT_KIND_CELL: "CB",
}


def number_check(unit_id: str, number: str, doc_type: str, issuer: str = "") -> dpb.CheckDocumentNumberResponse:
    return documents().CheckDocumentNumber(dpb.CheckDocumentNumberRequest(
        unit_id=unit_id, number=number, doc_type=doc_type, issuer_code=issuer))


def proposed_number(unit_id: str, kind: ipb.UnitKind.ValueType, doc_type: str) -> dpb.CheckDocumentNumberResponse:
    """The next free number of the type: with the unit's last issuer, else its kind's usual one."""
    found = number_check(unit_id, "", doc_type)
    if not found.next_number and kind in ISSUERS:
        found = number_check(unit_id, "", doc_type, ISSUERS[kind])
    return found


def _upload_form(
    where: Place, values: dict[str, str], status: int = 200, error: str = "", check: Any = None
) -> Response:
    doc_type = values.get("doc_type") or "NQ"
    proposed = proposed_number(where.id, where.unit.kind, doc_type)
    values.setdefault("number", proposed.next_number)
    values.setdefault("category", "van-kien-tu-lieu")
    return render("committee_upload.html", status=status, place=where, error=error, check=check, values=values,
                  proposed=proposed, doc_types=DOC_TYPES, doc_type=doc_type, categories=CATEGORIES,
                  subunits=children(where.id), chosen=set(request.form.getlist("audience")), key=form_key())


def file_requests(header: dpb.UploadHeader, upload: FileStorage) -> Iterator[dpb.UploadDocumentRequest]:
    """An uploaded form file as the UploadDocument stream: the header, 1 MiB chunks, the end."""
    yield dpb.UploadDocumentRequest(header=header)
    size = 0
    while block := upload.stream.read(CHUNK):
        size += len(block)
        yield dpb.UploadDocumentRequest(chunk=block)
    yield dpb.UploadDocumentRequest(end=dpb.UploadEnd(size=size))


def number_taken(meta: dict[str, str], number: str) -> str:
    """The refusal of a number the unit's register already holds, with the next free one."""
    return _("Number %(number)s is already registered by this unit. The next free number is %(next)s.") % {
        "number": meta.get("number", number), "next": meta.get("next_number", "")}


@bp.route("/committee/documents/new", methods=["GET", "POST"])
@login_required
def committee_upload() -> Response:
    where = place()
    if request.method == "GET":
        return _upload_form(where, {"doc_type": request.args.get("doc_type", "")[:5]})
    values = {name: request.form.get(name, "").strip()[:4000] for name in FIELDS}
    values["doc_type"] = request.form.get("doc_type", "")[:5]
    action = request.form.get("action", "draft")
    try:
        if action == "check":  # the number alone, against the register
            if not values["number"]:
                return _upload_form(where, values, 400, _("Please enter the document's number."))
            found = number_check(where.id, values["number"], "")
            return _upload_form(where, values, check=found)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            return _upload_form(where, values, 400, _("Please choose the document's file."))
        header = dpb.UploadHeader(
            idempotency_key=given_key(),
            metadata=dpb.DocumentMetadata(**{k: values[k] for k in FIELDS}),
            unit_id=where.id,
            audience_unit_ids=[u for u in request.form.getlist("audience")[:500] if ID_RE.fullmatch(u)],
            publish=action == "publish",
            filename=upload.filename,
            content_type=upload.mimetype or "",
        )
        made = documents(long=True).UploadDocument(file_requests(header, upload)).document
        if action == "review":
            documents().SubmitDocumentForReview(dpb.SubmitDocumentForReviewRequest(id=made.id))
    except grpc.RpcError as exc:
        reason, meta = error_info(exc)
        if reason == "number_taken":
            text = number_taken(meta, values["number"])
            values["number"] = meta.get("next_number", "") or values["number"]
            return _upload_form(where, values, 409, text + " " + _("Please check it and choose the file again."))
        shown = form_error(exc)
        if shown is None:
            raise
        return _upload_form(where, values, shown[0], shown[1] + " " + _("Please choose the file again."))
    return back_to("web.committee_document", document_id=made.id, unit=where.id, done=action)


@bp.route("/committee/documents/<document_id>", methods=["GET", "POST"])
@login_required
def committee_document(document_id: str) -> Response:
    if not ID_RE.fullmatch(document_id):
        abort(404)
    where = place()
    stub = documents()
    error, status = "", 200
    if request.method == "POST":
        action = request.form.get("action", "")
        note = request.form.get("note", "").strip()[:1000]
        try:
            if action == "review":
                stub.SubmitDocumentForReview(dpb.SubmitDocumentForReviewRequest(id=document_id))
            elif action == "return":
                stub.ReturnDocumentToDraft(dpb.ReturnDocumentToDraftRequest(id=document_id, note=note))
            elif action == "publish":
                stub.PublishDocument(dpb.PublishDocumentRequest(id=document_id))
            elif action == "withdraw":
                stub.WithdrawDocument(dpb.WithdrawDocumentRequest(id=document_id, reason=note))
            else:
                abort(400)
            return back_to("web.committee_document", document_id=document_id, unit=where.id, done=action)
        except grpc.RpcError as exc:
            shown = form_error(exc)
            if shown is None:
                raise
            status, error = shown
    doc = stub.GetDocument(dpb.GetDocumentRequest(id=document_id)).document
    return render("committee_document.html", status=status, place=where, doc=doc, error=error,
                  statuses=STATUS_LABELS, extraction=EXTRACTION_LABELS, category=CATEGORIES.get(doc.metadata.category),
                  done=request.args.get("done", ""))


# ---------- bulletins ----------


def _local(value: str) -> Timestamp | None:
    """A datetime-local field (Vietnam's time) as a timestamp; None when empty or malformed."""
    try:
        moment = dt.datetime.fromisoformat(value).replace(tzinfo=TIMEZONE)
    except ValueError:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(dt.UTC))
    return stamp


def rich_text(raw: str) -> str:
    """What the editor typed: HTML is kept (the service sanitises it); plain text becomes
    paragraphs (a blank line) and line breaks."""
    if "<" in raw and ">" in raw:
        return raw
    paragraphs = [p.strip() for p in raw.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join("<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>" for p in paragraphs)


@bp.route("/committee/bulletins")
@login_required
def committee_bulletins() -> Response:
    where = place()
    reply = notifications().ListBulletins(npb.ListBulletinsRequest(
        unit_id=where.id, include_withdrawn=True, page_size=20, page_token=page_token()))
    return render("committee_bulletins.html", place=where, reply=reply, states=BULLETIN_STATES, kinds=KINDS)


def _bulletin_form(where: Place, values: dict[str, Any], status: int = 200, error: str = "") -> Response:
    return render("committee_bulletin_new.html", status=status, place=where, error=error, values=values,
                  kinds=EDITABLE_KINDS, subunits=children(where.id), chosen=set(request.form.getlist("audience")),
                  key=form_key())


@bp.route("/committee/bulletins/new", methods=["GET", "POST"])
@login_required
def committee_bulletin_new() -> Response:
    where = place()
    if request.method == "GET":
        return _bulletin_form(where, {})
    values: dict[str, Any] = {
        name: request.form.get(name, "")[:200_000] for name in ("title", "body", "publish_at", "expires_at")
    }
    values["kind"] = request.form.get("kind", "")
    values["pinned"] = bool(request.form.get("pinned"))
    kind = int(values["kind"]) if values["kind"].isdigit() and int(values["kind"]) in EDITABLE_KINDS else 0
    if not values["title"].strip() or not values["body"].strip():
        return _bulletin_form(where, values, 400, _("Please write a title and the content."))
    publish_at, expires_at = _local(values["publish_at"]), _local(values["expires_at"])
    if (values["publish_at"] and publish_at is None) or (values["expires_at"] and expires_at is None):
        return _bulletin_form(where, values, 400, _("The date is not valid."))
    req = npb.CreateBulletinRequest(
        publisher_unit_id=where.id, kind=kind or npb.BULLETIN_KIND_BULLETIN, title=values["title"][:300],  # type: ignore[arg-type]
        body_html=rich_text(values["body"]), pinned=values["pinned"], idempotency_key=given_key(),
        audience_unit_ids=[u for u in request.form.getlist("audience")[:500] if ID_RE.fullmatch(u)],
    )
    if publish_at is not None:
        req.publish_at.CopyFrom(publish_at)
    if expires_at is not None:
        req.expires_at.CopyFrom(expires_at)
    try:
        made = notifications().CreateBulletin(req).bulletin
    except grpc.RpcError as exc:
        shown = form_error(exc)
        if shown is None:
            raise
        return _bulletin_form(where, values, shown[0], shown[1])
    return back_to("web.committee_bulletin", bulletin_id=made.id, unit=where.id, done="created")


@bp.route("/committee/bulletins/<bulletin_id>", methods=["GET", "POST"])
@login_required
def committee_bulletin(bulletin_id: str) -> Response:
    if not ID_RE.fullmatch(bulletin_id):
        abort(404)
    where = place()
    stub = notifications()
    error, status = "", 200
    if request.method == "POST":
        action = request.form.get("action", "")
        try:
            if action in ("pin", "unpin"):
                stub.UpdateBulletin(npb.UpdateBulletinRequest(id=bulletin_id, set_pinned=True, pinned=action == "pin"))
            elif action == "withdraw":
                stub.WithdrawBulletin(npb.WithdrawBulletinRequest(
                    id=bulletin_id, reason=request.form.get("reason", "").strip()[:500]))
            else:
                abort(400)
            return back_to("web.committee_bulletin", bulletin_id=bulletin_id, unit=where.id, done=action)
        except grpc.RpcError as exc:
            shown = form_error(exc)
            if shown is None:
                raise
            status, error = shown
    found = stub.GetBulletin(npb.GetBulletinRequest(id=bulletin_id)).bulletin
    of_unit = request.args.get("of", "")
    of_unit = of_unit if ID_RE.fullmatch(of_unit) else ""
    stats = None
    if found.state != npb.BULLETIN_STATE_SCHEDULED:
        stats = stub.GetBulletinReadStats(npb.GetBulletinReadStatsRequest(
            bulletin_id=bulletin_id, unit_id=of_unit, unread_only=True, page_size=100, page_token=page_token()))
    return render("committee_bulletin.html", status=status, place=where, b=found, stats=stats, error=error,
                  states=BULLETIN_STATES, kinds=KINDS, done=request.args.get("done", ""), new_key=uuid.uuid4().hex)
