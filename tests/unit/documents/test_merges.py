"""Communes merged in identity: their documents follow (services/documents/merges.py), on the
embedded backends and on PostgreSQL + Elasticsearch."""

from __future__ import annotations

from services.core.outbox import relay_once, service_consumer
from services.documents import merges, store
from sotay.identity.v1 import identity_pb2 as ipb
from tests.support.documents import docx_bytes
from tests.unit.documents.conftest import Stack, search, upload


def test_documents_of_a_merged_commune_follow_it(stack: Stack) -> None:
    p, ident = stack.people, stack.identity
    admin = p.province_admin
    issued = upload(stack, p.editor_a, docx_bytes(["Kế hoạch của xã A"]), unit_id=p.commune_a,
                    number="11-KH/ĐU", title="Kế hoạch xã A").document
    both = upload(stack, admin, docx_bytes(["Hướng dẫn cho hai xã"]), unit_id=ident.root_id,
                  audience=(p.commune_a, p.commune_b), number="12-HD/TU", title="Hướng dẫn hai xã").document
    stack.index_now()
    assert issued.id not in {h.id for h in search(stack, p.member_b, "").hits}

    ident.stub.MergeUnits(ipb.MergeUnitsRequest(source_id=p.commune_a, target_id=p.commune_b), metadata=admin)
    relay_once(ident.db, "identity")
    consumer = service_consumer(stack.db, "identity", merges.handle.topics, merges.handle)
    assert consumer.poll_once() == 2  # cell A1 moved, then the merge
    assert consumer.poll_once() == 0  # applied once
    stack.index_now()

    with stack.db.read() as conn:
        moved, shared = store.get(conn, issued.id), store.get(conn, both.id)
    assert moved.unit_id == p.commune_b
    assert set(moved.publisher_chain) == {ident.root_id, p.commune_b}
    assert list(moved.audience_unit_ids) == [p.commune_b]
    assert list(shared.audience_unit_ids) == [p.commune_b]  # once, though it reached both
    # A member of commune B now receives what commune A published; the moved cell still does.
    assert issued.id in {h.id for h in search(stack, p.member_b, "").hits}
    member_a = ident.token("0911000002", "mat-khau-dang-vien")  # a new token: the cell's new ancestry
    assert issued.id in {h.id for h in search(stack, member_a, "").hits}
