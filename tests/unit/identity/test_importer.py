"""Member import/export (services.identity.importer) through its public functions.

Every test takes the `identity_db` fixture (a migrated identity database) and uses only portable
SQL, so the module can later run on PostgreSQL by parametrising that fixture.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from services.core.db import Database
from services.core.errors import InvalidArgument
from services.core.events import topic_of
from services.identity import importer, members, units
from services.identity.importer import ImportReport, export_members, import_members
from services.identity.migrations import MIGRATIONS
from sotay.events.v1.identity_events_pb2 import MembersImported

IMPORTED = topic_of(MembersImported)
HEADER = list(importer.COLUMNS)
DOCS = Path(__file__).resolve().parents[3] / "docs" / "member-import-format.md"


@pytest.fixture
def identity_db(database: Database) -> Database:
    """Identity's schema on each backend (SQLite and PostgreSQL)."""
    database.migrate("identity", MIGRATIONS)
    return database


@dataclass
class Tree:
    province: str
    commune: str  # the unit files are imported into
    cell1: str
    cell2: str
    other_commune: str
    other_cell: str


@pytest.fixture
def tree(identity_db: Database) -> Tree:
    """TU > XA > (CB1, CB2); TU > XB > CB3. Imports go into XA."""
    with identity_db.write() as conn:
        province = units.create(conn, "Tỉnh ủy Lạng Sơn", "province", "", code="TU")
        commune = units.create(conn, "Đảng ủy xã Đồng Đăng", "commune", province.id, code="XA")
        cell1 = units.create(conn, "Chi bộ khu 1", "cell", commune.id, code="CB1")
        cell2 = units.create(conn, "Chi bộ khu 2", "cell", commune.id, code="CB2")
        other = units.create(conn, "Đảng ủy xã Bảo Lâm", "commune", province.id, code="XB")
        other_cell = units.create(conn, "Chi bộ thôn 3", "cell", other.id, code="CB3")
    return Tree(province.id, commune.id, cell1.id, cell2.id, other.id, other_cell.id)


# --- helpers --------------------------------------------------------------------------------


def row(card: str, name: str = "Nguyễn Văn An", unit: str = "CB1", **values: str) -> dict[str, str]:
    return {"so_the_dang_vien": card, "ho_ten": name, "ma_don_vi": unit, **values}


def csv_file(rows: list[dict[str, str]], header: list[str] | None = None, delimiter: str = ",",
             bom: bool = False) -> io.BytesIO:
    header = header or HEADER
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter)
    writer.writerow(header)
    for r in rows:
        writer.writerow([r.get(h, "") for h in header])
    return io.BytesIO(("\ufeff" if bom else "").encode() + text.getvalue().encode())


def xlsx_file(rows: list[list[Any]]) -> io.BytesIO:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for r in rows:
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out


def run(db: Database, tree: Tree, data: io.BytesIO, fmt: str = "csv", **options: Any) -> ImportReport:
    return import_members(db, tree.commune, data, fmt, **options)


def scalar(db: Database, sql: str, **params: Any) -> Any:
    with db.read() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def member(db: Database, card: str) -> Any:
    with db.read() as conn:
        found = conn.execute(
            sa.text(f"{members.SELECT} WHERE m.party_card_number = :c"), {"c": card}
        ).first()
    assert found is not None, card
    return found


def events(db: Database, topic: str = "") -> list[dict[str, Any]]:
    with db.read() as conn:
        found = conn.execute(
            sa.text("SELECT payload FROM outbox WHERE topic LIKE :t ORDER BY created_at, id"),
            {"t": topic + "%"},
        ).scalars()
        return [json.loads(p) for p in found]


def counts(db: Database) -> tuple[int, ...]:
    return tuple(
        scalar(db, f"SELECT COUNT(*) FROM {table}")
        for table in ("members", "accounts", "role_grants", "member_transfers", "outbox")
    )


def errors(report: ImportReport) -> list[tuple[int, str, str]]:
    return [(e.row, e.column, e.reason) for e in report.errors]


GOOD = [
    row("LS-0001", "Nguyễn Thị Bình", gioi_tinh="Nữ", ngay_sinh="05/03/1960", dan_toc="Tày",
        so_dien_thoai="+84 912 345 678", email="Binh@Example.vn", ngay_vao_dang="1985-01-10",
        ngay_chinh_thuc="10/01/1986", loai_dang_vien="Chính thức", mien_sinh_hoat="Có",
        ly_do_mien="Tuổi cao", ngay_mien="2020-01-01", chuc_vu="Bí thư"),
    row("LS-0002", "Hoàng Văn Cường", unit="CB2", gioi_tinh="nam", loai_dang_vien="du bi",
        mien_sinh_hoat="0", chuc_vu="member"),
    row("LS-0003", "Lương  Văn   Dũng", gioi_tinh="male", chuc_vu="Phó Bí thư", so_dien_thoai="912000111"),
]


# --- import ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("delimiter", "bom"), [(",", False), (";", True)])
def test_csv_import_creates_members_accounts_and_roles(
    identity_db: Database, tree: Tree, delimiter: str, bom: bool
) -> None:
    seen: list[int] = []
    report = run(identity_db, tree, csv_file(GOOD, delimiter=delimiter, bom=bom), actor="admin-1",
                 progress=seen.append)

    assert (report.rows, report.created, report.updated, report.unchanged, report.rejected) == (3, 3, 0, 0, 0)
    assert report.errors == [] and report.warnings == []
    assert seen[-1] == 3
    binh = member(identity_db, "LS-0001")
    assert (binh.full_name, binh.gender, binh.birth_date, binh.ethnicity) == ("Nguyễn Thị Bình", "female",
                                                                              "1960-03-05", "Tày")
    assert (binh.phone, binh.email, binh.joined_on, binh.official_on) == ("0912345678", "binh@example.vn",
                                                                          "1985-01-10", "1986-01-10")
    assert (binh.status, bool(binh.exempt), binh.exempt_reason, binh.exempt_since) == (
        "official", True, "Tuổi cao", "2020-01-01")
    assert (binh.position, binh.unit_id, bool(binh.active)) == ("secretary", tree.cell1, True)
    cuong = member(identity_db, "LS-0002")
    assert (cuong.gender, cuong.status, bool(cuong.exempt), cuong.unit_id) == (
        "male", "probationary", False, tree.cell2)
    dung = member(identity_db, "LS-0003")
    assert (dung.full_name, dung.phone, dung.position) == ("Lương Văn Dũng", "0912000111", "deputy_secretary")

    # every member has an account without a password, and positions carry their cell role
    assert scalar(identity_db, "SELECT COUNT(*) FROM members m JOIN accounts a ON a.member_id = m.id "
                               "WHERE a.password_hash IS NULL AND a.active") == 3
    with identity_db.read() as conn:
        grants = conn.execute(sa.text(
            "SELECT m.party_card_number, g.role, g.unit_id FROM role_grants g "
            "JOIN accounts a ON a.id = g.account_id JOIN members m ON m.id = a.member_id "
            "ORDER BY m.party_card_number")).all()
    assert [tuple(g) for g in grants] == [("LS-0001", "cell_secretary", tree.cell1),
                                          ("LS-0003", "cell_deputy", tree.cell1)]

    # one event for the batch, none per row
    assert [e["created"] for e in events(identity_db, "identity.member")] == [3]
    (event,) = events(identity_db, IMPORTED)
    assert event["unit_ids"] == sorted([tree.cell1, tree.cell2])
    assert (event["root_unit_id"], event["actor"]) == (tree.commune, "admin-1")


def test_headers_with_diacritics_and_unknown_columns(identity_db: Database, tree: Tree) -> None:
    header = ["STT", "Họ tên", "Số thẻ đảng viên", "Mã đơn vị", "Giới tính", "Ghi chú"]
    data = "\r\n".join([",".join(header), "1,Trần Văn Em,LS-0100,CB2,Khác,xyz", ",,,,,"]).encode()
    report = run(identity_db, tree, io.BytesIO(data))

    assert (report.rows, report.created) == (1, 1)
    assert report.warnings == ["unknown column 'STT' ignored", "unknown column 'Ghi chú' ignored"]
    assert member(identity_db, "LS-0100").gender == "other"


def test_xlsx_import(identity_db: Database, tree: Tree) -> None:
    data = xlsx_file([
        ["Số thẻ đảng viên", "Họ tên", "Mã đơn vị", "Ngày sinh", "Số điện thoại", "Miễn sinh hoạt",
         "Lý do miễn", "Chức vụ"],
        ["LS-0200", "Vi Thị Hoa", "CB1", dt.datetime(1970, 7, 2), 912345678, "x", "Ốm dài ngày",
         "Chi ủy viên"],
        [None] * 8,
        ["LS-0201", "Hà Văn Ích", "CB2", "02/07/1971", "0987654321", False, None, None],
        ["LS-0202", "", "CB2", "1971-13-01", None, None, None, None],
    ])
    report = run(identity_db, tree, data, "xlsx")

    assert (report.rows, report.created, report.rejected) == (3, 2, 1)
    assert errors(report) == [(5, "ho_ten", "full_name_required")]
    hoa = member(identity_db, "LS-0200")
    assert (hoa.birth_date, hoa.phone, bool(hoa.exempt), hoa.exempt_reason, hoa.position) == (
        "1970-07-02", "0912345678", True, "Ốm dài ngày", "committee_member")
    ich = member(identity_db, "LS-0201")
    assert (ich.birth_date, bool(ich.exempt), ich.unit_id) == ("1971-07-02", False, tree.cell2)


def test_bad_rows_are_reported_and_good_rows_imported(identity_db: Database, tree: Tree) -> None:
    rows = [
        row("LS-0001"),                                 # 2 good
        row("LS-0002", name=""),                        # 3 no name
        row("LS-0003", ngay_sinh="31/02/1990"),         # 4 no such day
        row("LS-0004", ngay_vao_dang="hôm qua"),        # 5 not a date
        row("LS-0005", so_dien_thoai="12ab"),           # 6 bad phone
        row("LS-0006", unit="ZZZ"),                     # 7 unknown unit
        row("LS-0007", unit="CB3"),                     # 8 other commune
        row("LS-0001", name="Someone Else"),            # 9 duplicate card
        row("", name="Không thẻ"),                      # 10 no card
        row("LS-0010", gioi_tinh="?"),                  # 11 bad gender
        row("LS-0011", mien_sinh_hoat="Có"),            # 12 exempt without a reason
        row("LS-0012", unit=""),                        # 13 no unit
        row("LS-0013", chuc_vu="Chủ tịch"),             # 14 unknown position
        row("LS-0014", unit="CB2"),                     # 15 good
    ]
    report = run(identity_db, tree, csv_file(rows), batch_size=3)

    assert errors(report) == [
        (3, "ho_ten", "full_name_required"),
        (4, "ngay_sinh", "invalid_date"),
        (5, "ngay_vao_dang", "invalid_date"),
        (6, "so_dien_thoai", "invalid_phone"),
        (7, "ma_don_vi", "unit_not_found"),
        (8, "ma_don_vi", "unit_outside_subtree"),
        (9, "so_the_dang_vien", "duplicate_in_file"),
        (10, "so_the_dang_vien", "party_card_number_required"),
        (11, "gioi_tinh", "invalid_gender"),
        (12, "ly_do_mien", "exempt_reason_required"),
        (13, "ma_don_vi", "unit_code_required"),
        (14, "chuc_vu", "invalid_position"),
    ]
    assert all(e.message for e in report.errors)
    assert (report.rows, report.created, report.rejected) == (14, 2, 12)
    assert member(identity_db, "LS-0001").full_name == "Nguyễn Văn An"
    assert scalar(identity_db, "SELECT COUNT(*) FROM members") == 2


def test_reimport_is_idempotent(identity_db: Database, tree: Tree) -> None:
    first = run(identity_db, tree, csv_file(GOOD))
    before = counts(identity_db)
    again = run(identity_db, tree, csv_file(GOOD))

    assert first.created == 3
    assert (again.rows, again.created, again.updated, again.unchanged, again.rejected) == (3, 0, 0, 3, 0)
    assert counts(identity_db) == before  # no new member, account, grant, transfer or event


def test_changed_row_is_updated_and_blank_cells_keep_values(identity_db: Database, tree: Tree) -> None:
    run(identity_db, tree, csv_file(GOOD))
    events_before = len(events(identity_db))
    changed = [
        row("LS-0001", "Nguyễn Thị Bình", so_dien_thoai="0900000001", mien_sinh_hoat="Không"),
        row("LS-0002", "Hoàng Văn Cường", unit="CB2", loai_dang_vien="Chính thức", chuc_vu="Chi ủy viên"),
        row("LS-0003", "Lương Văn Dũng", chuc_vu="Phó Bí thư"),
    ]
    report = run(identity_db, tree, csv_file(changed))

    assert (report.created, report.updated, report.unchanged) == (0, 2, 1)
    binh = member(identity_db, "LS-0001")
    assert (binh.phone, bool(binh.exempt), binh.exempt_reason, binh.exempt_since) == (
        "0900000001", False, None, None)
    assert (binh.email, binh.birth_date, binh.position) == ("binh@example.vn", "1960-03-05", "secretary")
    cuong = member(identity_db, "LS-0002")
    assert (cuong.status, cuong.position) == ("official", "committee_member")
    assert scalar(identity_db, "SELECT COUNT(*) FROM role_grants WHERE account_id = :a AND role = :r",
                  a=cuong.account_id, r="cell_committee") == 1
    new_events = events(identity_db)[events_before:]
    assert [(e["created"], e["updated"]) for e in new_events] == [(0, 2)]


def test_changed_unit_is_a_transfer_with_history(identity_db: Database, tree: Tree) -> None:
    run(identity_db, tree, csv_file(GOOD))
    moved = [dict(GOOD[0], ma_don_vi="CB2"), dict(GOOD[2], ma_don_vi="CB2", chuc_vu="")]
    report = run(identity_db, tree, csv_file(moved), actor="admin-2")

    assert (report.updated, report.unchanged) == (2, 0)
    binh = member(identity_db, "LS-0001")
    dung = member(identity_db, "LS-0003")
    assert (binh.unit_id, binh.position) == (tree.cell2, "secretary")  # the file's position wins
    assert (dung.unit_id, dung.position) == (tree.cell2, "member")  # a transfer resets the position
    with identity_db.read() as conn:
        history = conn.execute(sa.text(
            "SELECT member_id, from_unit_id, to_unit_id, actor_account_id FROM member_transfers "
            "ORDER BY member_id")).all()
        grants = conn.execute(sa.text("SELECT account_id, role, unit_id FROM role_grants")).all()
    assert sorted(tuple(h) for h in history) == sorted(
        [(binh.id, tree.cell1, tree.cell2, "admin-2"), (dung.id, tree.cell1, tree.cell2, "admin-2")])
    assert [tuple(g) for g in grants] == [(binh.account_id, "cell_secretary", tree.cell2)]
    transferred = events(identity_db, "identity.member.transferred")
    assert sorted(e["member_id"] for e in transferred) == sorted([binh.id, dung.id])
    assert events(identity_db, IMPORTED)[-1]["transferred"] == 2


def test_existing_member_outside_the_subtree_or_inactive_is_not_touched(
    identity_db: Database, tree: Tree
) -> None:
    with identity_db.write() as conn:
        members.create(conn, tree.other_cell, members.Profile(full_name="Người Xã Khác",
                                                              party_card_number="LS-0900"))
        gone = members.create(conn, tree.cell1, members.Profile(full_name="Đã Chuyển Đi",
                                                                party_card_number="LS-0901"))
        members.deactivate(conn, gone.id, "moved away")
        gone_elsewhere = members.create(conn, tree.other_cell, members.Profile(full_name="Đã Nghỉ Xã Khác",
                                                                             party_card_number="LS-0902"))
        members.deactivate(conn, gone_elsewhere.id, "moved away")
    report = run(identity_db, tree, csv_file([row("LS-0900"), row("LS-0901"), row("LS-0902")]))

    # A card held outside the subtree gets one answer, whether its member is active or not.
    assert errors(report) == [(2, "so_the_dang_vien", "party_card_number_unavailable"),
                              (3, "so_the_dang_vien", "member_inactive"),
                              (4, "so_the_dang_vien", "party_card_number_unavailable")]
    assert report.errors[0].message == report.errors[2].message
    assert member(identity_db, "LS-0900").unit_id == tree.other_cell
    assert scalar(identity_db, "SELECT COUNT(*) FROM member_transfers") == 0


def test_dry_run_writes_nothing(identity_db: Database, tree: Tree) -> None:
    rows = [*GOOD, row("LS-0009", name="")]
    before = counts(identity_db)
    dry = run(identity_db, tree, csv_file(rows), dry_run=True)
    assert counts(identity_db) == before
    real = run(identity_db, tree, csv_file(rows))
    assert dry == real

    changed = [dict(GOOD[0], ma_don_vi="CB2"), dict(GOOD[1], ho_ten="Hoàng Văn Cường Mới"), GOOD[2]]
    before = counts(identity_db)
    dry = run(identity_db, tree, csv_file(changed), dry_run=True)
    assert (dry.updated, dry.unchanged) == (2, 1)
    assert counts(identity_db) == before
    assert member(identity_db, "LS-0001").unit_id == tree.cell1


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_import_round_trips(identity_db: Database, tree: Tree, fmt: str) -> None:
    rows = [*GOOD,
            row("LS-0004", "=Công Thức", ly_do_mien="- ốm", mien_sinh_hoat="Có", dan_toc="+Kinh")]
    run(identity_db, tree, csv_file(rows))
    with identity_db.write() as conn:  # outside the exported subtree, and a deactivated member
        outsider = members.Profile(full_name="Xã Khác", party_card_number="LS-0900")
        members.create(conn, tree.other_cell, outsider)
        members.deactivate(conn, member(identity_db, "LS-0002").id, "left")

    data = b"".join(export_members(identity_db, tree.commune, fmt))
    if fmt == "csv":
        assert data.startswith(b"\xef\xbb\xbf")
        lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert lines[0] == HEADER
        exported = {r[0]: dict(zip(HEADER, r, strict=True)) for r in lines[1:]}
        assert exported["LS-0004"]["ho_ten"] == "'=Công Thức"  # no formula for spreadsheets
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(data), data_only=True).worksheets[0]
        values = [[v or "" for v in r] for r in sheet.iter_rows(values_only=True)]
        assert values[0] == HEADER
        exported = {r[0]: dict(zip(HEADER, r, strict=True)) for r in values[1:]}
        assert exported["LS-0004"]["ho_ten"] == "=Công Thức"  # a text cell: a formula would read None
    assert sorted(exported) == ["LS-0001", "LS-0003", "LS-0004"]
    assert {k: exported["LS-0001"][k] for k in ("gioi_tinh", "ngay_sinh", "loai_dang_vien", "mien_sinh_hoat",
                                                "chuc_vu", "ma_don_vi")} == {
        "gioi_tinh": "Nữ", "ngay_sinh": "1960-03-05", "loai_dang_vien": "Chính thức",
        "mien_sinh_hoat": "Có", "chuc_vu": "Bí thư", "ma_don_vi": "CB1"}

    before = counts(identity_db)
    report = run(identity_db, tree, io.BytesIO(data), fmt)
    assert (report.rows, report.unchanged, report.rejected) == (3, 3, 0), report.errors
    assert counts(identity_db) == before


def test_export_streams_csv_in_chunks(
    identity_db: Database, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "CHUNK_BYTES", 16 * 1024)
    rows = [row(f"LS-{i:05d}", f"Đảng Viên Số {i}") for i in range(3000)]
    assert run(identity_db, tree, csv_file(rows)).created == 3000
    chunks = list(export_members(identity_db, tree.province, "csv"))
    assert len(chunks) > 1
    assert b"".join(chunks).count(b"\r\n") == 3001


# --- refused files --------------------------------------------------------------------------


def zip_bomb() -> io.BytesIO:
    """A tiny XLSX-shaped archive whose shared strings (held in memory) inflate to 201 MB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/sharedStrings.xml", "w") as sheet:
            block = b" " * 2**20
            for _ in range(201):
                sheet.write(block)
    assert out.tell() < 2 * 2**20
    out.seek(0)
    return out


@pytest.mark.parametrize(
    ("data", "fmt", "reason"),
    [
        pytest.param(zip_bomb, "xlsx", "invalid_file", id="zip-bomb"),
        pytest.param(lambda: io.BytesIO(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))), "csv",
                     "invalid_file", id="binary-as-csv"),
        pytest.param(lambda: io.BytesIO(b"ho_ten,so_the_dang_vien,ma_don_vi\r\nL\xea V\xe3n,1,CB1"), "csv",
                     "invalid_file", id="not-utf8"),
        pytest.param(lambda: csv_file([row("LS-1")]), "xlsx", "invalid_file", id="csv-as-xlsx"),
        pytest.param(lambda: xlsx_file([["so_the_dang_vien"]]), "csv", "invalid_file", id="xlsx-as-csv"),
        pytest.param(lambda: io.BytesIO(b""), "csv", "invalid_file", id="empty"),
        pytest.param(lambda: io.BytesIO(b"\xef\xbb\xbf\r\n"), "csv", "invalid_file", id="bom-only"),
        pytest.param(lambda: csv_file([row("LS-1")]), "pdf", "invalid_file", id="unknown-format"),
        pytest.param(lambda: csv_file([], header=["ho_ten", "email"]), "csv", "missing_columns",
                     id="columns"),
        pytest.param(lambda: xlsx_file([]), "xlsx", "invalid_file", id="empty-sheet"),
        pytest.param(lambda: csv_file([], header=[*HEADER, "Họ tên"]), "csv", "invalid_file",
                     id="column-twice"),
    ],
)
def test_refused_files(identity_db: Database, tree: Tree, data: Any, fmt: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        run(identity_db, tree, data(), fmt)
    assert refused.value.reason == reason
    assert counts(identity_db)[0] == 0


def test_missing_columns_are_named(identity_db: Database, tree: Tree) -> None:
    with pytest.raises(InvalidArgument) as refused:
        run(identity_db, tree, csv_file([], header=["ho_ten", "email"]))
    assert refused.value.metadata["columns"] == "so_the_dang_vien,ma_don_vi"


def test_too_many_rows_is_checked_while_reading(
    identity_db: Database, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "MAX_ROWS", 4)
    with pytest.raises(InvalidArgument) as refused:
        run(identity_db, tree, csv_file([row(f"LS-{i:04d}") for i in range(5)]), batch_size=100)
    assert refused.value.reason == "too_many_rows"
    assert counts(identity_db)[0] == 0
    assert run(identity_db, tree, csv_file([row(f"LS-{i:04d}") for i in range(4)])).created == 4


# --- failures -------------------------------------------------------------------------------


def test_failure_mid_batch_leaves_nothing_of_that_batch(
    identity_db: Database, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    def break_accounts(done: int) -> None:  # after the first batch, account inserts fail
        monkeypatch.setattr(members, "ACCOUNT_INSERT_SQL", "INSERT INTO no_such_table (id) VALUES (:id)")

    rows = [row(f"LS-{i:04d}", chuc_vu="Bí thư" if i == 3 else "") for i in range(5)]
    with pytest.raises(sa.exc.DBAPIError):
        run(identity_db, tree, csv_file(rows), batch_size=2, progress=break_accounts)

    with identity_db.read() as conn:
        cards = conn.execute(sa.text("SELECT party_card_number FROM members ORDER BY 1")).scalars().all()
    assert cards == ["LS-0000", "LS-0001"]
    assert scalar(identity_db, "SELECT COUNT(*) FROM members m LEFT JOIN accounts a ON a.member_id = m.id "
                               "WHERE a.id IS NULL") == 0
    assert scalar(identity_db, "SELECT COUNT(*) FROM role_grants") == 0
    assert len(events(identity_db, IMPORTED)) == 1

    monkeypatch.undo()
    report = run(identity_db, tree, csv_file(rows))  # the same file completes the work
    assert (report.created, report.unchanged) == (3, 2)


# --- documentation --------------------------------------------------------------------------


def test_format_document_lists_every_column() -> None:
    documented = [line.split("|")[1].strip().strip("`") for line in DOCS.read_text().splitlines()
                  if line.startswith("| `")]
    assert documented[: len(HEADER)] == HEADER
    assert "docs/member-import-format.md" in (importer.__doc__ or "")
