"""The documents service through its gRPC API, on the embedded stack (SQLite, folder, FTS5)
and the production stack (PostgreSQL, S3, Elasticsearch - real servers)."""

from __future__ import annotations

import hashlib
import json
import urllib.request

import grpc
import pytest
import sqlalchemy as sa

from sotay.documents.v1 import documents_pb2 as pb
from tests.support.documents import docx_bytes, odt_bytes, pdf_bytes
from tests.unit.documents.conftest import Stack, add_version, code_and_reason, search, upload

NQ_TEXT = [
    "ĐẢNG BỘ TỈNH LẠNG SƠN",
    "NGHỊ QUYẾT về tăng cường công tác xây dựng, chỉnh đốn Đảng",
    "Nâng cao đạo đức cách mạng, chống biểu hiện suy thoái trong cán bộ, đảng viên.",
]


def fetch_download(stack: Stack, auth, doc_id: str, version: int = 0) -> bytes:  # type: ignore[no-untyped-def]
    link = stack.stub.GetDownloadUrl(pb.GetDownloadUrlRequest(id=doc_id, version=version), metadata=auth)
    if link.url.startswith("http"):
        with urllib.request.urlopen(link.url, timeout=10) as reply:
            return bytes(reply.read())
    token = link.url.rsplit("/", 1)[-1]
    return b"".join(m.chunk for m in stack.stub.FetchFile(pb.FetchFileRequest(token=token)))


def test_publish_search_read_and_download(stack: Stack) -> None:
    p = stack.people
    data = docx_bytes(NQ_TEXT)
    made = upload(stack, p.province_admin, data, number="05-NQ/TU").document
    assert made.status == pb.DOCUMENT_STATUS_PUBLISHED
    assert (made.number_seq, made.issuer_code, made.metadata.doc_type) == (5, "TU", "NQ")
    assert made.version.sha256 == hashlib.sha256(data).hexdigest()
    assert made.version.extraction_state == pb.EXTRACTION_STATE_DONE
    stack.index_now()
    for query in ("nghi quyet", "dao duc cach mang", "Đảng", "05-NQ/TU", "5 nq tu", "05-nq"):
        found = search(stack, p.member_a, query)
        assert [h.id for h in found.hits][:1] == [made.id], query
    hit = search(stack, p.member_b, "dao duc").hits[0]
    assert any("<mark>" in f for h in hit.highlights for f in h.fragments)
    view = stack.stub.GetDocumentView(pb.GetDocumentViewRequest(id=made.id), metadata=p.member_b).html
    assert "<script" not in view and "đạo đức cách mạng" in view and 'name="viewport"' in view
    assert view.count("<main>") == 1 and view.index("<main>") < view.index("<h1>")  # a landmark to jump to
    assert fetch_download(stack, p.member_a, made.id) == data


def test_a_commune_document_never_reaches_another_commune(stack: Stack) -> None:
    p = stack.people
    secret = upload(
        stack,
        p.editor_a,
        docx_bytes(["Kế hoạch riêng của xã A về đạo đức"]),
        unit_id=p.commune_a,
        title="Kế hoạch của Đảng ủy xã A",
        number="12-KH/ĐU",
        issuing_body="Đảng ủy xã A",
    ).document
    public = upload(
        stack,
        p.province_admin,
        docx_bytes(["Thông báo chung về đạo đức"]),
        number="3-TB/TU",
        title="Thông báo của Tỉnh ủy",
        category="thong-bao-noi-bo",
    ).document
    stack.index_now()
    assert {h.id for h in search(stack, p.member_a, "dao duc").hits} == {secret.id, public.id}
    for query in ("", "dao duc", "ke hoach xa a", "12-KH/ĐU", "12 kh du"):
        result = search(stack, p.member_b, query)
        assert secret.id not in [h.id for h in result.hits]
        assert "xã A" not in str(result) and "KH" not in [c.value for f in result.facets for c in f.counts]
    assert search(stack, p.member_b, "ke hoach xa a").total_size == 0
    assert search(stack, p.member_b, "").total_size == 1
    for call in (
        lambda: stack.stub.GetDocument(pb.GetDocumentRequest(id=secret.id), metadata=p.member_b),
        lambda: stack.stub.GetDocumentView(pb.GetDocumentViewRequest(id=secret.id), metadata=p.member_b),
        lambda: stack.stub.GetDownloadUrl(pb.GetDownloadUrlRequest(id=secret.id), metadata=p.member_b),
        lambda: stack.stub.MarkStudied(pb.MarkStudiedRequest(document_id=secret.id), metadata=p.member_b),
    ):
        assert code_and_reason(call) == (grpc.StatusCode.NOT_FOUND, "document_not_found")
    listed = stack.stub.ListDocuments(pb.ListDocumentsRequest(), metadata=p.member_b)
    assert [d.id for d in listed.documents] == [public.id] and listed.total_size == 1
    # The commune's editor cannot publish for the sibling commune or the province.
    for unit in (p.commune_b, stack.identity.root_id):
        assert (
            code_and_reason(lambda u=unit: upload(stack, p.editor_a, b"x", unit_id=u))[0]
            == grpc.StatusCode.PERMISSION_DENIED
        )
    assert code_and_reason(lambda: upload(stack, p.member_a, b"x", unit_id=p.cell_a)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "not_allowed",
    )


def test_chosen_audience_inside_the_subtree(stack: Stack) -> None:
    p = stack.people
    made = upload(
        stack,
        p.province_admin,
        b"Chi thi gui rieng xa B",
        filename="ct.txt",
        number="7-CT/TU",
        audience=(p.commune_b,),
        title="Chỉ thị gửi xã B",
    ).document
    assert list(made.audience_unit_ids) == [p.commune_b]
    stack.index_now()
    assert search(stack, p.member_b, "chi thi").total_size == 1
    assert search(stack, p.member_a, "chi thi").total_size == 0
    outside = code_and_reason(
        lambda: upload(stack, p.editor_a, b"x", filename="x.txt", unit_id=p.commune_a, audience=(p.cell_b,))
    )
    assert outside == (grpc.StatusCode.INVALID_ARGUMENT, "audience_outside_unit")


def test_draft_publish_withdraw_and_events(stack: Stack) -> None:
    p = stack.people
    draft = upload(
        stack,
        p.editor_a,
        odt_bytes(["Dự thảo chương trình hành động"]),
        filename="ctr.odt",
        unit_id=p.commune_a,
        number="2-CTr/ĐU",
        title="Chương trình hành động",
        publish=False,
    ).document
    assert draft.status == pb.DOCUMENT_STATUS_DRAFT
    stack.index_now()
    assert search(stack, p.member_a, "chuong trinh").total_size == 0
    assert (
        code_and_reason(lambda: stack.stub.GetDocument(pb.GetDocumentRequest(id=draft.id), metadata=p.member_a))[0]
        == grpc.StatusCode.NOT_FOUND
    )
    assert search(stack, p.editor_a, "").total_size == 0  # drafts are not in the search index
    listed = stack.stub.ListDocuments(pb.ListDocumentsRequest(status=pb.DOCUMENT_STATUS_DRAFT), metadata=p.editor_a)
    assert [d.id for d in listed.documents] == [draft.id]
    stack.stub.PublishDocument(pb.PublishDocumentRequest(id=draft.id), metadata=p.editor_a)
    stack.index_now()
    assert [h.id for h in search(stack, p.member_a, "chuong trinh hanh dong").hits] == [draft.id]
    with stack.db.read() as conn:
        events = conn.execute(
            sa.text("SELECT topic, payload FROM outbox WHERE topic LIKE 'documents.document.%'")
        ).all()
    assert [e.topic for e in events] == ["documents.document.published"]
    payload = json.loads(events[0].payload)
    assert set(payload) == {
        "document_id",
        "title",
        "number",
        "doc_type",
        "category",
        "audience_unit_ids",
        "publisher_unit_id",
        "published_at",
    }
    assert payload["number"] == "2-CTr/ĐU" and payload["audience_unit_ids"] == [p.commune_a]
    assert isinstance(payload["published_at"], float)
    stack.stub.WithdrawDocument(pb.WithdrawDocumentRequest(id=draft.id, reason="thay thế"), metadata=p.editor_a)
    stack.index_now()
    assert search(stack, p.member_a, "chuong trinh").total_size == 0


def test_new_version_keeps_history(stack: Stack) -> None:
    p = stack.people
    first = upload(
        stack,
        p.province_admin,
        pdf_bytes(["Kế hoạch tổ chức đại hội chi bộ, bản đầu tiên."] * 3),
        filename="kh.pdf",
        number="40-KH/TU",
        title="Kế hoạch đại hội",
    ).document
    assert first.version.text_source == "text_layer"
    second = add_version(
        stack, p.province_admin, first.id, docx_bytes(["Kế hoạch sửa đổi: bầu cử trực tiếp."]), note="sửa đổi"
    ).document
    assert second.current_version == 2
    versions = stack.stub.ListDocumentVersions(
        pb.ListDocumentVersionsRequest(document_id=first.id), metadata=p.member_a
    ).versions
    assert [v.version for v in versions] == [2, 1] and versions[1].filename == "kh.pdf"
    stack.index_now()
    assert [h.id for h in search(stack, p.member_a, "bau cu truc tiep").hits] == [first.id]
    assert search(stack, p.member_a, "ban dau tien").total_size == 0
    old = stack.stub.GetDocumentView(pb.GetDocumentViewRequest(id=first.id, version=1), metadata=p.member_a).html
    assert "bản đầu tiên" in old
    assert fetch_download(stack, p.member_a, first.id, 1).startswith(b"%PDF")
    with stack.db.read() as conn:
        added = conn.execute(sa.text("SELECT payload FROM outbox WHERE topic = 'documents.document.version_added'"))
        assert [json.loads(r.payload)["version"] for r in added] == [2]


def test_retried_upload_is_recorded_once(stack: Stack) -> None:
    p = stack.people
    data = docx_bytes(["Thông báo kết luận hội nghị"])
    one = upload(stack, p.province_admin, data, key="retry-1", number="9-TB/TU")
    two = upload(stack, p.province_admin, data, key="retry-1", number="9-TB/TU")
    assert two.replayed and two.document.id == one.document.id
    with stack.db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM documents")).scalar_one() == 1
    # Without a key an upload is not idempotent: each one is a new document.
    three = upload(stack, p.province_admin, data, key="", number="10-TB/TU")
    four = upload(stack, p.province_admin, data, key="", number="11-TB/TU")
    assert not (three.replayed or four.replayed) and three.document.id != four.document.id
    # A key stored by the release before (upload_requests) is still honoured during a rolling update.
    with stack.db.write() as conn:
        conn.execute(sa.text("DELETE FROM idempotency_keys"))
    again = upload(stack, p.province_admin, data, key="retry-1", number="9-TB/TU")
    assert again.replayed and again.document.id == one.document.id


def test_resolution_study_per_unit(stack: Stack) -> None:
    p = stack.people
    made = upload(stack, p.province_admin, docx_bytes(NQ_TEXT), number="11-NQ/TU").document
    at = stack.stub.MarkStudied(pb.MarkStudiedRequest(document_id=made.id), metadata=p.member_a).studied_at
    again = stack.stub.MarkStudied(pb.MarkStudiedRequest(document_id=made.id), metadata=p.member_a).studied_at
    assert at == again
    assert stack.stub.GetDocument(pb.GetDocumentRequest(id=made.id), metadata=p.member_a).document.studied
    # The province admin's account has no member: refused as in meetings and notifications.
    assert code_and_reason(
        lambda: stack.stub.MarkStudied(pb.MarkStudiedRequest(document_id=made.id), metadata=p.province_admin)
    ) == (grpc.StatusCode.PERMISSION_DENIED, "not_a_member")
    with stack.db.read() as conn:  # for the reports: once, however often it is marked
        marked = conn.execute(sa.text("SELECT payload FROM outbox WHERE topic = 'documents.study.marked'")).all()
    assert [json.loads(m.payload)["member_id"] for m in marked] == [p.member_a_id]
    report = stack.stub.ListStudyStatus(
        pb.ListStudyStatusRequest(document_id=made.id, unit_id=p.commune_a), metadata=p.editor_a
    )
    assert (report.total_members, report.total_studied) == (3, 1)
    assert [(u.unit_id, u.members, u.studied) for u in report.units] == [(p.cell_a, 3, 1)]
    pending = stack.stub.ListStudyStatus(
        pb.ListStudyStatusRequest(document_id=made.id, unit_id=p.commune_a, filter=pb.STUDY_FILTER_NOT_STUDIED),
        metadata=p.editor_a,
    )
    assert p.member_a_id not in [e.member_id for e in pending.entries] and len(pending.entries) == 2
    assert (
        code_and_reason(
            lambda: stack.stub.ListStudyStatus(
                pb.ListStudyStatusRequest(document_id=made.id, unit_id=p.commune_b), metadata=p.editor_a
            )
        )[0]
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert (
        code_and_reason(
            lambda: stack.stub.ListStudyStatus(
                pb.ListStudyStatusRequest(document_id=made.id, unit_id=p.commune_a), metadata=p.member_a
            )
        )[0]
        == grpc.StatusCode.PERMISSION_DENIED
    )


def test_a_moved_unit_takes_its_documents_to_the_new_managers(stack: Stack) -> None:
    """Communes merge: a grassroots committee moves from commune A to commune B (identity
    MoveUnit); the `units` worker re-roots the publisher chains of its documents, so commune B's
    editors manage them and commune A's no longer do."""
    from services.core.outbox import relay_once, service_consumer
    from services.documents import merges, store
    from sotay.identity.v1 import identity_pb2 as ipb

    p, ident = stack.people, stack.identity
    admin = p.province_admin
    grassroots = ident.stub.CreateUnit(
        ipb.CreateUnitRequest(name="Đảng bộ trường THCS", kind=ipb.UNIT_KIND_GRASSROOTS, parent_id=p.commune_a),
        metadata=admin,
    ).unit.id
    editor_b = ident.stub.CreateMember(
        ipb.CreateMemberRequest(
            unit_id=p.cell_b,
            fields=ipb.MemberFields(
                full_name="Biên tập viên xã B", phone="0911000009", party_card_number="C0911000009"
            ),
            initial_password="mat-khau-dang-vien",
        ),
        metadata=admin,
    ).member
    ident.stub.GrantRole(
        ipb.GrantRoleRequest(account_id=editor_b.account_id, role=ipb.ROLE_EDITOR, unit_id=p.commune_b),
        metadata=admin,
    )
    editor_b_auth = ident.token("0911000009", "mat-khau-dang-vien")
    doc = upload(
        stack, admin, docx_bytes(["Kế hoạch của Đảng bộ trường"]), unit_id=grassroots, number="7-KH/ĐU",
        title="Kế hoạch năm học của Đảng bộ trường",
    ).document
    other = upload(stack, p.editor_a, docx_bytes(["Thông báo của xã A"]), unit_id=p.commune_a, number="8-TB/ĐU")
    stack.index_now()
    assert doc.id in {h.id for h in search(stack, p.editor_a, "").hits}
    assert doc.id not in {h.id for h in search(stack, editor_b_auth, "").hits}

    ident.stub.MoveUnit(ipb.MoveUnitRequest(id=grassroots, new_parent_id=p.commune_b), metadata=admin)
    relay_once(ident.db, "identity")
    consumer = service_consumer(stack.db, "identity", merges.handle.topics, merges.handle)
    assert consumer.poll_once() == 1
    assert consumer.poll_once() == 0  # applied once
    stack.index_now()

    with stack.db.read() as conn:
        moved, untouched = store.get(conn, doc.id), store.get(conn, other.document.id)
    assert set(moved.publisher_chain) == {ident.root_id, p.commune_b, grassroots}
    assert set(untouched.publisher_chain) == {ident.root_id, p.commune_a}
    assert doc.id in {h.id for h in search(stack, editor_b_auth, "").hits}
    assert doc.id not in {h.id for h in search(stack, p.editor_a, "").hits}
    assert other.document.id in {h.id for h in search(stack, p.editor_a, "").hits}


def test_an_audience_of_many_units_is_stored_whole(stack: Stack) -> None:
    """The audience rows go in multi-row statements of a bounded size (parameter limits)."""
    from services.documents import store

    audience = [f"unit-{i:05d}" for i in range(2 * store.UNITS_PER_INSERT + 7)]
    doc_id = upload(stack, stack.people.province_admin, docx_bytes(["Rộng"])).document.id
    with stack.db.write() as conn:
        store.set_units(conn, doc_id, audience, ["root"])
    with stack.db.read() as conn:
        rows = conn.execute(sa.text("SELECT rel, COUNT(*) FROM document_units GROUP BY rel ORDER BY rel")).all()
    assert [tuple(r) for r in rows] == [("a", len(audience)), ("p", 1)]


def _cell_role(stack: Stack, auth: list[tuple[str, str]], phone: str, unit_id: str) -> list[tuple[str, str]]:
    """The account behind `auth` made secretary of `unit_id`; its new token."""
    from sotay.identity.v1 import identity_pb2 as ipb

    me = stack.identity.stub.GetMe(ipb.GetMeRequest(), metadata=auth)
    stack.identity.stub.GrantRole(
        ipb.GrantRoleRequest(account_id=me.account_id, role=ipb.ROLE_CELL_SECRETARY, unit_id=unit_id),
        metadata=stack.people.province_admin,
    )
    return stack.identity.token(phone, "mat-khau-dang-vien")


def test_a_cell_secretary_publishes_for_the_cell_only(stack: Stack) -> None:
    p = stack.people
    secretary = _cell_role(stack, p.member_a, "0911000002", p.cell_a)
    draft = upload(stack, secretary, odt_bytes(["Dự thảo nghị quyết chi bộ tháng ba"]), filename="nq.odt",
                   unit_id=p.cell_a, number="3-NQ/CB", title="Dự thảo nghị quyết tháng 3", publish=False).document
    # The cell's draft: its secretary and the commune's editor list it; members see it once published.
    drafts = lambda auth: [d.id for d in stack.stub.ListDocuments(  # noqa: E731
        pb.ListDocumentsRequest(status=pb.DOCUMENT_STATUS_DRAFT), metadata=auth).documents]
    assert drafts(secretary) == [draft.id] and drafts(p.editor_a) == [draft.id] and drafts(p.member_a2) == []
    stack.stub.PublishDocument(pb.PublishDocumentRequest(id=draft.id), metadata=secretary)
    stack.index_now()
    assert [h.id for h in search(stack, p.member_a2, "du thao nghi quyet chi bo").hits] == [draft.id]
    assert search(stack, p.member_b, "du thao nghi quyet chi bo").total_size == 0
    assert add_version(stack, secretary, draft.id, odt_bytes(["Nghị quyết chi bộ tháng ba (bản ký)"]),
                       filename="nq-ky.odt").document.current_version == 2

    # Nothing above the cell, nor a sibling's or another commune's cell.
    for unit in (p.commune_a, stack.identity.root_id, p.cell_b):
        refused = code_and_reason(lambda u=unit: upload(stack, secretary, odt_bytes(["x"]), filename="x.odt",  # type: ignore[misc]
                                                        unit_id=u, number="4-NQ/CB"))
        assert refused == (grpc.StatusCode.PERMISSION_DENIED, "not_allowed"), unit
    # The commune's document addressed to the cell: read, not managed.
    commune = upload(stack, p.editor_a, odt_bytes(["Kế hoạch của Đảng ủy xã"]), filename="kh.odt",
                     unit_id=p.commune_a, number="5-KH/ĐU").document
    assert code_and_reason(lambda: stack.stub.WithdrawDocument(
        pb.WithdrawDocumentRequest(id=commune.id, reason="x"), metadata=secretary)) == (
        grpc.StatusCode.PERMISSION_DENIED, "not_allowed")
    stack.stub.WithdrawDocument(pb.WithdrawDocumentRequest(id=draft.id, reason="thay bằng bản khác"),
                                metadata=secretary)

    # A cell role granted on a commune publishes nothing, not even for the commune's cells.
    upper = _cell_role(stack, p.member_b, "0911000004", p.commune_b)
    for unit in (p.commune_b, p.cell_b):
        refused = code_and_reason(lambda u=unit: upload(stack, upper, odt_bytes(["y"]), filename="y.odt",  # type: ignore[misc]
                                                        unit_id=u, number="6-NQ/CB"))
        assert refused == (grpc.StatusCode.PERMISSION_DENIED, "not_allowed"), unit


def test_a_subtree_over_the_names_limit_is_reported_per_child_unit(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A province's 240,000 members are not listed by name: above DOCUMENTS_STUDY_NAMES_MAX (2 here)
    the report gives each child unit's subtree, the figures a by-name report would give."""
    p = stack.people
    made = upload(stack, p.province_admin, docx_bytes(NQ_TEXT), number="12-NQ/TU").document
    for who in (p.member_a, p.member_b):
        stack.stub.MarkStudied(pb.MarkStudiedRequest(document_id=made.id), metadata=who)

    def status(unit_id: str, auth: list[tuple[str, str]] = p.province_admin) -> pb.ListStudyStatusResponse:
        return stack.stub.ListStudyStatus(pb.ListStudyStatusRequest(document_id=made.id, unit_id=unit_id),
                                          metadata=auth)

    by_name = status(stack.identity.root_id)
    assert not by_name.by_child_unit and (by_name.total_members, by_name.total_studied) == (4, 2)
    monkeypatch.setenv("DOCUMENTS_STUDY_NAMES_MAX", "2")
    province = status(stack.identity.root_id)
    assert province.by_child_unit and not province.entries
    assert (province.total_members, province.total_studied) == (4, 2)
    assert sorted((u.unit_id, u.members, u.studied) for u in province.units) == sorted(
        [(p.commune_a, 3, 1), (p.commune_b, 1, 1)])
    commune = status(p.commune_a, p.editor_a)  # 3 members: per cell too
    assert commune.by_child_unit and [(u.unit_id, u.members, u.studied) for u in commune.units] == [(p.cell_a, 3, 1)]
    cell = status(p.cell_a, p.editor_a)  # a cell is always named, whatever its size
    assert not cell.by_child_unit and len(cell.entries) == 3 and cell.total_studied == 1

    # Addressed to part of the big subtree: no figure rather than a wrong one.
    part = upload(stack, p.province_admin, docx_bytes(NQ_TEXT), number="13-NQ/TU", audience=(p.commune_a,)).document
    assert code_and_reason(lambda: stack.stub.ListStudyStatus(
        pb.ListStudyStatusRequest(document_id=part.id, unit_id=stack.identity.root_id),
        metadata=p.province_admin)) == (grpc.StatusCode.FAILED_PRECONDITION, "study_unit_too_large")
    inside = stack.stub.ListStudyStatus(pb.ListStudyStatusRequest(document_id=part.id, unit_id=p.commune_a),
                                        metadata=p.editor_a)  # asked where it is addressed: figures again
    assert inside.by_child_unit and [(u.unit_id, u.members, u.studied) for u in inside.units] == [(p.cell_a, 3, 0)]
