"""One-time activation codes through identity's gRPC API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import time

import grpc
import sqlalchemy as sa

from sotay.identity.v1 import identity_pb2 as pb
from tests.support.identity import Identity
from tests.unit.identity.test_identity_service import expect_error, member, two_communes

NEW_PASSWORD = "mat-khau-moi-2026"


def redeem(identity: Identity, login: str, code: str, password: str = NEW_PASSWORD) -> pb.RedeemActivationCodeResponse:
    return identity.stub.RedeemActivationCode(
        pb.RedeemActivationCodeRequest(login=login, code=code, new_password=password), timeout=10
    )


def test_secretary_issues_codes_and_members_set_their_first_password(identity: Identity) -> None:
    auth, _, _, cell_a, cell_b = two_communes(identity)
    secretary = member(identity, auth, cell_a.id, "Bí thư A1", phone="0912000100", party_card_number="LS100",
                       position=pb.CELL_POSITION_SECRETARY, password="bi-thu-password")
    imported = member(identity, auth, cell_a.id, "Hoàng Văn Nhập", phone="0912000101", party_card_number="LS101")
    card_only = member(identity, auth, cell_a.id, "Lương Thị Thẻ", party_card_number="LS102")
    member(identity, auth, cell_b.id, "Ở chi bộ khác", phone="0912000200")
    sec = identity.token("0912000100", "bi-thu-password")

    # Empty member_ids: everyone of the cell still without a password, not the secretary.
    codes = identity.stub.IssueActivationCodes(pb.IssueActivationCodesRequest(unit_id=cell_a.id), metadata=sec).codes
    by_member = {c.member_id: c for c in codes}
    assert set(by_member) == {imported.id, card_only.id}
    assert by_member[imported.id].login == "0912000101" and by_member[card_only.id].login == "LS102"
    code = by_member[imported.id].code
    assert len(code) == 9 and code[4] == "-"
    assert by_member[imported.id].expires_at.seconds > time.time() + 13 * 86400
    with identity.db.read() as conn:
        stored = list(conn.execute(sa.text("SELECT code_hash FROM activation_codes")).scalars())
    assert stored and all(code.replace("-", "") not in h for h in stored)  # kept hashed only
    assert secretary.id not in by_member

    # A wrong code, a password too short: refused; the code typed loosely (lower case, no dash) works once.
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "activation_code_invalid", redeem, identity, "0912000101",
                 "AAAA-AAAA")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "password_too_short", redeem, identity, "0912000101", code, "short")
    tokens = redeem(identity, "0912000101", code.replace("-", " ").lower())
    me = identity.stub.GetMe(pb.GetMeRequest(), metadata=[("authorization", f"Bearer {tokens.access_token}")])
    assert me.member.id == imported.id
    assert identity.login("0912000101", "mat-khau-moi-2026").access_token
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "activation_code_invalid", redeem, identity, "0912000101", code)

    # A new code cancels the earlier one.
    first = identity.stub.IssueActivationCodes(
        pb.IssueActivationCodesRequest(unit_id=cell_a.id, member_ids=[card_only.id]), metadata=sec).codes[0].code
    second = identity.stub.IssueActivationCodes(
        pb.IssueActivationCodesRequest(unit_id=cell_a.id, member_ids=[card_only.id]), metadata=sec).codes[0].code
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "activation_code_invalid", redeem, identity, "LS102", first)
    assert redeem(identity, "LS102", second).access_token
    with identity.db.read() as conn:
        actions = list(conn.execute(sa.text("SELECT action FROM audit_log")).scalars())
    assert actions.count("auth.account.activated") == 2 and "auth.activation.failed" in actions


def test_only_officers_and_admins_of_the_unit_issue_codes(identity: Identity) -> None:
    auth, _, _, cell_a, cell_b = two_communes(identity)
    member(identity, auth, cell_a.id, "Đảng viên A", phone="0912000301", password="dang-vien-password")
    other = member(identity, auth, cell_b.id, "Đảng viên B", phone="0912000302")
    plain = identity.token("0912000301", "dang-vien-password")
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.IssueActivationCodes,
                 pb.IssueActivationCodesRequest(unit_id=cell_a.id), metadata=plain)
    # A member of another unit cannot be named through this one.
    expect_error(grpc.StatusCode.NOT_FOUND, "member_not_found", identity.stub.IssueActivationCodes,
                 pb.IssueActivationCodesRequest(unit_id=cell_a.id, member_ids=[other.id]), metadata=auth)
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", identity.stub.IssueActivationCodes,
                 pb.IssueActivationCodesRequest(unit_id=cell_a.id))


def test_wrong_codes_lock_redemption_and_expired_codes_fail(identity: Identity) -> None:
    auth, _, _, cell_a, _ = two_communes(identity)
    m = member(identity, auth, cell_a.id, "Đảng viên", phone="0912000401")
    code = identity.stub.IssueActivationCodes(
        pb.IssueActivationCodesRequest(unit_id=cell_a.id, member_ids=[m.id]), metadata=auth).codes[0].code
    for _ in range(5):
        expect_error(grpc.StatusCode.UNAUTHENTICATED, "activation_code_invalid", redeem, identity, "0912000401",
                     "WXYZ-2345")
    # Locked now: even the right code waits (guessing 40 bits five at a time is hopeless).
    expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "account_locked", redeem, identity, "0912000401", code)
    with identity.db.write() as conn:
        conn.execute(sa.text("DELETE FROM login_throttle"))
        conn.execute(sa.text("UPDATE activation_codes SET expires_at = :t"), {"t": time.time() - 1})
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "activation_code_invalid", redeem, identity, "0912000401", code)
    # Unknown logins answer the same (no account enumeration).
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "activation_code_invalid", redeem, identity, "0999999999", code)


def test_a_code_sets_a_password_so_only_an_admin_over_the_account_issues_one_once_it_has_one(
    identity: Identity,
) -> None:
    auth, commune_a, _, cell_a, _ = two_communes(identity)
    member(identity, auth, cell_a.id, "Bí thư A1", phone="0912000400", position=pb.CELL_POSITION_SECRETARY,
           password="bi-thu-password")
    signed_in = member(identity, auth, cell_a.id, "Đã có mật khẩu", phone="0912000401", password="da-co-mat-khau")
    officer_elsewhere = member(identity, auth, cell_a.id, "Biên tập xã", phone="0912000402")
    identity.stub.GrantRole(pb.GrantRoleRequest(account_id=officer_elsewhere.account_id, role=pb.ROLE_EDITOR,
                                                unit_id=commune_a.id), metadata=auth)
    sec = identity.token("0912000400", "bi-thu-password")

    def issue(caller: list[tuple[str, str]], *member_ids: str) -> pb.IssueActivationCodesResponse:
        return identity.stub.IssueActivationCodes(
            pb.IssueActivationCodesRequest(unit_id=cell_a.id, member_ids=list(member_ids)), metadata=caller)

    # The secretary would otherwise choose the password of a member who has one, or of a commune editor.
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", issue, sec, signed_in.id)
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "target_outranks_caller", issue, sec, officer_elsewhere.id)
    me = identity.stub.GetMe(pb.GetMeRequest(), metadata=sec).member
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "own_password_needs_current", issue, sec, me.id)
    # Asked for everyone still without a password, the secretary gets codes only for those it may.
    assert officer_elsewhere.id not in {c.member_id for c in issue(sec).codes}
    # An admin over both may (the forgotten-password case).
    assert len(issue(auth, signed_in.id, officer_elsewhere.id).codes) == 2
