"""The whole system as a user runs it: `sotay create-admin`, `sotay up`, HTTP → gateway → gRPC → database."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import requests

from services.cli import grpc_healthy
from tests.support.processes import SERVICES, SOTAY, login, running_system, stops_cleanly, system_env

pytestmark = pytest.mark.integration


def test_admin_made_before_up_logs_in_and_manages_units_and_members(tmp_path: Path) -> None:
    made = subprocess.run(
        [SOTAY, "create-admin", "--username", "bi-thu-tinh", "--password", "mat-khau-manh-2026"],
        env=system_env(tmp_path), capture_output=True, text=True, check=False,
    )
    assert made.returncode == 0, made.stderr
    with running_system(tmp_path) as system:
        assert requests.get(system.url("/healthz"), timeout=5).status_code == 200
        assert requests.get(system.url("/readyz"), timeout=5).status_code == 200
        for name in SERVICES:
            assert grpc_healthy(system.env[f"{name.upper()}_ADDR"], timeout=5), name

        auth = login(system, "bi-thu-tinh", "mat-khau-manh-2026")
        me = requests.get(system.url("/api/v1/me"), headers=auth, timeout=10).json()
        assert [r["role"] for r in me["roles"]] == ["admin"]
        root = me["unit_id"]
        roots = requests.get(system.url("/api/v1/units"), headers=auth, timeout=10).json()["items"]
        assert [u["id"] for u in roots] == [root]
        commune = requests.post(system.url("/api/v1/units"), headers=auth, timeout=10,
                                json={"name": "Đảng ủy xã Đồng Đăng", "kind": "commune", "parent_id": root})
        assert commune.status_code in (200, 201), commune.text
        cell = requests.post(system.url("/api/v1/units"), headers=auth, timeout=10,
                             json={"name": "Chi bộ Khối 1", "kind": "cell", "parent_id": commune.json()["id"]})
        created = requests.post(system.url(f"/api/v1/units/{cell.json()['id']}/members"), headers=auth, timeout=10,
                                json={"full_name": "Nguyễn Văn Đông", "status": "probationary",
                                      "party_card_number": "LS12345678"})
        assert created.status_code in (200, 201), created.text
        listed = requests.get(system.url(f"/api/v1/units/{root}/members"), params={"subtree": "true"},
                              headers=auth, timeout=10).json()
        assert [m["full_name"] for m in listed["items"]] == ["Nguyễn Văn Đông"]
        assert listed["items"][0]["status"] == "probationary"
        exported = requests.get(system.url(f"/api/v1/units/{root}/members/export"), params={"format": "csv"},
                                headers=auth, timeout=10)  # relayed from identity's stream as it arrives
        assert exported.status_code == 200, exported.text
        lines = exported.content.decode("utf-8-sig").splitlines()
        assert lines[0].startswith("so_the_dang_vien,ho_ten,") and lines[1].startswith("LS12345678,Nguyễn Văn Đông,")

        # Errors are JSON with a reason, never a 500.
        assert requests.get(system.url("/api/v1/me"), timeout=10).status_code == 401
        bad = requests.post(system.url("/api/v1/auth/login"), data="{not json", timeout=10,
                            headers={"Content-Type": "application/json"})
        assert bad.status_code == 400 and "error" in bad.json()
        unknown = requests.get(system.url("/api/v1/units/00000000-0000-4000-8000-000000000000"), headers=auth,
                               timeout=10)
        assert unknown.status_code == 404 and unknown.json()["error"]["reason"] == "unit_not_found"
        stops_cleanly(system)


def test_up_on_an_empty_directory_seeds_a_demo_province(tmp_path: Path) -> None:
    with running_system(tmp_path) as system:
        accounts = (tmp_path / "demo-accounts.txt").read_text(encoding="utf-8").split("\n")
        login_name, password = accounts[0].split()[:2]
        auth = login(system, login_name, password)
        me = requests.get(system.url("/api/v1/me"), headers=auth, timeout=10).json()
        members = requests.get(system.url(f"/api/v1/units/{me['unit_id']}/members"), headers=auth, timeout=10,
                               params={"subtree": "true", "page_size": 50}).json()
        assert members["total_size"] >= 300
        statuses = {m["status"] for m in members["items"]}
        assert statuses <= {"official", "probationary"}
        # The reports service reads identity's events into its own tables: the seeded roster shows.
        year = time.strftime("%Y")

        def reported() -> int:
            reply = requests.get(system.url(f"/api/v1/reports/units/{me['unit_id']}"), headers=auth, timeout=10,
                                 params={"period": year})
            return int(reply.json()["membership"]["members"]) if reply.status_code == 200 else -1

        deadline = time.monotonic() + 30
        while reported() != members["total_size"] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert reported() == members["total_size"]
        stops_cleanly(system)
