"""Bad input is a clear INVALID_ARGUMENT (or FAILED_PRECONDITION) with a reason - never INTERNAL -
and leaves nothing behind."""

from __future__ import annotations

import hashlib
import io
import zipfile

import grpc
import pytest
import sqlalchemy as sa

from services.core.errors import InvalidArgument
from services.documents import classification, files
from services.documents.numbers import parse_loose, parse_number
from tests.support.documents import docx_bytes, pdf_bytes, text_png
from tests.unit.documents.conftest import Stack, code_and_reason, upload

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"<w:document>" + b"A" * (40 * 1024 * 1024) + b"</w:document>")
    return out.getvalue()


def test_bad_files_are_refused_with_a_reason(stack: Stack) -> None:
    admin = stack.people.province_admin
    good_docx = docx_bytes(["Nội dung hợp lệ"])
    cases = {
        "empty_file": dict(data=b"", filename="x.txt"),
        "unsupported_file_type": dict(data=b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)) * 8, filename="a.exe"),
        "content_type_mismatch": dict(data=good_docx, filename="x", content_type="application/pdf"),
        "extension_mismatch": dict(data=good_docx, filename="nghi-quyet.pdf"),
        "corrupt_file": dict(data=b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage", filename="x.pdf"),
        "archive_bomb": dict(data=zip_bomb(), filename="bom.docx"),
        "checksum_mismatch": dict(data=b"van ban", filename="x.txt", sha256="0" * 64),
        "invalid_number": dict(data=good_docx, number="28/QC-TU"),
        "unknown_doc_type": dict(data=good_docx, number="28-XYZ/TU"),
        "doc_type_mismatch": dict(data=good_docx, number="28-QC/TU", doc_type="NQ"),
        "invalid_category": dict(data=good_docx, category="khac"),
        "invalid_date": dict(data=good_docx, issued_on="2025-13-40"),
        "title_required": dict(data=good_docx, title="  "),
        "idempotency_key_invalid": dict(data=good_docx, key="clé 1"),
        "idempotency_key_too_long": dict(data=good_docx, key="k" * 129),
        # A stream without its end message was cut short (gRPC ends the stream of a client that
        # went away as it ends a finished one); a size that differs from what arrived, too.
        "upload_incomplete": dict(data=good_docx, end=False),
    }
    truncated_docx = good_docx[: len(good_docx) // 2]
    cases["corrupt_docx"] = dict(data=truncated_docx, filename="x.docx")
    cases["upload_incomplete: fewer bytes than the end message says"] = dict(data=truncated_docx,
                                                                              end_size=len(good_docx))
    for case, kw in cases.items():
        reason = case.split(":")[0]
        data = kw.pop("data")
        code, got = code_and_reason(lambda d=data, k=kw: upload(stack, admin, d, **k))  # type: ignore[misc]
        assert code == INVALID, (reason, code, got)
        assert got == reason or (reason == "corrupt_docx" and got == "corrupt_file"), (reason, got)
    with stack.db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM documents")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM document_versions")).scalar_one() == 0


def test_file_over_the_limit(stack: Stack) -> None:
    big = b"a" * (50 * 1024 * 1024 + 1)
    code, reason = code_and_reason(
        lambda: upload(stack, stack.people.province_admin, big, filename="big.txt", chunk=1024 * 1024)
    )
    assert (code, reason) == (INVALID, "file_too_large")


def test_classified_documents_are_refused(stack: Stack) -> None:
    admin = stack.people.province_admin
    marked_text = "TỈNH ỦY LẠNG SƠN                MẬT\nSố 15-CV/TU\nVề việc triển khai nhiệm vụ".encode()
    cases = [
        dict(data=docx_bytes(["Nội dung"]), classification="Mật"),
        dict(data=docx_bytes(["Nội dung"]), title="TÀI LIỆU TỐI MẬT về quốc phòng"),
        dict(data=marked_text, filename="cv.txt"),
        dict(data=docx_bytes(["TUYỆT MẬT", "Kế hoạch A"]), filename="a.docx"),
        dict(data=docx_bytes(["Kế hoạch"], header="ĐỘ MẬT: TỐI MẬT"), filename="b.docx"),
        dict(
            data=pdf_bytes(["MẬT", "Báo cáo tình hình an ninh chính trị nội bộ trong toàn tỉnh năm 2025"] * 2),
            filename="c.pdf",
        ),
    ]
    for kw in cases:
        data = kw.pop("data")
        assert code_and_reason(lambda d=data, k=kw: upload(stack, admin, d, **k)) == (  # type: ignore[misc]
            INVALID,
            "classified_document",
        ), kw
    # Ordinary words are not markings.
    fine = upload(
        stack,
        admin,
        docx_bytes(["Bảo vệ bí mật nhà nước; đổi mật khẩu; quan hệ mật thiết."]),
        title="Chỉ thị về bảo vệ bí mật nhà nước",
        number="1-CT/TU",
    ).document
    assert fine.id


def test_path_traversal_in_the_file_name_is_only_a_display_name(stack: Stack) -> None:
    made = upload(
        stack, stack.people.province_admin, b"Thong bao noi bo", filename="../../etc/passwd\x00.txt", number="4-TB/TU"
    ).document
    assert made.version.filename == "passwd.txt"
    with stack.db.read() as conn:
        key = conn.execute(sa.text("SELECT blob_key FROM document_versions")).scalar_one()
    assert key.startswith(f"docs/{made.id}/v1-") and ".." not in key
    if stack.kind == "embedded":
        stored = list((stack.env and __import__("pathlib").Path(stack.env["DOCUMENTS_FILES_DIR"])).rglob("*"))
        assert all("passwd" not in str(p) for p in stored)


def test_numbers_and_types() -> None:
    assert parse_number("28-QC/TU").key == "28-qc/tu"
    n = parse_number("123-qđ/đu")
    assert (n.seq, n.doc_type, n.issuer, n.text) == (123, "QĐ", "ĐU", "123-QĐ/ĐU")
    assert parse_number("3055-CV/HU").doc_type == "CV"
    assert parse_number("15-QĐi/TW").doc_type == "QĐi"
    assert parse_number("7 - CTr / BCĐ-TU").text == "7-CTr/BCĐ-TU"
    for bad in ("28QC/TU", "-QC/TU", "0-QC/TU", "28-QC", "abc", "28-QC/TU/x y"):
        with pytest.raises(InvalidArgument):
            parse_number(bad)
    loose = parse_loose("28 qc tu")
    assert loose is not None and loose.key == "28-qc/tu"
    assert parse_loose("28-qc") is not None and parse_loose("nghi quyet") is None


def test_sniffing_and_markings() -> None:
    assert files.sniff(io.BytesIO(text_png(["x"]))) == files.PNG
    assert files.sniff(io.BytesIO(pdf_bytes(["x"]))) == files.PDF
    assert files.sniff(io.BytesIO("Văn bản thuần".encode())) == files.TEXT
    assert classification.marking_in_text("ĐẢNG BỘ TỈNH\nTỐI MẬT\nNội dung") == "toi mat"
    assert classification.marking_in_text("Giữ bí mật quốc gia\nMật khẩu") == ""
    assert hashlib.sha256(b"").hexdigest()
