"""One account acting on another (access.require_over), one's own password, what a cell officer
may create, and logins that another member's data cannot break: identity over gRPC, on SQLite
and on PostgreSQL."""

from __future__ import annotations

import grpc
import pytest

from services.core.db import Database
from services.core.errors import error_info
from services.identity import importer, members, units
from sotay.identity.v1 import identity_pb2 as pb
from tests.support.identity import ROOT_ADMIN, Identity
from tests.unit.identity.test_identity_service import expect_error, member, two_communes, unit
from tests.unit.identity.test_importer import csv_file, row

DENIED = grpc.StatusCode.PERMISSION_DENIED
PASSWORD = "mat-khau-dang-vien"


def logged_in(svc: Identity, login: str, password: str = PASSWORD) -> bool:
    try:
        svc.login(login, password)
    except grpc.RpcError:
        return False
    return True


def test_commune_admin_cannot_take_over_an_account_ranked_above_it(identity: Identity) -> None:
    auth, a, _, cell_a, _ = two_communes(identity)
    cell_a2 = unit(identity, auth, "Chi bộ A2", pb.UNIT_KIND_CELL, a.id, code="A2")
    # A province admin who is a member (and the secretary) of a cell inside commune A.
    boss = member(identity, auth, cell_a.id, "Trưởng ban tỉnh", phone="0913000001", party_card_number="LS-9001",
                  position=pb.CELL_POSITION_SECRETARY, password="province-password")
    identity.stub.GrantRole(pb.GrantRoleRequest(account_id=boss.account_id, role=pb.ROLE_ADMIN,
                                                unit_id=identity.root_id), metadata=auth)
    plain = member(identity, auth, cell_a.id, "Đảng viên thường", phone="0913000002", password=PASSWORD)
    admin_a = member(identity, auth, cell_a2.id, "Quản trị xã A", phone="0913000003", password=PASSWORD)
    identity.stub.GrantRole(pb.GrantRoleRequest(account_id=admin_a.account_id, role=pb.ROLE_ADMIN, unit_id=a.id),
                            metadata=auth)
    commune = identity.token("0913000003", PASSWORD)
    boss_grants = identity.stub.ListRoles(pb.ListRolesRequest(unit_id=identity.root_id, account_id=boss.account_id),
                                          metadata=auth).grants
    cell_grant = next(g for g in boss_grants if g.role == pb.ROLE_CELL_SECRETARY)

    attempts = {
        "reset password": (identity.stub.ResetPassword,
                           pb.ResetPasswordRequest(account_id=boss.account_id, new_password="taken-over-1")),
        "deactivate": (identity.stub.DeactivateMember, pb.DeactivateMemberRequest(id=boss.id, reason="x")),
        "edit profile": (identity.stub.UpdateMember,
                         pb.UpdateMemberRequest(id=boss.id, fields=pb.MemberFields(phone="0913999999"))),
        "change position": (identity.stub.UpdateMember, pb.UpdateMemberRequest(
            id=boss.id, fields=pb.MemberFields(position=pb.CELL_POSITION_MEMBER))),
        "transfer": (identity.stub.TransferMember, pb.TransferMemberRequest(id=boss.id, to_unit_id=cell_a2.id)),
        "grant role": (identity.stub.GrantRole,
                       pb.GrantRoleRequest(account_id=boss.account_id, role=pb.ROLE_EDITOR, unit_id=a.id)),
        "revoke role": (identity.stub.RevokeRole, pb.RevokeRoleRequest(grant_id=cell_grant.id)),
    }
    refused = {}
    for name, (call, request) in attempts.items():
        with pytest.raises(grpc.RpcError) as caught:
            call(request, metadata=commune)
        refused[name] = (caught.value.code(), error_info(caught.value)[0])
    assert refused == {name: (DENIED, "target_outranks_caller") for name in attempts}
    assert logged_in(identity, "0913000001", "province-password")
    assert identity.stub.GetMember(pb.GetMemberRequest(id=boss.id), metadata=auth).member.active

    # An import by the commune admin does not touch the province admin either.
    data = csv_file([row("LS-9001", name="Tên Bị Đổi", unit="A2")]).getvalue()
    report = identity.stub.ImportMembers(
        iter([pb.ImportMembersRequest(format=pb.FILE_FORMAT_CSV, unit_id=a.id, chunk=data, last=True)]),
        metadata=commune,
    )
    assert [(e.row, e.reason) for e in report.errors] == [(2, "target_outranks_caller")]
    assert identity.stub.GetMember(pb.GetMemberRequest(id=boss.id), metadata=auth).member.unit_id == cell_a.id

    # The same commune admin manages a plain member of the same cell as before.
    identity.stub.ResetPassword(pb.ResetPasswordRequest(account_id=plain.account_id, new_password="new-password-1"),
                                metadata=commune)
    assert logged_in(identity, "0913000002", "new-password-1")
    identity.stub.TransferMember(pb.TransferMemberRequest(id=plain.id, to_unit_id=cell_a2.id), metadata=commune)
    identity.stub.DeactivateMember(pb.DeactivateMemberRequest(id=plain.id, reason="chuyển đi"), metadata=commune)
    # And the province admin (who administers every unit of the target) still can act on it.
    identity.stub.UpdateMember(pb.UpdateMemberRequest(id=boss.id, fields=pb.MemberFields(phone="0913000009")),
                               metadata=auth)


def test_own_password_only_with_the_current_one(identity: Identity) -> None:
    auth, a, _, cell_a, _ = two_communes(identity)
    me = identity.stub.GetMe(pb.GetMeRequest(), metadata=auth)
    expect_error(DENIED, "own_password_needs_current", identity.stub.ResetPassword,
                 pb.ResetPasswordRequest(account_id=me.account_id, new_password="no-current-needed"), metadata=auth)
    admin_a = member(identity, auth, cell_a.id, "Quản trị xã A", phone="0913000010", password=PASSWORD)
    identity.stub.GrantRole(pb.GrantRoleRequest(account_id=admin_a.account_id, role=pb.ROLE_ADMIN, unit_id=a.id),
                            metadata=auth)
    token = identity.token("0913000010", PASSWORD)
    expect_error(DENIED, "own_password_needs_current", identity.stub.ResetPassword,
                 pb.ResetPasswordRequest(account_id=admin_a.account_id, new_password="no-current-needed"),
                 metadata=token)
    assert logged_in(identity, *ROOT_ADMIN) and logged_in(identity, "0913000010")
    identity.stub.ChangePassword(pb.ChangePasswordRequest(current_password=PASSWORD, new_password="changed-pass-1"),
                                 metadata=token)
    assert logged_in(identity, "0913000010", "changed-pass-1")


def test_cell_secretary_creates_plain_members_only(identity: Identity) -> None:
    auth, _, _, cell_a, cell_b = two_communes(identity)
    member(identity, auth, cell_a.id, "Bí thư A", phone="0913000020", password=PASSWORD,
           position=pb.CELL_POSITION_SECRETARY)
    deputy = member(identity, auth, cell_a.id, "Phó Bí thư A", phone="0913000021",
                    position=pb.CELL_POSITION_DEPUTY_SECRETARY)
    sec = identity.token("0913000020", PASSWORD)
    create = identity.stub.CreateMember
    for position in (pb.CELL_POSITION_SECRETARY, pb.CELL_POSITION_DEPUTY_SECRETARY,
                     pb.CELL_POSITION_COMMITTEE_MEMBER):
        expect_error(DENIED, "position_needs_admin", create, pb.CreateMemberRequest(
            unit_id=cell_a.id, fields=pb.MemberFields(full_name="Cán bộ mới", position=position)), metadata=sec)
    expect_error(DENIED, "password_needs_admin", create, pb.CreateMemberRequest(
        unit_id=cell_a.id, fields=pb.MemberFields(full_name="Có mật khẩu"), initial_password="chosen-by-sec"),
        metadata=sec)
    plain = create(pb.CreateMemberRequest(unit_id=cell_a.id, fields=pb.MemberFields(
        full_name="Đảng viên mới", phone="0913000022")), metadata=sec).member
    assert plain.position == pb.CELL_POSITION_MEMBER
    expect_error(DENIED, "not_allowed", create, pb.CreateMemberRequest(
        unit_id=cell_b.id, fields=pb.MemberFields(full_name="Ô khác")), metadata=sec)

    update = identity.stub.UpdateMember
    expect_error(DENIED, "position_needs_admin", update, pb.UpdateMemberRequest(
        id=plain.id, fields=pb.MemberFields(position=pb.CELL_POSITION_DEPUTY_SECRETARY)), metadata=sec)
    expect_error(DENIED, "target_outranks_caller", update, pb.UpdateMemberRequest(
        id=deputy.id, fields=pb.MemberFields(phone="0913000029")), metadata=sec)
    expect_error(DENIED, "not_allowed", identity.stub.GrantRole, pb.GrantRoleRequest(
        account_id=plain.account_id, role=pb.ROLE_EDITOR, unit_id=cell_a.id), metadata=sec)
    assert update(pb.UpdateMemberRequest(id=plain.id, fields=pb.MemberFields(email="moi@example.vn")),
                  metadata=sec).member.email == "moi@example.vn"
    mine = identity.stub.GetMe(pb.GetMeRequest(), metadata=sec).member
    assert update(pb.UpdateMemberRequest(id=mine.id, fields=pb.MemberFields(email="bithu@example.vn")),
                  metadata=sec).member.email == "bithu@example.vn"
    expect_error(DENIED, "position_needs_admin", update, pb.UpdateMemberRequest(
        id=mine.id, fields=pb.MemberFields(position=pb.CELL_POSITION_MEMBER)), metadata=sec)
    # The admin over the cell does what the secretary may not.
    promoted = update(pb.UpdateMemberRequest(
        id=plain.id, fields=pb.MemberFields(position=pb.CELL_POSITION_COMMITTEE_MEMBER)), metadata=auth).member
    assert promoted.position == pb.CELL_POSITION_COMMITTEE_MEMBER


def test_another_members_phone_or_card_never_breaks_a_login(identity: Identity) -> None:
    auth, _, _, cell_a, cell_b = two_communes(identity)
    first = member(identity, auth, cell_a.id, "Người thứ nhất", phone="0913000030", party_card_number="LS-3000",
                   password=PASSWORD)
    other = member(identity, auth, cell_b.id, "Người thứ hai", phone="0913000031", password=PASSWORD)
    create = identity.stub.CreateMember
    for fields, reason in [
        (pb.MemberFields(full_name="Trùng số", phone="+84 913 000 030"), "phone_unavailable"),
        (pb.MemberFields(full_name="Thẻ là số điện thoại", party_card_number="0913000030"),
         "party_card_number_unavailable"),
        (pb.MemberFields(full_name="Số là thẻ", phone="LS-3000"), "invalid_phone"),
    ]:
        expect_error(grpc.StatusCode.ALREADY_EXISTS if reason != "invalid_phone" else grpc.StatusCode.INVALID_ARGUMENT,
                     reason, create, pb.CreateMemberRequest(unit_id=cell_b.id, fields=fields), metadata=auth)
    expect_error(grpc.StatusCode.ALREADY_EXISTS, "phone_unavailable", identity.stub.UpdateMember,
                 pb.UpdateMemberRequest(id=other.id, fields=pb.MemberFields(phone="0913000030")), metadata=auth)
    assert logged_in(identity, "0913000030") and logged_in(identity, "LS-3000") and logged_in(identity, "0913000031")
    # Keeping one's own phone on an edit is no clash.
    identity.stub.UpdateMember(pb.UpdateMemberRequest(id=first.id, fields=pb.MemberFields(phone="0913000030",
                                                                                          email="a@example.vn")),
                               metadata=auth)
    # A deactivated member's phone is free again, and logs in its new owner.
    identity.stub.DeactivateMember(pb.DeactivateMemberRequest(id=first.id, reason="chuyển đi"), metadata=auth)
    create(pb.CreateMemberRequest(unit_id=cell_b.id, fields=pb.MemberFields(full_name="Chủ mới", phone="0913000030"),
                                  initial_password="new-owner-pass"), metadata=auth)
    assert logged_in(identity, "0913000030", "new-owner-pass")


def test_card_number_taken_reveals_nothing_outside_the_callers_scope(identity: Identity) -> None:
    auth, a, _, cell_a, cell_b = two_communes(identity)
    member(identity, auth, cell_a.id, "Trong xã", party_card_number="LS-4001")
    member(identity, auth, cell_b.id, "Xã khác", party_card_number="LS-4002")
    gone = member(identity, auth, cell_b.id, "Đã nghỉ", party_card_number="LS-4003")
    identity.stub.DeactivateMember(pb.DeactivateMemberRequest(id=gone.id, reason="x"), metadata=auth)
    admin_a = member(identity, auth, cell_a.id, "Quản trị xã A", phone="0913000040", password=PASSWORD)
    identity.stub.GrantRole(pb.GrantRoleRequest(account_id=admin_a.account_id, role=pb.ROLE_ADMIN, unit_id=a.id),
                            metadata=auth)
    token = identity.token("0913000040", PASSWORD)
    answers = set()
    for card in ("LS-4001", "LS-4002", "LS-4003"):
        with pytest.raises(grpc.RpcError) as caught:
            identity.stub.CreateMember(pb.CreateMemberRequest(
                unit_id=cell_a.id, fields=pb.MemberFields(full_name="Mới", party_card_number=card)), metadata=token)
        reason, metadata = error_info(caught.value)
        answers.add((caught.value.code(), reason, caught.value.details(), tuple(sorted(metadata.items()))))
    assert answers == {(grpc.StatusCode.ALREADY_EXISTS, "party_card_number_unavailable",
                        caught.value.details(), (("field", "party_card_number"),))}


def test_import_keeps_logins_unambiguous(database: Database) -> None:
    from services.identity.migrations import MIGRATIONS

    database.migrate("identity", MIGRATIONS)
    with database.write() as conn:
        root = units.create(conn, "Tỉnh ủy", "province", "")
        cell = units.create(conn, "Chi bộ 1", "cell", root.id, code="CB1")
        members.create(conn, cell.id, members.Profile(full_name="Có số", phone="0914000001", party_card_number="LS-1"))
        gone = members.create(conn, cell.id, members.Profile(full_name="Đã nghỉ", phone="0914000002"))
        members.deactivate(conn, gone.id, "x")
    rows = [
        row("LS-1", name="Có số", unit="CB1", so_dien_thoai="0914000001"),  # keeps its own phone
        row("LS-2", name="Trùng số", unit="CB1", so_dien_thoai="0914000001"),
        row("LS-3", name="Số của người đã nghỉ", unit="CB1", so_dien_thoai="0914000002"),
        row("LS-4", name="Trùng trong tệp", unit="CB1", so_dien_thoai="0914000002"),
        row("0914000001", name="Thẻ là số điện thoại", unit="CB1"),
    ]
    report = importer.import_members(database, root.id, csv_file(rows), "csv")
    assert [(e.row, e.column, e.reason) for e in report.errors] == [
        (3, "so_dien_thoai", "phone_unavailable"), (5, "so_dien_thoai", "phone_unavailable"),
        (6, "so_the_dang_vien", "party_card_number_unavailable"),
    ]
    assert (report.created, report.unchanged) == (1, 1)


def test_concurrent_creates_give_a_phone_once(identity: Identity) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    auth, _, _, cell_a, _ = two_communes(identity)
    start = Barrier(8)

    def create(i: int) -> str:
        start.wait()
        try:
            identity.stub.CreateMember(pb.CreateMemberRequest(unit_id=cell_a.id, fields=pb.MemberFields(
                full_name=f"Cùng số {i}", phone="0913000050", party_card_number=f"LS-50{i}")), metadata=auth)
        except grpc.RpcError as exc:
            return error_info(exc)[0]
        return "created"

    with ThreadPoolExecutor(8) as pool:
        results = sorted(pool.map(create, range(8)))
    assert results == ["created", *["phone_unavailable"] * 7]
