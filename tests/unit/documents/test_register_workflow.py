"""The number register of each issuing unit and the draft -> review -> published workflow,
through the gRPC API on both stacks (SQLite + folder + FTS5; PostgreSQL + S3 + Elasticsearch)."""

from __future__ import annotations

import threading

import grpc
import sqlalchemy as sa

from services.core.errors import error_info
from sotay.documents.v1 import documents_pb2 as pb
from tests.support.documents import docx_bytes
from tests.unit.documents.conftest import Stack, add_version, code_and_reason, upload

TEXT = docx_bytes(["Quyết định của Đảng ủy xã A về công tác kiểm tra"])


def check(stack: Stack, auth: list[tuple[str, str]], unit_id: str, **kw: str) -> pb.CheckDocumentNumberResponse:
    return stack.stub.CheckDocumentNumber(pb.CheckDocumentNumberRequest(unit_id=unit_id, **kw), metadata=auth)


def test_a_number_is_taken_once_per_issuing_unit(stack: Stack) -> None:
    p = stack.people
    first = upload(stack, p.editor_a, TEXT, unit_id=p.commune_a, number="12-QĐ/ĐU").document
    assert first.metadata.number == "12-QĐ/ĐU"
    # The same number typed loosely (no accents, lower case) is the same register entry.
    try:
        upload(stack, p.editor_a, TEXT, unit_id=p.commune_a, number="12-qd/du", publish=False)
        raise AssertionError("a duplicate number was accepted")
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.ALREADY_EXISTS  # type: ignore[attr-defined]
        reason, meta = error_info(exc)
        assert reason == "number_taken"
        assert (meta["next_number"], meta["document_id"]) == ("13-QĐ/ĐU", first.id)
        assert "13-QĐ/ĐU" in exc.details()  # type: ignore[attr-defined]
    # Another unit keeps its own register.
    other = upload(stack, p.province_admin, TEXT, unit_id=p.commune_b, number="12-QĐ/ĐU").document
    assert other.unit_id == p.commune_b
    with stack.db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM documents")).scalar_one() == 2
    taken = check(stack, p.editor_a, p.commune_a, number="12-qđ/đu")
    assert (taken.available, taken.taken_by_document_id, taken.number) == (False, first.id, "12-QĐ/ĐU")
    assert (taken.next_number, taken.last_seq) == ("13-QĐ/ĐU", 12)
    free = check(stack, p.editor_a, p.commune_a, number="13-QĐ/ĐU")
    assert free.available and not free.taken_by_document_id
    # Without a number: the next one of a type, with the issuer the unit used last.
    assert check(stack, p.editor_a, p.commune_a, doc_type="QĐ").next_number == "13-QĐ/ĐU"
    assert check(stack, p.editor_a, p.commune_a, doc_type="CV").next_number == "01-CV/ĐU"
    assert check(stack, p.editor_a, p.commune_a, doc_type="TB", issuer_code="btc").next_number == "01-TB/BTC"


def test_next_number_follows_the_highest_and_drafts_free_theirs(stack: Stack) -> None:
    p = stack.people
    for seq in (1, 2, 5):
        upload(stack, p.editor_a, TEXT, unit_id=p.commune_a, number=f"{seq}-CV/ĐU")
    assert check(stack, p.editor_a, p.commune_a, doc_type="CV").next_number == "06-CV/ĐU"
    draft = upload(stack, p.editor_a, TEXT, unit_id=p.commune_a, number="6-CV/ĐU", publish=False).document
    assert not check(stack, p.editor_a, p.commune_a, number="6-CV/ĐU").available
    # A draft renumbered frees its old number and takes the new one (refused if taken).
    meta = pb.DocumentMetadata(title="Công văn", number="7-CV/ĐU", category="van-kien-tu-lieu")
    stack.stub.UpdateDocument(pb.UpdateDocumentRequest(id=draft.id, metadata=meta), metadata=p.editor_a)
    assert check(stack, p.editor_a, p.commune_a, number="6-CV/ĐU").available
    assert not check(stack, p.editor_a, p.commune_a, number="7-CV/ĐU").available
    meta.number = "5-CV/ĐU"
    assert code_and_reason(
        lambda: stack.stub.UpdateDocument(pb.UpdateDocumentRequest(id=draft.id, metadata=meta), metadata=p.editor_a)
    ) == (grpc.StatusCode.ALREADY_EXISTS, "number_taken")
    # Withdrawn unpublished: the number is free again. Withdrawn after publishing: it stays taken.
    stack.stub.WithdrawDocument(pb.WithdrawDocumentRequest(id=draft.id), metadata=p.editor_a)
    assert check(stack, p.editor_a, p.commune_a, number="7-CV/ĐU").available
    published = upload(stack, p.editor_a, TEXT, unit_id=p.commune_a, number="8-CV/ĐU").document
    stack.stub.WithdrawDocument(pb.WithdrawDocumentRequest(id=published.id, reason="thay thế"), metadata=p.editor_a)
    assert not check(stack, p.editor_a, p.commune_a, number="8-CV/ĐU").available
    assert check(stack, p.editor_a, p.commune_a, doc_type="CV").next_number == "09-CV/ĐU"


def test_concurrent_uploads_of_one_number_store_one_document(stack: Stack) -> None:
    p = stack.people
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def one() -> None:
        start.wait()
        try:
            upload(stack, p.editor_a, TEXT, unit_id=p.commune_a, number="30-KH/ĐU")
            outcomes.append("stored")
        except grpc.RpcError as exc:
            outcomes.append(error_info(exc)[0])

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["number_taken"] * 5 + ["stored"]
    with stack.db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM documents WHERE number = '30-KH/ĐU'")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM document_numbers WHERE seq = 30")).scalar_one() == 1
    assert check(stack, p.editor_a, p.commune_a, doc_type="KH").next_number == "31-KH/ĐU"


def test_register_refuses_bad_input_and_other_units(stack: Stack) -> None:
    p = stack.people
    assert code_and_reason(lambda: check(stack, p.editor_a, p.commune_a, number="số 12")) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid_number",
    )
    assert code_and_reason(lambda: check(stack, p.editor_a, p.commune_a, doc_type="XYZ")) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "unknown_doc_type",
    )
    assert code_and_reason(lambda: check(stack, p.editor_a, p.commune_b, doc_type="NQ"))[0] == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    assert code_and_reason(lambda: check(stack, p.member_a, p.cell_a, doc_type="NQ"))[0] == (
        grpc.StatusCode.PERMISSION_DENIED
    )


def test_draft_review_published_workflow(stack: Stack) -> None:
    p = stack.people
    doc = upload(stack, p.editor_a, TEXT, unit_id=p.commune_a, number="40-HD/ĐU", publish=False).document
    assert doc.status == pb.DOCUMENT_STATUS_DRAFT
    submit = lambda auth: stack.stub.SubmitDocumentForReview(  # noqa: E731
        pb.SubmitDocumentForReviewRequest(id=doc.id), metadata=auth
    )
    back = lambda auth, note: stack.stub.ReturnDocumentToDraft(  # noqa: E731
        pb.ReturnDocumentToDraftRequest(id=doc.id, note=note), metadata=auth
    )
    # Only the issuing unit's editors and admins move it; others do not even see it.
    assert code_and_reason(lambda: submit(p.member_a))[0] == grpc.StatusCode.NOT_FOUND
    assert code_and_reason(lambda: submit(p.member_b))[0] == grpc.StatusCode.NOT_FOUND
    assert code_and_reason(lambda: back(p.editor_a, "sửa"))[1] == "invalid_transition"  # a draft is not in review
    in_review = submit(p.editor_a).document
    assert in_review.status == pb.DOCUMENT_STATUS_REVIEW
    assert submit(p.editor_a).document.status == pb.DOCUMENT_STATUS_REVIEW  # repeated: no change
    # In review it is frozen and still unseen by members.
    meta = pb.DocumentMetadata(title="Hướng dẫn mới", number="40-HD/ĐU", category="van-kien-tu-lieu")
    assert code_and_reason(
        lambda: stack.stub.UpdateDocument(pb.UpdateDocumentRequest(id=doc.id, metadata=meta), metadata=p.editor_a)
    ) == (grpc.StatusCode.FAILED_PRECONDITION, "not_a_draft")
    assert code_and_reason(lambda: add_version(stack, p.editor_a, doc.id, TEXT)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "in_review",
    )
    assert code_and_reason(
        lambda: stack.stub.GetDocument(pb.GetDocumentRequest(id=doc.id), metadata=p.member_a)
    )[0] == grpc.StatusCode.NOT_FOUND
    listed = stack.stub.ListDocuments(
        pb.ListDocumentsRequest(unit_id=p.commune_a, status=pb.DOCUMENT_STATUS_REVIEW), metadata=p.editor_a
    )
    assert [d.id for d in listed.documents] == [doc.id]
    # Returned with a note (required), edited, submitted again, published.
    assert code_and_reason(lambda: back(p.editor_a, "  ")) == (grpc.StatusCode.INVALID_ARGUMENT, "note_required")
    returned = back(p.editor_a, "Sửa lại trích yếu").document
    assert (returned.status, returned.review_note) == (pb.DOCUMENT_STATUS_DRAFT, "Sửa lại trích yếu")
    stack.stub.UpdateDocument(pb.UpdateDocumentRequest(id=doc.id, metadata=meta), metadata=p.editor_a)
    submit(p.editor_a)
    published = stack.stub.PublishDocument(pb.PublishDocumentRequest(id=doc.id), metadata=p.editor_a).document
    assert published.status == pb.DOCUMENT_STATUS_PUBLISHED and published.metadata.title == "Hướng dẫn mới"
    seen = stack.stub.GetDocument(pb.GetDocumentRequest(id=doc.id), metadata=p.member_a).document
    assert seen.status == pb.DOCUMENT_STATUS_PUBLISHED
    assert code_and_reason(lambda: submit(p.editor_a)) == (grpc.StatusCode.FAILED_PRECONDITION, "invalid_transition")
