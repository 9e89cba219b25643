"""The `sotay` administration commands, run as a user runs them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.core.db import Database
from services.identity import units
from tests.support.processes import SOTAY, system_env

pytestmark = pytest.mark.integration


def sotay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SOTAY, *args], env=env, capture_output=True, text=True, check=False)


def test_import_members_reports_bad_rows_and_is_idempotent(tmp_path: Path) -> None:
    env = system_env(tmp_path)
    assert sotay(env, "create-admin", "--username", "quan-tri", "--password", "mat-khau-manh-2026").returncode == 0
    db = Database(f"sqlite:///{tmp_path / 'identity.db'}")
    with db.write() as conn:
        root = conn.execute(sa.text("SELECT id FROM units")).scalar_one()
        commune = units.create(conn, "Đảng ủy xã Đồng Đăng", "commune", root, code="DD")
        units.create(conn, "Chi bộ Khối 1", "cell", commune.id, code="DD-K1")
    db.dispose()
    csv_file = tmp_path / "dang-vien.csv"
    csv_file.write_text(
        "so_the_dang_vien,ho_ten,ma_don_vi,ngay_sinh,loai_dang_vien\n"
        "LS00000001,Nguyễn Văn An,DD-K1,12/05/1960,Chính thức\n"
        "LS00000002,,DD-K1,1970-01-01,Dự bị\n"
        "LS00000003,Hoàng Thị Lan,KHONG-CO,1980-02-02,Dự bị\n"
        "LS00000004,Vi Văn Đông,DD-K1,31/02/1990,Dự bị\n"
        "LS00000005,Lương Thị Mai,DD-K1,1985-03-03,Dự bị\n",
        encoding="utf-8",
    )
    first = sotay(env, "import-members", str(csv_file))
    assert first.returncode == 1, first.stderr  # some rows were rejected
    assert "created 2" in first.stdout and "rejected 3" in first.stdout
    for row in ("row 3", "row 4", "row 5"):
        assert row in first.stdout
    again = sotay(env, "import-members", str(csv_file))
    assert "created 0" in again.stdout and "unchanged 2" in again.stdout
