"""A logout ends the access token at once through the whole deployed system (`sotay up`: identity
with its relay, the other services' revocation watchers, the gateway)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support.processes import SOTAY, running_system, system_env

pytestmark = pytest.mark.integration

ROUTES = {  # one route per service
    "identity": "/api/v1/me",
    "documents": "/api/v1/documents",
    "meetings": "/api/v1/meetings/00000000-0000-4000-8000-000000000000",  # (a list validates its query first)
    "notifications": "/api/v1/inbox",
    "reports": "/api/v1/reports/status",
}


def test_a_logged_out_token_gets_401_from_every_service(tmp_path: Path) -> None:
    made = subprocess.run(
        [SOTAY, "create-admin", "--username", "quan-tri", "--password", "mat-khau-manh-2026"],
        env=system_env(tmp_path), capture_output=True, text=True, check=False,
    )
    assert made.returncode == 0, made.stderr
    with running_system(tmp_path) as system:
        tokens = requests.post(system.url("/api/v1/auth/login"), timeout=10,
                               json={"username": "quan-tri", "password": "mat-khau-manh-2026"}).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        for name, path in ROUTES.items():  # answered (whatever the answer), not refused as unauthenticated
            assert requests.get(system.url(path), headers=auth, timeout=10).status_code != 401, name
        out = requests.post(system.url("/api/v1/auth/logout"), json={"refresh_token": tokens["refresh_token"]},
                            timeout=10)
        assert out.status_code == 204, out.text
        me = requests.get(system.url(ROUTES["identity"]), headers=auth, timeout=10)
        assert me.status_code == 401 and "token_revoked" in me.text, me.text  # at once
        for name, path in ROUTES.items():
            deadline = time.monotonic() + 2
            while True:
                got = requests.get(system.url(path), headers=auth, timeout=10)
                if got.status_code == 401 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert got.status_code == 401 and "token_revoked" in got.text, (name, got.status_code, got.text)
