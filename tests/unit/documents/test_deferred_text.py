"""Text work off the request path, and what must still happen on it.

- The classification stamp is looked for on upload in the top of the text, which extract_top
  gives exactly as the whole extraction would: a marked file is refused there and then.
- The whole text of a big file is extracted by the background worker afterwards.
- A scan (only OCR can read it) is not published until OCR has said its text is clean.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from collections.abc import Callable
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from services.documents import classification, extract, files
from services.documents.ocr import OCR_ATTEMPTS, ocr_once
from services.documents.storage import make_blob_store
from sotay.documents.v1 import documents_pb2 as pb
from tests.support.documents import docx_bytes, image_pdf_bytes, odt_bytes, pdf_bytes, text_png
from tests.unit.documents.conftest import Stack, code_and_reason, search, upload

WORDS = " ".join(
    [
        "nghị quyết đảng bộ chi bộ đảng viên xây dựng chỉnh đốn đạo đức cách mạng học tập làm theo tư tưởng",
        "phong cách Hồ Chí Minh kinh tế xã hội quốc phòng an ninh nông thôn mới chuyển đổi số dân vận",
    ]
).split(" ")
STAMPS = ["TỐI MẬT", "ĐỘ MẬT: TUYỆT MẬT", "TỈNH ỦY LẠNG SƠN                MẬT"]


def paragraphs(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        words = rng.choices(WORDS, k=rng.randint(20, 60))
        out.append(" ".join(words).capitalize() + ".")
    return out


BIG = paragraphs(400)  # about 100 KB of text: more than extract.INLINE_TEXT_BYTES
ENDING = "Đoạn kết: phát triển kinh tế biên mậu bền vững"


def as_file(kind: str, paras: list[str], header: str = "") -> tuple[bytes, str]:
    if kind == "txt":
        return "\n".join(([header] if header else []) + paras).encode(), "van-ban.txt"
    if kind == "utf16":
        return "\r\n".join(([header] if header else []) + paras).encode("utf-16"), "van-ban.txt"
    if kind == "docx":
        return docx_bytes(paras, header=header), "van-ban.docx"
    if kind == "odt":
        return odt_bytes(([header] if header else []) + paras), "van-ban.odt"
    raise AssertionError(kind)


# ---------------------------------------------------------------- extract_top is exact


@pytest.mark.parametrize("kind", ["txt", "utf16", "docx", "odt"])
@pytest.mark.parametrize("size", [3, 40, 400])
@pytest.mark.parametrize("stamp_at", [None, 0, 2, 12, 60])
def test_top_of_the_text_is_exactly_the_start_of_the_whole_text(kind: str, size: int, stamp_at: int | None) -> None:
    paras = paragraphs(size, seed=size)
    if stamp_at is not None and stamp_at <= len(paras):
        paras.insert(stamp_at, STAMPS[stamp_at % len(STAMPS)])
    data, _ = as_file(kind, paras)
    detected = files.sniff(io.BytesIO(data))
    top = extract.extract_top(detected, io.BytesIO(data), classification.HEAD_CHARS)
    whole = extract.extract(detected, io.BytesIO(data))
    assert whole.text.startswith(top.text)
    assert top.complete or len(top.text) >= classification.HEAD_CHARS
    assert top == whole if top.complete else not whole.needs_ocr
    assert classification.marking_in_text(top.text) == classification.marking_in_text(whole.text)
    if size == 400:
        assert not top.complete and len(top.text) < len(whole.text) // 10  # the point: far less work


def test_top_of_a_pdf_and_its_stamp() -> None:
    lines = [" ".join(p.split()[:12]) for p in paragraphs(200)]
    for pdf in (pdf_bytes(lines), pdf_bytes(["MẬT", *lines])):
        top = extract.extract_top(files.PDF, io.BytesIO(pdf), classification.HEAD_CHARS)
        whole = extract.extract(files.PDF, io.BytesIO(pdf))
        assert not top.complete and whole.text.startswith(top.text) and whole.source == "text_layer"
        assert classification.marking_in_text(top.text) == classification.marking_in_text(whole.text)
    assert classification.marking_in_text(extract.extract_top(files.PDF, io.BytesIO(pdf), 1500).text) == "mat"


def test_odt_paragraph_text_is_extracted() -> None:
    got = extract.extract(files.ODT, io.BytesIO(odt_bytes(["Nghị quyết về công tác dân vận", "Đoạn hai"])))
    assert got.text == "Nghị quyết về công tác dân vận\nĐoạn hai"


def test_receive_hashes_in_one_pass() -> None:
    data = b"van ban " * 100_000
    with files.receive(iter([data[:300_000], data[300_000:]]), 10**8) as got:
        assert got.sha256 == hashlib.sha256(data).hexdigest()
        assert got.size == len(data) and got.spool.read() == data


# ---------------------------------------------------------------- through the service


def _states(stack: Stack, doc_id: str) -> tuple[str, str]:
    with stack.db.read() as conn:
        row = conn.execute(
            sa.text(
                "SELECT d.status, v.extraction_state FROM documents d JOIN document_versions v "
                "ON v.document_id = d.id AND v.version = d.current_version WHERE d.id = :d"
            ),
            {"d": doc_id},
        ).one()
    return row.status, row.extraction_state


def _published_events(stack: Stack, doc_id: str) -> int:
    with stack.db.read() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM outbox WHERE topic = 'documents.document.published' AND key = :d"),
                {"d": doc_id},
            ).scalar_one()
        )


@pytest.mark.parametrize("kind", ["txt", "docx", "odt"])
def test_a_big_file_is_published_at_once_and_its_whole_text_extracted_in_the_background(
    stack: Stack, kind: str
) -> None:
    p = stack.people
    data, name = as_file(kind, ["NGHỊ QUYẾT về chuyển đổi số", *BIG, ENDING])
    made = upload(stack, p.province_admin, data, filename=name, number="31-NQ/TU").document
    assert made.status == pb.DOCUMENT_STATUS_PUBLISHED
    assert made.version.extraction_state == pb.EXTRACTION_STATE_UNSPECIFIED  # not extracted yet
    assert _states(stack, made.id) == ("published", "text_pending")
    view = stack.stub.GetDocumentView(pb.GetDocumentViewRequest(id=made.id), metadata=p.member_a).html
    assert "đang được chuẩn bị" in view and ENDING not in view
    stack.index_now()  # the text worker, the relay and the indexer
    got = stack.stub.GetDocument(pb.GetDocumentRequest(id=made.id), metadata=p.member_a).document
    assert got.version.extraction_state == pb.EXTRACTION_STATE_DONE
    assert got.version.text_source == {"txt": "plain"}.get(kind, kind) and got.version.text_chars > 50_000
    assert [h.id for h in search(stack, p.member_a, "bien mau ben vung").hits] == [made.id]
    view = stack.stub.GetDocumentView(pb.GetDocumentViewRequest(id=made.id), metadata=p.member_a).html
    assert ENDING in view and "đang được chuẩn bị" not in view
    assert _published_events(stack, made.id) == 1


def test_big_classified_files_are_refused_on_upload(stack: Stack) -> None:
    admin = stack.people.province_admin
    cases = [
        as_file("txt", BIG, header="TỐI MẬT"),
        as_file("utf16", [*BIG[:5], "TUYỆT MẬT", *BIG[5:]]),
        as_file("docx", [*BIG[:3], "MẬT", *BIG[3:]]),
        as_file("docx", BIG, header="ĐỘ MẬT: TỐI MẬT"),
        as_file("odt", ["ĐẢNG BỘ TỈNH LẠNG SƠN                MẬT", *BIG]),
    ]
    for data, name in cases:
        kind = files.sniff(io.BytesIO(data))
        assert not extract.extract_top(kind, io.BytesIO(data), classification.HEAD_CHARS).complete  # top only
        assert code_and_reason(lambda d=data, n=name: upload(stack, admin, d, filename=n)) == (  # type: ignore[misc]
            grpc.StatusCode.INVALID_ARGUMENT,
            "classified_document",
        ), name
    with stack.db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM document_versions")).scalar_one() == 0


def _cut_docx(paras: list[str]) -> bytes:
    """A DOCX whose text is fine at the top and broken further down."""
    whole = docx_bytes(paras)
    with zipfile.ZipFile(io.BytesIO(whole)) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    parts["word/document.xml"] = parts["word/document.xml"].replace(b"</w:body></w:document>", b"<w:p><w:r><w:t>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in parts.items():
            z.writestr(name, content)
    return out.getvalue()


def test_a_file_damaged_past_its_top_keeps_its_file_but_has_no_text(stack: Stack) -> None:
    p = stack.people
    made = upload(stack, p.province_admin, _cut_docx(BIG), filename="hong.docx", number="8-TB/TU").document
    assert made.status == pb.DOCUMENT_STATUS_PUBLISHED
    stack.index_now()
    got = stack.stub.GetDocument(pb.GetDocumentRequest(id=made.id), metadata=p.member_a).document
    assert got.version.extraction_state == pb.EXTRACTION_STATE_FAILED and got.version.extraction_error
    view = stack.stub.GetDocumentView(pb.GetDocumentViewRequest(id=made.id), metadata=p.member_a).html
    assert "Không trích xuất được" in view


# ---------------------------------------------------------------- scans wait for OCR


@pytest.fixture
def fake_ocr(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """OCR without Tesseract: returns `text`, or raises when `fail` is set."""
    state: dict[str, Any] = {"text": "", "fail": False, "calls": 0}

    def ocr(kind: str, path: Any, timeout: float = 600.0) -> str:
        state["calls"] += 1
        if state["fail"]:
            raise extract.OcrUnavailable("tesseract is not installed")
        return str(state["text"])

    monkeypatch.setattr(extract, "ocr", ocr)
    return state


def _invisible_to_member(stack: Stack, doc_id: str) -> bool:
    member = stack.people.member_a
    stack.index_now()
    hidden = code_and_reason(
        lambda: stack.stub.GetDocument(pb.GetDocumentRequest(id=doc_id), metadata=member)
    ) == (grpc.StatusCode.NOT_FOUND, "document_not_found")
    listed = [d.id for d in stack.stub.ListDocuments(pb.ListDocumentsRequest(), metadata=member).documents]
    return hidden and doc_id not in listed and doc_id not in [h.id for h in search(stack, member, "").hits]


def test_a_scan_is_published_only_once_ocr_finds_its_text_clean(stack: Stack, fake_ocr: dict[str, Any]) -> None:
    admin, member = stack.people.province_admin, stack.people.member_a
    made = upload(stack, admin, text_png(["NGHỊ QUYẾT"]), filename="scan.png", number="40-NQ/TU").document
    assert made.status == pb.DOCUMENT_STATUS_DRAFT  # held: asked to publish, not checked yet
    assert made.version.extraction_state == pb.EXTRACTION_STATE_OCR_PENDING
    assert _invisible_to_member(stack, made.id) and _published_events(stack, made.id) == 0
    again = stack.stub.PublishDocument(pb.PublishDocumentRequest(id=made.id), metadata=admin).document
    assert again.status == pb.DOCUMENT_STATUS_DRAFT and _invisible_to_member(stack, made.id)
    fake_ocr["text"] = "NGHỊ QUYẾT\nVề công tác dân vận của Đảng trong tình hình mới"
    assert ocr_once(stack.db, make_blob_store())
    got = stack.stub.GetDocument(pb.GetDocumentRequest(id=made.id), metadata=member).document
    assert got.status == pb.DOCUMENT_STATUS_PUBLISHED and got.version.extraction_state == pb.EXTRACTION_STATE_OCR_DONE
    stack.index_now()
    assert [h.id for h in search(stack, member, "cong tac dan van").hits] == [made.id]
    assert _published_events(stack, made.id) == 1


def test_a_classified_scan_is_never_published(stack: Stack, fake_ocr: dict[str, Any]) -> None:
    admin = stack.people.province_admin
    made = upload(stack, admin, text_png(["TỐI MẬT"]), filename="mat.png", number="41-KH/TU").document
    assert made.status == pb.DOCUMENT_STATUS_DRAFT and _invisible_to_member(stack, made.id)
    fake_ocr["text"] = "TỐI MẬT\nKế hoạch bảo vệ"
    assert ocr_once(stack.db, make_blob_store())
    got = stack.stub.GetDocument(pb.GetDocumentRequest(id=made.id), metadata=admin).document
    assert got.status == pb.DOCUMENT_STATUS_WITHDRAWN
    assert got.version.extraction_state == pb.EXTRACTION_STATE_REFUSED_CLASSIFIED
    assert _invisible_to_member(stack, made.id) and _published_events(stack, made.id) == 0
    assert code_and_reason(
        lambda: stack.stub.PublishDocument(pb.PublishDocumentRequest(id=made.id), metadata=admin)
    ) == (grpc.StatusCode.FAILED_PRECONDITION, "document_withdrawn")
    with stack.db.read() as conn:
        key = conn.execute(sa.text("SELECT blob_key FROM document_versions WHERE document_id = :d"), {"d": made.id})
        assert not make_blob_store().exists(key.scalar_one())


def test_a_scan_uploaded_as_a_draft_stays_a_draft(stack: Stack, fake_ocr: dict[str, Any]) -> None:
    made = upload(stack, stack.people.province_admin, text_png(["x"]), filename="a.png", publish=False).document
    fake_ocr["text"] = "Thông báo"
    assert ocr_once(stack.db, make_blob_store())
    assert _states(stack, made.id) == ("draft", "ocr_done")


def test_when_ocr_fails_an_editor_decides(stack: Stack, fake_ocr: dict[str, Any]) -> None:
    admin = stack.people.province_admin
    made = upload(stack, admin, text_png(["x"]), filename="b.png", number="42-TB/TU").document
    fake_ocr["fail"] = True
    for _ in range(OCR_ATTEMPTS):
        assert ocr_once(stack.db, make_blob_store())
    assert _states(stack, made.id) == ("draft", "failed") and _invisible_to_member(stack, made.id)
    published = stack.stub.PublishDocument(pb.PublishDocumentRequest(id=made.id), metadata=admin).document
    assert published.status == pb.DOCUMENT_STATUS_PUBLISHED
    with stack.db.read() as conn:
        event = conn.execute(
            sa.text("SELECT payload FROM outbox WHERE topic = 'documents.document.published' AND key = :d"),
            {"d": made.id},
        ).scalar_one()
    assert json.loads(event)["number"] == "42-TB/TU"


def test_a_clean_new_version_releases_a_held_publication(stack: Stack, fake_ocr: dict[str, Any]) -> None:
    from tests.unit.documents.conftest import add_version

    admin = stack.people.province_admin
    made = upload(stack, admin, text_png(["x"]), filename="c.png", number="43-TB/TU").document
    assert made.status == pb.DOCUMENT_STATUS_DRAFT
    got = add_version(stack, admin, made.id, docx_bytes(["Bản đánh máy của thông báo"])).document
    assert got.status == pb.DOCUMENT_STATUS_PUBLISHED and got.current_version == 2
    assert _published_events(stack, made.id) == 1


def _version_events(stack: Stack, doc_id: str) -> list[int]:
    with stack.db.read() as conn:
        rows = conn.execute(
            sa.text("SELECT payload FROM outbox WHERE topic = 'documents.document.version_added' AND key = :d"),
            {"d": doc_id},
        ).scalars()
        return [json.loads(r)["version"] for r in rows]


def test_a_scanned_new_version_of_a_published_document_waits_for_its_check(
    stack: Stack, fake_ocr: dict[str, Any]
) -> None:
    from tests.unit.documents.conftest import add_version

    admin, member = stack.people.province_admin, stack.people.member_a
    first = docx_bytes(["Thông báo kết luận, bản đánh máy"])
    made = upload(stack, admin, first, number="44-TB/TU").document
    assert made.status == pb.DOCUMENT_STATUS_PUBLISHED

    # A scan as version 2: members keep version 1 until OCR has checked it.
    got = add_version(stack, admin, made.id, text_png(["THÔNG BÁO"]), filename="scan.png").document
    assert (got.status, got.current_version, got.pending_version) == (pb.DOCUMENT_STATUS_PUBLISHED, 1, 2)
    seen = stack.stub.GetDocument(pb.GetDocumentRequest(id=made.id), metadata=member).document
    assert (seen.current_version, seen.version.sha256) == (1, hashlib.sha256(first).hexdigest())
    for call in (
        lambda: stack.stub.GetDownloadUrl(pb.GetDownloadUrlRequest(id=made.id, version=2), metadata=member),
        lambda: stack.stub.GetDocumentView(pb.GetDocumentViewRequest(id=made.id, version=2), metadata=member),
    ):
        assert code_and_reason(call) == (grpc.StatusCode.NOT_FOUND, "version_not_found")
    listed = stack.stub.ListDocumentVersions(pb.ListDocumentVersionsRequest(document_id=made.id), metadata=member)
    assert [v.version for v in listed.versions] == [1]
    managed = stack.stub.ListDocumentVersions(pb.ListDocumentVersionsRequest(document_id=made.id), metadata=admin)
    assert [v.version for v in managed.versions] == [2, 1]
    assert _version_events(stack, made.id) == []

    fake_ocr["text"] = "THÔNG BÁO\nKết luận của Ban Thường vụ"
    assert ocr_once(stack.db, make_blob_store())
    now = stack.stub.GetDocument(pb.GetDocumentRequest(id=made.id), metadata=member).document
    assert (now.current_version, now.pending_version) == (2, 0)
    assert now.version.extraction_state == pb.EXTRACTION_STATE_OCR_DONE
    assert _version_events(stack, made.id) == [2]


def test_a_marked_scan_as_new_version_is_refused_alone(stack: Stack, fake_ocr: dict[str, Any]) -> None:
    from tests.unit.documents.conftest import add_version

    admin, member = stack.people.province_admin, stack.people.member_a
    made = upload(stack, admin, docx_bytes(["Kế hoạch tuyên truyền"]), number="45-KH/TU").document
    add_version(stack, admin, made.id, text_png(["MẬT"]), filename="mat.png")
    fake_ocr["text"] = "MẬT\nKế hoạch"
    assert ocr_once(stack.db, make_blob_store())
    seen = stack.stub.GetDocument(pb.GetDocumentRequest(id=made.id), metadata=member).document
    assert (seen.status, seen.current_version, seen.pending_version) == (pb.DOCUMENT_STATUS_PUBLISHED, 1, 0)
    with stack.db.read() as conn:
        row = conn.execute(
            sa.text("SELECT blob_key, extraction_state FROM document_versions WHERE document_id = :d AND version = 2"),
            {"d": made.id},
        ).one()
    assert row.extraction_state == "refused_classified" and not make_blob_store().exists(row.blob_key)
    # The next version is numbered after the refused one and becomes current at once (a text file).
    got = add_version(stack, admin, made.id, docx_bytes(["Kế hoạch tuyên truyền, bản sửa"])).document
    assert (got.current_version, got.pending_version) == (3, 0)
    assert _version_events(stack, made.id) == [3]


def test_a_real_scan_is_read_by_tesseract_and_a_marked_one_refused(make_stack: Callable[..., Any]) -> None:
    if not __import__("shutil").which("tesseract"):
        pytest.skip("tesseract-ocr is not installed")
    with make_stack("embedded") as s:
        admin = s.people.province_admin
        scan = image_pdf_bytes(["NGHỊ QUYẾT", "Về công tác dân vận của Đảng", "trong tình hình mới"])
        made = upload(s, admin, scan, filename="scan.pdf", number="25-NQ/TU").document
        assert made.version.extraction_state == pb.EXTRACTION_STATE_OCR_PENDING
        assert ocr_once(s.db, make_blob_store())
        got = s.stub.GetDocument(pb.GetDocumentRequest(id=made.id), metadata=admin).document
        assert got.version.extraction_state == pb.EXTRACTION_STATE_OCR_DONE and got.version.text_source == "ocr"
        s.index_now()
        assert [h.id for h in search(s, s.people.member_a, "dan van").hits] == [made.id]
        secret = upload(
            s, admin, image_pdf_bytes(["TỐI MẬT", "Kế hoạch bảo vệ"]), filename="m.pdf", number="26-KH/TU"
        ).document
        assert ocr_once(s.db, make_blob_store())
        refused = s.stub.GetDocument(pb.GetDocumentRequest(id=secret.id), metadata=admin).document
        assert refused.version.extraction_state == pb.EXTRACTION_STATE_REFUSED_CLASSIFIED
        assert refused.status == pb.DOCUMENT_STATUS_WITHDRAWN
        with s.db.read() as conn:
            key = conn.execute(
                sa.text("SELECT blob_key FROM document_versions WHERE document_id = :d"), {"d": secret.id}
            ).scalar_one()
        assert not make_blob_store().exists(key)
