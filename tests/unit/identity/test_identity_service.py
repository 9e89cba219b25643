"""Identity behaviour through its gRPC API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import json
import time

import grpc
import pytest
import sqlalchemy as sa

from services.core.auth import Principal, issue_access_token
from services.core.errors import error_info
from services.identity.keys import KeyStore
from sotay.identity.v1 import identity_pb2 as pb
from tests.support.identity import ROOT_ADMIN, Identity


def expect_error(code: grpc.StatusCode, reason: str, call, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    assert caught.value.code() == code, caught.value.details()
    assert error_info(caught.value)[0] == reason


def unit(svc: Identity, auth, name: str, kind: int, parent: str, code: str = "") -> pb.Unit:  # type: ignore[no-untyped-def]
    return svc.stub.CreateUnit(pb.CreateUnitRequest(name=name, kind=kind, parent_id=parent, code=code),
                               metadata=auth).unit


def member(svc: Identity, auth, unit_id: str, name: str, **fields) -> pb.Member:  # type: ignore[no-untyped-def]
    password = fields.pop("password", "")
    return svc.stub.CreateMember(
        pb.CreateMemberRequest(unit_id=unit_id, fields=pb.MemberFields(full_name=name, **fields),
                               initial_password=password),
        metadata=auth,
    ).member


def two_communes(svc: Identity):  # type: ignore[no-untyped-def]
    auth = svc.admin()
    a = unit(svc, auth, "Đảng ủy xã A", pb.UNIT_KIND_COMMUNE, svc.root_id)
    b = unit(svc, auth, "Đảng ủy xã B", pb.UNIT_KIND_COMMUNE, svc.root_id)
    cell_a = unit(svc, auth, "Chi bộ A1", pb.UNIT_KIND_CELL, a.id)
    cell_b = unit(svc, auth, "Chi bộ B1", pb.UNIT_KIND_CELL, b.id)
    return auth, a, b, cell_a, cell_b


def commune_admin(svc: Identity, auth, commune_id: str, phone: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    cells = svc.stub.ListUnits(pb.ListUnitsRequest(parent_id=commune_id), metadata=auth).units
    m = member(svc, auth, cells[0].id, "Quản trị xã", phone=phone, party_card_number=f"C{phone}",
               password="admin-xa-password")
    svc.stub.GrantRole(pb.GrantRoleRequest(account_id=m.account_id, role=pb.ROLE_ADMIN, unit_id=commune_id),
                       metadata=auth)
    return svc.token(phone, "admin-xa-password")


def test_move_subtree_carries_members_roles_and_history(identity: Identity) -> None:
    auth, a, b, _, cell_b = two_communes(identity)
    grassroots = unit(identity, auth, "Đảng bộ cơ sở", pb.UNIT_KIND_GRASSROOTS, a.id)
    cell = unit(identity, auth, "Chi bộ 1", pb.UNIT_KIND_CELL, grassroots.id)
    sec = member(identity, auth, cell.id, "Bí thư Một", position=pb.CELL_POSITION_SECRETARY,
                 phone="0912000001", password="secretary-pass")
    editor = identity.stub.GrantRole(
        pb.GrantRoleRequest(account_id=sec.account_id, role=pb.ROLE_EDITOR, unit_id=grassroots.id), metadata=auth
    ).grant

    moved = identity.stub.MoveUnit(pb.MoveUnitRequest(id=grassroots.id, new_parent_id=b.id), metadata=auth)
    assert moved.moved_units == 2
    assert list(moved.unit.ancestor_ids) == [identity.root_id, b.id]
    got_cell = identity.stub.GetUnit(pb.GetUnitRequest(id=cell.id), metadata=auth).unit
    assert list(got_cell.ancestor_ids) == [identity.root_id, b.id, grassroots.id]
    assert got_cell.depth == 3
    in_b = identity.stub.ListMembers(pb.ListMembersRequest(unit_id=b.id, subtree=True), metadata=auth)
    assert [m.member_id for m in in_b.members] == [sec.id]
    in_a = identity.stub.ListMembers(pb.ListMembersRequest(unit_id=a.id, subtree=True), metadata=auth)
    assert sec.id not in [m.member_id for m in in_a.members]
    roles = identity.stub.ListRoles(pb.ListRolesRequest(unit_id=b.id, account_id=sec.account_id), metadata=auth)
    assert {(g.role, g.unit_id) for g in roles.grants} == {
        (pb.ROLE_CELL_SECRETARY, cell.id), (pb.ROLE_EDITOR, editor.unit_id)
    }
    # The secretary's next token carries the new ancestry.
    me = identity.stub.GetMe(pb.GetMeRequest(), metadata=identity.token("0912000001", "secretary-pass"))
    assert me.unit_id == cell.id
    subtree = identity.stub.ListUnits(pb.ListUnitsRequest(parent_id=b.id, subtree=True), metadata=auth)
    assert {u.id for u in subtree.units} == {cell_b.id, grassroots.id, cell.id}
    with identity.db.read() as conn:
        history = conn.execute(sa.text("SELECT from_parent_id, to_parent_id FROM unit_moves")).all()
    assert [(h.from_parent_id, h.to_parent_id) for h in history] == [(a.id, b.id)]
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "move_into_own_subtree", identity.stub.MoveUnit,
                 pb.MoveUnitRequest(id=b.id, new_parent_id=cell.id), metadata=auth)


def test_admin_of_one_commune_is_denied_the_sibling(identity: Identity) -> None:
    auth, a, b, cell_a, cell_b = two_communes(identity)
    member(identity, auth, cell_b.id, "Đảng viên B", phone="0912000009")
    admin_a = commune_admin(identity, auth, a.id, "0912000100")
    own = identity.stub.ListMembers(pb.ListMembersRequest(unit_id=a.id, subtree=True), metadata=admin_a)
    assert own.total_size == 1
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.ListMembers,
                 pb.ListMembersRequest(unit_id=b.id, subtree=True), metadata=admin_a)
    other = identity.stub.ListMembers(pb.ListMembersRequest(unit_id=b.id, subtree=True), metadata=auth).members[0]
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.GetMember,
                 pb.GetMemberRequest(id=other.member_id), metadata=admin_a)
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.CreateUnit,
                 pb.CreateUnitRequest(name="x", kind=pb.UNIT_KIND_CELL, parent_id=b.id), metadata=admin_a)
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.MoveUnit,
                 pb.MoveUnitRequest(id=cell_a.id, new_parent_id=b.id), metadata=admin_a)
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.GrantRole,
                 pb.GrantRoleRequest(account_id=other.account_id, role=pb.ROLE_ADMIN, unit_id=b.id),
                 metadata=admin_a)


def test_plain_member_cannot_list_or_read_others(identity: Identity) -> None:
    auth, _, _, cell_a, _ = two_communes(identity)
    me = member(identity, auth, cell_a.id, "Đảng viên", phone="0912000200", password="member-password")
    other = member(identity, auth, cell_a.id, "Người khác", phone="0912000201")
    token = identity.token("0912000200", "member-password")
    assert identity.stub.GetMember(pb.GetMemberRequest(id=me.id), metadata=token).member.full_name == "Đảng viên"
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.GetMember,
                 pb.GetMemberRequest(id=other.id), metadata=token)
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.ListMembers,
                 pb.ListMembersRequest(unit_id=cell_a.id), metadata=token)


def test_profile_read_by_someone_else_is_audited(identity: Identity) -> None:
    auth, _, _, cell_a, _ = two_communes(identity)
    sec = member(identity, auth, cell_a.id, "Bí thư", phone="0912000300", password="secretary-pass",
                 position=pb.CELL_POSITION_SECRETARY)
    other = member(identity, auth, cell_a.id, "Đảng viên", phone="0912000301", password="member-password")
    sec_token = identity.token("0912000300", "secretary-pass")
    identity.stub.GetMember(pb.GetMemberRequest(id=other.id, purpose="chuẩn bị họp"), metadata=sec_token)
    identity.stub.GetMember(pb.GetMemberRequest(id=other.id), metadata=identity.token("0912000301", "member-password"))
    events = identity.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(unit_id=identity.root_id, action_prefix="member.profile.read"), metadata=auth
    ).events
    assert len(events) == 1  # the owner's own read is not audited
    assert events[0].actor_account_id == sec.account_id
    assert events[0].target_id == other.id
    assert events[0].unit_id == cell_a.id
    assert json.loads(events[0].details_json)["purpose"] == "chuẩn bị họp"


def test_expired_and_forged_tokens_are_refused(identity: Identity) -> None:
    keys = KeyStore(identity.db)
    kid, key = keys.signing_key()
    with identity.db.read() as conn:
        account_id = conn.execute(sa.text("SELECT id FROM accounts WHERE username = 'root-admin'")).scalar_one()
    who = Principal(account_id, "", identity.root_id, (identity.root_id,))
    expired = issue_access_token(key, kid, who, ttl_seconds=60, now=time.time() - 3600)
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "token_expired", identity.stub.GetMe, pb.GetMeRequest(),
                 metadata=[("authorization", f"Bearer {expired}")])
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged = issue_access_token(Ed25519PrivateKey.generate(), kid, who, ttl_seconds=60)
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "token_invalid", identity.stub.GetMe, pb.GetMeRequest(),
                 metadata=[("authorization", f"Bearer {forged}")])
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", identity.stub.GetMe, pb.GetMeRequest())


def test_refresh_rotates_and_reuse_revokes_the_family(identity: Identity) -> None:
    first = identity.login(*ROOT_ADMIN)
    second = identity.stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=first.refresh_token))
    assert second.refresh_token != first.refresh_token
    third = identity.stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=second.refresh_token))
    # Replaying the rotated token revokes the whole login, including the newest token.
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "refresh_token_reused", identity.stub.RefreshToken,
                 pb.RefreshTokenRequest(refresh_token=first.refresh_token))
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "refresh_token_invalid", identity.stub.RefreshToken,
                 pb.RefreshTokenRequest(refresh_token=third.refresh_token))
    # Another login is a separate family and still works.
    other = identity.login(*ROOT_ADMIN)
    assert identity.stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=other.refresh_token)).access_token
    events = identity.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(unit_id=identity.root_id), metadata=identity.admin()
    ).events
    assert "auth.refresh.reuse_detected" in {e.action for e in events}


def test_logout_revokes_refresh_token(identity: Identity) -> None:
    login = identity.login(*ROOT_ADMIN)
    identity.stub.Logout(pb.LogoutRequest(refresh_token=login.refresh_token))
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "refresh_token_invalid", identity.stub.RefreshToken,
                 pb.RefreshTokenRequest(refresh_token=login.refresh_token))


def test_failed_logins_lock_the_account(identity: Identity) -> None:
    for _ in range(5):
        expect_error(grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials", identity.login, "root-admin", "wrong-pw")
    # Locked: even the right password is refused for now.
    expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "account_locked", identity.login, *ROOT_ADMIN)
    with identity.db.read() as conn:
        actions = list(conn.execute(sa.text("SELECT action FROM audit_log ORDER BY at")).scalars())
    assert actions.count("auth.login.failed") == 5
    assert "auth.locked" in actions and "auth.login.locked_out" in actions
    # Unknown login names are throttled the same way (no account enumeration).
    for _ in range(5):
        expect_error(grpc.StatusCode.UNAUTHENTICATED, "invalid_credentials", identity.login, "nobody", "wrong-pw")
    expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "account_locked", identity.login, "nobody", "wrong-pw")


def test_password_change_and_admin_reset(identity: Identity) -> None:
    auth, _, _, cell_a, _ = two_communes(identity)
    m = member(identity, auth, cell_a.id, "Đảng viên", party_card_number="LS000777", password="first-password")
    token = identity.token("LS000777", "first-password")
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "wrong_password", identity.stub.ChangePassword,
                 pb.ChangePasswordRequest(current_password="nope-nope", new_password="second-password"),
                 metadata=token)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "password_too_short", identity.stub.ChangePassword,
                 pb.ChangePasswordRequest(current_password="first-password", new_password="short"), metadata=token)
    identity.stub.ChangePassword(
        pb.ChangePasswordRequest(current_password="first-password", new_password="second-password"), metadata=token
    )
    assert identity.login("LS000777", "second-password").access_token
    identity.stub.ResetPassword(pb.ResetPasswordRequest(account_id=m.account_id, new_password="third-password"),
                                metadata=auth)
    assert identity.login("LS000777", "third-password").access_token


def test_unknown_and_malformed_ids(identity: Identity) -> None:
    auth = identity.admin()
    expect_error(grpc.StatusCode.NOT_FOUND, "unit_not_found", identity.stub.GetUnit,
                 pb.GetUnitRequest(id="0b6f4b43-5a7e-4a57-9c1e-2f4cf3c5a0a1"), metadata=auth)
    expect_error(grpc.StatusCode.NOT_FOUND, "unit_not_found", identity.stub.GetUnit,
                 pb.GetUnitRequest(id="../../etc/passwd"), metadata=auth)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid_id", identity.stub.GetMember,
                 pb.GetMemberRequest(id=""), metadata=auth)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid_kind", identity.stub.CreateUnit,
                 pb.CreateUnitRequest(name="x", kind=99, parent_id=identity.root_id), metadata=auth)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid_page_token", identity.stub.ListUnits,
                 pb.ListUnitsRequest(parent_id=identity.root_id, page_token="%%%"), metadata=auth)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid_date", identity.stub.CreateMember,
                 pb.CreateMemberRequest(unit_id=identity.root_id,
                                        fields=pb.MemberFields(full_name="A", birth_date="31/02/1990")),
                 metadata=auth)


def test_count_members_groups_every_child_subtree_in_one_call(identity: Identity) -> None:
    auth, a, b, cell_a, cell_b = two_communes(identity)
    grassroots = unit(identity, auth, "Đảng bộ cơ sở A", pb.UNIT_KIND_GRASSROOTS, a.id)
    deep_cell = unit(identity, auth, "Chi bộ sâu", pb.UNIT_KIND_CELL, grassroots.id)
    member(identity, auth, cell_a.id, "Bí thư", position=pb.CELL_POSITION_SECRETARY, phone="0912000500",
           password="secretary-pass")
    member(identity, auth, cell_a.id, "Đảng viên", phone="0912000501", password="member-password")
    member(identity, auth, deep_cell.id, "Đảng viên sâu")
    gone = member(identity, auth, deep_cell.id, "Đã chuyển đi")
    identity.stub.DeactivateMember(pb.DeactivateMemberRequest(id=gone.id, reason="chuyển"), metadata=auth)
    member(identity, auth, a.id, "Ở cấp xã")  # the unit's own member, not a child's
    empty = unit(identity, auth, "Chi bộ trống", pb.UNIT_KIND_CELL, b.id)

    at_root = identity.stub.CountMembers(pb.CountMembersRequest(unit_id=identity.root_id), metadata=auth)
    assert {c.child_unit_id: c.members for c in at_root.children} == {a.id: 4, b.id: 0}
    assert (at_root.own_members, at_root.total_members) == (0, 4)
    at_a = identity.stub.CountMembers(pb.CountMembersRequest(unit_id=a.id), metadata=auth)
    assert {c.child_unit_id: c.members for c in at_a.children} == {cell_a.id: 2, grassroots.id: 1}
    assert (at_a.own_members, at_a.total_members) == (1, 4)
    at_b = identity.stub.CountMembers(pb.CountMembersRequest(unit_id=b.id), metadata=auth)
    assert {c.child_unit_id: c.members for c in at_b.children} == {cell_b.id: 0, empty.id: 0}
    # Like ListRoster: the cell's officers over their cell, not over the commune; members never.
    secretary = identity.token("0912000500", "secretary-pass")
    own_cell = identity.stub.CountMembers(pb.CountMembersRequest(unit_id=cell_a.id), metadata=secretary)
    assert (own_cell.own_members, list(own_cell.children)) == (2, [])
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.CountMembers,
                 pb.CountMembersRequest(unit_id=a.id), metadata=secretary)
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.CountMembers,
                 pb.CountMembersRequest(unit_id=cell_a.id),
                 metadata=identity.token("0912000501", "member-password"))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "unit_required", identity.stub.CountMembers,
                 pb.CountMembersRequest(), metadata=auth)
    expect_error(grpc.StatusCode.NOT_FOUND, "unit_not_found", identity.stub.CountMembers,
                 pb.CountMembersRequest(unit_id="00000000-0000-4000-8000-000000000000"), metadata=auth)


def test_member_transfer_keeps_history_and_moves_cell_role(identity: Identity) -> None:
    auth, _, _, cell_a, cell_b = two_communes(identity)
    m = member(identity, auth, cell_a.id, "Bí thư", position=pb.CELL_POSITION_SECRETARY)
    moved = identity.stub.TransferMember(
        pb.TransferMemberRequest(id=m.id, to_unit_id=cell_b.id, reason="chuyển sinh hoạt"), metadata=auth
    ).member
    assert moved.unit_id == cell_b.id
    assert moved.position == pb.CELL_POSITION_MEMBER  # positions do not travel between cells
    history = identity.stub.ListMemberTransfers(pb.ListMemberTransfersRequest(member_id=m.id), metadata=auth)
    assert [(t.from_unit_id, t.to_unit_id) for t in history.transfers] == [(cell_a.id, cell_b.id)]
    roles = identity.stub.ListRoles(pb.ListRolesRequest(unit_id=identity.root_id, account_id=m.account_id),
                                    metadata=auth)
    assert list(roles.grants) == []
    gone = identity.stub.DeactivateMember(pb.DeactivateMemberRequest(id=m.id, reason="từ trần"), metadata=auth)
    assert not gone.member.active
    assert identity.stub.GetMember(pb.GetMemberRequest(id=m.id), metadata=auth).member.full_name == "Bí thư"


def test_roster_is_for_officers_editors_and_admins(identity: Identity) -> None:
    auth, _, b, cell_a, _ = two_communes(identity)
    member(identity, auth, cell_a.id, "Bí thư", position=pb.CELL_POSITION_SECRETARY, phone="0912000400",
           password="secretary-pass")
    member(identity, auth, cell_a.id, "Dự bị", status=pb.MEMBER_STATUS_PROBATIONARY, phone="0912000401",
           password="member-password")
    roster = identity.stub.ListRoster(pb.ListRosterRequest(unit_id=cell_a.id),
                                      metadata=identity.token("0912000400", "secretary-pass"))
    assert sorted((e.full_name, e.status) for e in roster.entries) == [
        ("Bí thư", pb.MEMBER_STATUS_OFFICIAL), ("Dự bị", pb.MEMBER_STATUS_PROBATIONARY)
    ]
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.ListRoster,
                 pb.ListRosterRequest(unit_id=cell_a.id), metadata=identity.token("0912000401", "member-password"))
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.ListRoster,
                 pb.ListRosterRequest(unit_id=b.id, subtree=True),
                 metadata=identity.token("0912000400", "secretary-pass"))


def test_member_pages_count_every_match_on_every_page(identity: Identity) -> None:
    auth, a, _, cell_a, _ = two_communes(identity)
    for i in range(7):
        member(identity, auth, cell_a.id, f"Đảng viên {i}", phone=f"09130001{i:02d}")
    gone = member(identity, auth, cell_a.id, "Đảng viên đã chuyển", phone="0913000199")
    identity.stub.DeactivateMember(pb.DeactivateMemberRequest(id=gone.id, reason="chuyển"), metadata=auth)

    def page(token: str = "", **kw):  # type: ignore[no-untyped-def]
        req = pb.ListMembersRequest(unit_id=cell_a.id, page_size=3, page_token=token, **kw)
        return identity.stub.ListMembers(req, metadata=auth)

    seen, token, totals = [], "", []
    while True:
        got = page(token)
        seen += [m.full_name for m in got.members]
        totals.append(got.total_size)
        token = got.next_page_token
        if not token:
            break
    assert seen == [f"Đảng viên {i}" for i in range(7)]  # by name; the inactive member left out
    assert totals == [7, 7, 7]
    assert page(include_inactive=True).total_size == 8
    assert page(query="dang vien 3").total_size == 1  # accents folded
    # A page past the end is empty and still counts the matches.
    past = page(base64.urlsafe_b64encode(b"o:30").decode())
    assert (list(past.members), past.total_size, past.next_page_token) == ([], 7, "")
    subtree = identity.stub.ListMembers(pb.ListMembersRequest(unit_id=a.id, subtree=True, page_size=2), metadata=auth)
    assert subtree.total_size == 7 and len(subtree.members) == 2

    # A commune admin (grant on an ancestor) lists the cell; once revoked, at once no longer: the
    # token is refused, and a new one lacks the role.
    admin_a = commune_admin(identity, auth, a.id, "0912000100")
    assert identity.stub.ListMembers(pb.ListMembersRequest(unit_id=cell_a.id), metadata=admin_a).total_size == 8
    grants = identity.stub.ListRoles(pb.ListRolesRequest(unit_id=a.id), metadata=auth).grants
    admin_grant = next(g for g in grants if g.role == pb.ROLE_ADMIN and g.unit_id == a.id)
    identity.stub.RevokeRole(pb.RevokeRoleRequest(grant_id=admin_grant.id), metadata=auth)
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "token_revoked", identity.stub.ListMembers,
                 pb.ListMembersRequest(unit_id=cell_a.id), metadata=admin_a)
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.ListMembers,
                 pb.ListMembersRequest(unit_id=cell_a.id), metadata=identity.token("0912000100", "admin-xa-password"))


def test_an_import_stream_without_its_last_message_imports_nothing(identity: Identity) -> None:
    """gRPC ends the request stream of a client that went away as it ends a whole one: only the
    message marked `last` says the file is whole."""
    auth = identity.admin()
    csv = "so_the_dang_vien,ho_ten,ma_don_vi\nCUT000777,Nguyễn Văn Cắt,\n".encode()
    first = pb.ImportMembersRequest(format=pb.FILE_FORMAT_CSV, unit_id=identity.root_id, chunk=csv[:20])
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "upload_incomplete", identity.stub.ImportMembers,
                 iter([first, pb.ImportMembersRequest(chunk=csv[20:])]), metadata=auth, timeout=10)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "after_end", identity.stub.ImportMembers,
                 iter([pb.ImportMembersRequest(format=pb.FILE_FORMAT_CSV, unit_id=identity.root_id, chunk=csv,
                                               last=True), pb.ImportMembersRequest(chunk=b"x")]),
                 metadata=auth, timeout=10)
    with identity.db.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM members")).scalar_one() == 0
    whole = pb.ImportMembersRequest(format=pb.FILE_FORMAT_CSV, unit_id=identity.root_id, chunk=csv, last=True,
                                    dry_run=True)
    assert identity.stub.ImportMembers(iter([whole]), metadata=auth, timeout=10).rows == 1  # whole: read


def test_get_me_gives_the_profile_and_every_grant_highest_unit_first(identity: Identity) -> None:
    auth, a, _, cell_a, _ = two_communes(identity)
    root = identity.stub.GetMe(pb.GetMeRequest(), metadata=auth)  # an account with no member
    assert (root.username, root.unit_id, root.HasField("member")) == (ROOT_ADMIN[0], identity.root_id, False)
    assert [(g.role, g.unit_id) for g in root.roles] == [(pb.ROLE_ADMIN, identity.root_id)]

    plain = member(identity, auth, cell_a.id, "Đảng viên Mới", phone="0912300001", password="member-pass-1")
    me = identity.stub.GetMe(pb.GetMeRequest(), metadata=identity.token("0912300001", "member-pass-1"))
    assert (me.account_id, me.unit_id, me.member.full_name, list(me.roles)) == (
        plain.account_id, cell_a.id, "Đảng viên Mới", [])

    for role, unit_id in ((pb.ROLE_CELL_SECRETARY, cell_a.id), (pb.ROLE_EDITOR, a.id), (pb.ROLE_ADMIN, a.id)):
        identity.stub.GrantRole(pb.GrantRoleRequest(account_id=plain.account_id, role=role, unit_id=unit_id),
                                metadata=auth)
    me = identity.stub.GetMe(pb.GetMeRequest(), metadata=identity.token("0912300001", "member-pass-1"))
    assert me.unit_id == cell_a.id and me.member.id == plain.id
    assert [(g.role, g.unit_id, g.account_id) for g in me.roles] == [
        (pb.ROLE_ADMIN, a.id, plain.account_id), (pb.ROLE_EDITOR, a.id, plain.account_id),
        (pb.ROLE_CELL_SECRETARY, cell_a.id, plain.account_id),
    ]
    assert all(g.id and g.granted_at.seconds > 0 for g in me.roles)


def test_optional_profile_fields_are_emptied_on_request(identity: Identity) -> None:
    auth, _, _, cell_a, _ = two_communes(identity)
    an = member(identity, auth, cell_a.id, "Nguyễn Văn An", phone="0912300001", email="an@example.vn",
                ethnicity="Tày", birth_date="1970-05-02", party_card_number="C0912300001",
                password="an-password-123")

    def update(fields: pb.MemberFields, *clear: str) -> pb.Member:
        return identity.stub.UpdateMember(pb.UpdateMemberRequest(id=an.id, fields=fields, clear_fields=clear),
                                          metadata=auth).member

    done = update(pb.MemberFields(ethnicity="Nùng"), "phone", "email", "birth_date")
    assert (done.phone, done.email, done.birth_date, done.ethnicity) == ("", "", "", "Nùng")
    assert done.full_name == "Nguyễn Văn An" and done.party_card_number == "C0912300001"
    assert update(pb.MemberFields(), "email").email == ""  # already empty: nothing to do
    identity.login("C0912300001", "an-password-123")  # the card number still signs in

    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "field_not_clearable", update, pb.MemberFields(), "full_name")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "field_not_clearable", update, pb.MemberFields(),
                 "party_card_number")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "field_given_and_cleared", update,
                 pb.MemberFields(phone="0912300009"), "phone")
    assert update(pb.MemberFields()).ethnicity == "Nùng"  # nothing half-written by the refusals
    with identity.db.read() as conn:
        events = conn.execute(sa.text("SELECT payload FROM outbox WHERE topic = 'identity.member.updated'")).all()
    assert any({"phone", "email", "birth_date", "ethnicity"} <= set(json.loads(e.payload)["fields"]) for e in events)
