"""MergeUnits: two communes become one in one step, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json

import grpc
import pytest
import sqlalchemy as sa

from services.core.errors import error_info
from sotay.identity.v1 import identity_pb2 as pb
from tests.support.identity import Identity
from tests.unit.identity.test_identity_service import commune_admin, expect_error, member, two_communes, unit


def test_merge_moves_child_units_members_and_roles_and_ends_the_source(identity: Identity) -> None:
    auth, a, b, cell_a, cell_b = two_communes(identity)
    grassroots = unit(identity, auth, "Đảng bộ trường", pb.UNIT_KIND_GRASSROOTS, a.id)
    deep = unit(identity, auth, "Chi bộ giáo viên", pb.UNIT_KIND_CELL, grassroots.id)
    sec = member(identity, auth, cell_a.id, "Bí thư A1", position=pb.CELL_POSITION_SECRETARY,
                 phone="0913000001", password="secretary-pass")
    staff = member(identity, auth, a.id, "Cán bộ xã A", phone="0913000002", party_card_number="C0913000002",
                   password="staff-password")
    editor = identity.stub.GrantRole(
        pb.GrantRoleRequest(account_id=staff.account_id, role=pb.ROLE_EDITOR, unit_id=a.id), metadata=auth
    ).grant
    staff_token = identity.token("0913000002", "staff-password")

    done = identity.stub.MergeUnits(pb.MergeUnitsRequest(source_id=a.id, target_id=b.id), metadata=auth)

    assert done.unit.id == b.id
    assert (done.moved_units, done.moved_members, done.moved_grants) == (3, 1, 1)
    source = identity.stub.GetUnit(pb.GetUnitRequest(id=a.id), metadata=auth).unit
    assert not source.active
    children = identity.stub.ListUnits(pb.ListUnitsRequest(parent_id=b.id), metadata=auth).units
    assert {u.id for u in children} == {cell_a.id, cell_b.id, grassroots.id}
    got = identity.stub.GetUnit(pb.GetUnitRequest(id=deep.id), metadata=auth).unit
    assert list(got.ancestor_ids) == [identity.root_id, b.id, grassroots.id]
    in_b = identity.stub.ListMembers(pb.ListMembersRequest(unit_id=b.id, subtree=True), metadata=auth)
    assert {m.member_id for m in in_b.members} == {sec.id, staff.id}
    moved_staff = identity.stub.GetMember(pb.GetMemberRequest(id=staff.id), metadata=auth).member
    assert moved_staff.unit_id == b.id
    history = identity.stub.ListMemberTransfers(pb.ListMemberTransfersRequest(member_id=staff.id), metadata=auth)
    assert [(t.from_unit_id, t.to_unit_id) for t in history.transfers] == [(a.id, b.id)]
    roles = identity.stub.ListRoles(pb.ListRolesRequest(unit_id=b.id), metadata=auth).grants
    assert {(g.account_id, g.role, g.unit_id) for g in roles} >= {
        (staff.account_id, pb.ROLE_EDITOR, b.id), (sec.account_id, pb.ROLE_CELL_SECRETARY, cell_a.id)
    }
    assert editor.id in {g.id for g in roles}  # the same grant, now on the target
    # The moved editor's old token named the source: it is refused; a new sign-in works.
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "token_revoked", identity.stub.GetMe, pb.GetMeRequest(),
                 metadata=staff_token)
    me = identity.stub.GetMe(pb.GetMeRequest(), metadata=identity.token("0913000002", "staff-password"))
    assert me.unit_id == b.id
    # Nothing more can be added under the source, and a second merge of it is refused.
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "parent_inactive", identity.stub.CreateUnit,
                 pb.CreateUnitRequest(name="x", kind=pb.UNIT_KIND_CELL, parent_id=a.id), metadata=auth)
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "unit_inactive", identity.stub.MergeUnits,
                 pb.MergeUnitsRequest(source_id=a.id, target_id=b.id), metadata=auth)

    with identity.db.read() as conn:
        topics = [r.topic for r in conn.execute(sa.text("SELECT topic FROM outbox ORDER BY id")).all()]
        merged = conn.execute(sa.text("SELECT payload FROM outbox WHERE topic = 'identity.unit.merged'")).one()
    assert topics.count("identity.unit.moved") == 2  # cell A1 and the grassroots committee
    payload = json.loads(merged.payload)
    assert payload["source_unit_id"] == a.id and payload["target_unit_id"] == b.id
    assert payload["target_ancestor_ids"] == [identity.root_id]
    assert sorted(payload["moved_unit_ids"]) == sorted([cell_a.id, grassroots.id])
    # The audit log has the merge, filed under the target, and the source's history moved with it.
    events = identity.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(unit_id=b.id, action_prefix="unit."), metadata=auth
    ).events
    assert "unit.merged" in {e.action for e in events}
    assert a.id in {e.target_id for e in events if e.action == "unit.created"}


def test_merge_refusals_say_why(identity: Identity) -> None:
    auth, a, b, cell_a, _ = two_communes(identity)
    c = unit(identity, auth, "Đảng ủy xã C", pb.UNIT_KIND_COMMUNE, identity.root_id)
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "merge_into_itself", identity.stub.MergeUnits,
                 pb.MergeUnitsRequest(source_id=a.id, target_id=a.id), metadata=auth)
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "merge_needs_communes", identity.stub.MergeUnits,
                 pb.MergeUnitsRequest(source_id=a.id, target_id=cell_a.id), metadata=auth)
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "merge_needs_communes", identity.stub.MergeUnits,
                 pb.MergeUnitsRequest(source_id=cell_a.id, target_id=b.id), metadata=auth)
    expect_error(grpc.StatusCode.NOT_FOUND, "unit_not_found", identity.stub.MergeUnits,
                 pb.MergeUnitsRequest(source_id=a.id, target_id="00000000-0000-4000-8000-000000000000"),
                 metadata=auth)
    # An admin of commune A alone may not merge it into B, nor B into A.
    admin_a = commune_admin(identity, auth, a.id, "0913000100")
    for source, target in ((a.id, b.id), (b.id, a.id)):
        with pytest.raises(grpc.RpcError) as caught:
            identity.stub.MergeUnits(pb.MergeUnitsRequest(source_id=source, target_id=target), metadata=admin_a)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_info(caught.value)[0] == "not_allowed"
    # Nothing changed by the refusals.
    assert identity.stub.GetUnit(pb.GetUnitRequest(id=a.id), metadata=auth).unit.active
    assert [u.id for u in identity.stub.ListUnits(pb.ListUnitsRequest(parent_id=a.id), metadata=auth).units] == [
        cell_a.id
    ]
    # An admin over both (here granted on each commune) may.
    identity.stub.GrantRole(pb.GrantRoleRequest(
        account_id=identity.stub.GetMe(pb.GetMeRequest(), metadata=admin_a).account_id, role=pb.ROLE_ADMIN,
        unit_id=c.id), metadata=auth)
    admin_ac = identity.token("0913000100", "admin-xa-password")
    done = identity.stub.MergeUnits(pb.MergeUnitsRequest(source_id=c.id, target_id=a.id), metadata=admin_ac)
    assert done.unit.id == a.id


def test_audit_filters_by_who_whose_and_when(identity: Identity) -> None:
    auth, _, _, cell_a, _ = two_communes(identity)
    sec = member(identity, auth, cell_a.id, "Bí thư Lọc", phone="0913000300", password="secretary-pass",
                 position=pb.CELL_POSITION_SECRETARY)
    one = member(identity, auth, cell_a.id, "Đảng viên Một", phone="0913000301")
    two = member(identity, auth, cell_a.id, "Đảng viên Hai", phone="0913000302")
    sec_token = identity.token("0913000300", "secretary-pass")
    for target in (one, two, one):
        identity.stub.GetMember(pb.GetMemberRequest(id=target.id), metadata=sec_token)
    identity.stub.GetMember(pb.GetMemberRequest(id=two.id), metadata=auth)

    def reads(**filters) -> list[pb.AuditEvent]:  # type: ignore[no-untyped-def]
        return list(identity.stub.ListAuditEvents(pb.ListAuditEventsRequest(
            unit_id=cell_a.id, action_prefix="member.profile.read", **filters), metadata=auth).events)

    assert len(reads()) == 4
    by_sec = reads(actor_account_id=sec.account_id)
    assert len(by_sec) == 3 and {e.actor_name for e in by_sec} == {"Bí thư Lọc"}
    about_one = reads(target_id=one.id)
    assert len(about_one) == 2 and {e.target_name for e in about_one} == {"Đảng viên Một"}
    assert len(reads(actor_account_id=sec.account_id, target_id=two.id)) == 1
    newest = reads()[0]
    after = pb.ListAuditEventsRequest().since
    after.FromSeconds(newest.at.seconds + 1)
    assert reads(since=after) == []
    assert len(reads(until=after)) == 4
