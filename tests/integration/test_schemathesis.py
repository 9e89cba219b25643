"""schemathesis over every operation of the gateway's OpenAPI document, against the real system
(`sotay up` on a fresh data directory, with its seeded demo province), in three passes:

1. as a cell secretary (a member: inbox, check-in, feedback...),
2. as the province admin,
3. without a token (schemathesis also sends made-up Authorization headers).

Every pass fails on any 5xx and on a response that does not match the document (schema, content
type, status); the third also on anything but a 401 from an operation that needs a token. Runs are
deterministic (`--generation-deterministic`, one seed) and bounded by the number of cases, which
keeps the three passes within about two minutes on two cores. The figures are printed (`-s`).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.processes import System, login, running_system

pytestmark = pytest.mark.integration

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
ROOT = Path(__file__).resolve().parents[2]
SEED = 20261204
MAX_EXAMPLES = 8
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@dataclass
class Seeded:
    system: System
    secretary: dict[str, str]
    admin: dict[str, str]
    ids: dict[str, list[str]]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    data = tmp_path_factory.mktemp("schemathesis-system")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("INBOX_WATCH_MAX_SECONDS", "1")  # a live inbox stream lasts 1 s, not up to 5 minutes
        with running_system(data) as system:
            accounts = {line.split()[0]: line.split()[1] for line in
                        (data / "demo-accounts.txt").read_text(encoding="utf-8").splitlines() if line.strip()}
            admin = login(system, "admin", accounts["admin"])
            secretary = login(system, "0912000001", accounts["0912000001"])  # the secretary of the first cell

            def get(path: str, auth: dict[str, str], **params: str) -> dict:  # type: ignore[type-arg]
                reply = requests.get(system.url("/api/v1" + path), headers=auth, params=params, timeout=10)
                assert reply.status_code == 200, reply.text
                return reply.json()  # type: ignore[no-any-return]

            me, root = get("/me", secretary), get("/me", admin)["unit_id"]
            cell = me["member"]["unit_id"]
            members = get(f"/units/{cell}/members", admin)["items"]
            communes = get("/units", admin, parent_id=root)["items"]
            ids = {
                "unit_id": [root, cell, communes[0]["id"]],
                "member_id": [m["member_id"] for m in members[:5]],
                "account_id": [me["account_id"]],
            }
            yield Seeded(system, secretary, admin, ids)


def run_pass(seeded: Seeded, name: str, auth: dict[str, str], checks: str, report_dir: Path) -> dict:  # type: ignore[type-arg]
    """One schemathesis run; its JSON report, plus the statuses seen and the time taken."""
    report, statuses = report_dir / f"{name}.json", report_dir / f"{name}-statuses.txt"
    command = [
        SCHEMATHESIS, "run", seeded.system.url("/api/v1/openapi.json"),
        "--checks", checks, "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--generation-deterministic",
        "--workers", "2", "--request-timeout", "20", "--no-color", "--suppress-health-check", "all",
        "--report", "json", "--report-json-path", str(report),
    ]
    for header, value in auth.items():
        command += ["-H", f"{header}: {value}"]
    env = dict(os.environ, SCHEMATHESIS_HOOKS="tests.integration.schemathesis_hooks", PYTHONPATH=str(ROOT),
               SOTAY_FUZZ_IDS=json.dumps(seeded.ids), SOTAY_FUZZ_STATUSES=str(statuses))
    started = time.monotonic()
    # In the report's folder: schemathesis keeps a cache in its working directory.
    run = subprocess.run(command, cwd=report_dir, env=env, capture_output=True, text=True, timeout=200, check=False)
    took = time.monotonic() - started
    assert report.exists(), run.stdout[-5000:] + run.stderr[-3000:]
    result = json.loads(report.read_text(encoding="utf-8"))
    counts = collections.Counter(statuses.read_text(encoding="utf-8").split()) if statuses.exists() else {}
    result["statuses"], result["took"] = dict(sorted(counts.items())), round(took, 1)
    print(f"\nschemathesis {name}: {result['operations']['tested']}/{result['operations']['total']} operations, "
          f"{result['test_cases']['generated']} cases, {len(result['failures'])} failures, "
          f"{len(result['errors'])} errors, {took:.0f} s; statuses {result['statuses']}")
    assert run.returncode == 0 and not result["failures"] and not result["errors"], run.stdout[-20000:]
    assert result["operations"]["tested"] == result["operations"]["total"] >= 90
    return result  # type: ignore[no-any-return]


def test_as_a_cell_secretary(seeded: Seeded, tmp_path: Path) -> None:
    run_pass(seeded, "secretary", seeded.secretary, CHECKS, tmp_path)


def test_as_the_province_admin(seeded: Seeded, tmp_path: Path) -> None:
    result = run_pass(seeded, "admin", seeded.admin, CHECKS, tmp_path)
    assert any(code.startswith("2") for code in result["statuses"])  # real rows were reached


def test_without_a_token_every_protected_operation_is_a_401(seeded: Seeded, tmp_path: Path) -> None:
    result = run_pass(seeded, "no-token", {}, "not_a_server_error,requires_token", tmp_path)
    assert result["statuses"].get("401", 0) > result["test_cases"]["generated"] / 2


def test_no_process_logged_a_traceback(seeded: Seeded) -> None:
    """After the three passes (runs last): bad input was answered, never crashed into a log."""
    log = seeded.system.log.read_text(encoding="utf-8")
    assert "Traceback" not in log and "unhandled error" not in log, log[-5000:]
