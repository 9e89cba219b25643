"""A cell's officer imports the cell's roster file (without positions), on SQLite and PostgreSQL."""

from __future__ import annotations

import grpc

from sotay.identity.v1 import identity_pb2 as pb
from tests.support.identity import Identity
from tests.unit.identity.test_identity_service import expect_error, member, two_communes, unit


def send(identity: Identity, auth, unit_id: str, text: str) -> pb.ImportMembersResponse:  # type: ignore[no-untyped-def]
    chunk = text.encode()
    return identity.stub.ImportMembers(
        iter([pb.ImportMembersRequest(format=pb.FILE_FORMAT_CSV, unit_id=unit_id, chunk=chunk, last=True)]),
        metadata=auth, timeout=30,
    )


def test_a_secretary_imports_plain_members_into_the_cell_only(identity: Identity) -> None:
    auth, a, _, _, cell_b = two_communes(identity)
    cell = unit(identity, auth, "Chi bộ thôn Nhập", pb.UNIT_KIND_CELL, a.id, code="CBN")
    unit(identity, auth, "Chi bộ khác", pb.UNIT_KIND_CELL, a.id, code="CBK")
    member(identity, auth, cell.id, "Bí thư Nhập", phone="0914000001", password="secretary-pass",
           position=pb.CELL_POSITION_SECRETARY)
    member(identity, auth, cell_b.id, "Người xã B", party_card_number="B0914000099")
    secretary = identity.token("0914000001", "secretary-pass")
    rows = [
        "so_the_dang_vien,ho_ten,ma_don_vi,chuc_vu,so_dien_thoai",
        "N0914000010,Nguyễn Văn Mười,CBN,,0914000010",
        "N0914000011,Trần Thị Mười Một,CBN,Đảng viên,0914000011",
        "N0914000012,Lê Văn Mười Hai,CBN,Phó Bí thư,0914000012",
        "N0914000013,Phạm Văn Mười Ba,CBK,,0914000013",
        "B0914000099,Người xã B,CBN,,",
    ]
    dry = identity.stub.ImportMembers(iter([pb.ImportMembersRequest(
        format=pb.FILE_FORMAT_CSV, unit_id=cell.id, chunk="\n".join(rows).encode(), last=True, dry_run=True)]),
        metadata=secretary, timeout=30)
    assert (dry.created, dry.rejected) == (2, 3)
    report = send(identity, secretary, cell.id, "\n".join(rows))
    assert (report.rows, report.created, report.rejected) == (5, 2, 3)
    assert [(e.row, e.column, e.reason) for e in report.errors] == [
        (4, "chuc_vu", "position_needs_admin"),
        (5, "ma_don_vi", "unit_outside_subtree"),
        (6, "so_the_dang_vien", "party_card_number_unavailable"),
    ]
    names = {m.full_name for m in identity.stub.ListMembers(pb.ListMembersRequest(unit_id=cell.id),
                                                            metadata=secretary).members}
    assert names == {"Bí thư Nhập", "Nguyễn Văn Mười", "Trần Thị Mười Một"}
    # Importing the same file again changes nothing; a secretary cannot import into the commune.
    again = send(identity, secretary, cell.id, "\n".join(rows))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", send, identity, secretary, a.id, "\n".join(rows))
    # The same row with a position, imported by an admin, is taken.
    by_admin = send(identity, auth, cell.id, "\n".join(rows[:1] + rows[3:4]))
    assert (by_admin.created, by_admin.rejected) == (1, 0)
