"""The cell officers' pages against the JSON they are built on, on `sotay up` (temporary data
directory, demo seed), at 32 connections with wrk:

  - the secretary's workspace of an announced meeting with a document, showing who opened it
    (six gRPC calls) vs GET /api/v1/meetings/<id> (one);
  - a member's profile on the roster (the unit and the audited profile read) vs
    GET /api/v1/members/<id>?purpose=... (the same audited read, without the unit).

    python -m bench.staff_pages [--seconds 10]

Writes bench/results/staff_pages.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import requests

from bench.common import machine, write_result
from bench.loadgen import run_wrk
from bench.web_pages import browser_session, publish
from gateway.web.roster import PROFILE_PURPOSE
from gateway.web.session import COOKIE
from tests.support.browser import demo_accounts
from tests.support.processes import login, running_system


def compare(system: Any, page: str, cookie: str, api: str, bearer: dict[str, str], seconds: float,
            must_show: str) -> dict[str, Any]:
    """The page (checked to show `must_show` as signed in) vs its JSON, one after the other."""
    shown = requests.get(system.url(page), cookies={COOKIE: cookie}, timeout=10, allow_redirects=False)
    assert shown.status_code == 200 and must_show in shown.text, (page, shown.status_code)
    assert requests.get(system.url(api), headers=bearer, timeout=10).status_code == 200, api
    html = run_wrk(system.url(page), headers={"Cookie": f"{COOKIE}={cookie}"}, seconds=seconds)
    json_ = run_wrk(system.url(api), headers=bearer, seconds=seconds)
    return {
        "page": html, "api": json_, "page_bytes": len(shown.content),
        "ratio_p50_page_over_api": round(html["p50_ms"] / json_["p50_ms"], 2),
        "ratio_rps_page_over_api": round(html["requests_per_s"] / json_["requests_per_s"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="wrk run per endpoint")
    args = parser.parse_args()
    os.environ["ACCESS_TOKEN_TTL"] = "7200"
    before = machine()
    with tempfile.TemporaryDirectory() as tmp, running_system(Path(tmp)) as system:
        accounts = demo_accounts(Path(tmp))
        bearer = {who: login(system, *accounts[who]) for who in ("admin", "secretary", "member")}
        made = publish(system, bearer["admin"], bearer["secretary"])
        meeting = made["meeting"]
        cell = system.api("GET", "/me", bearer["secretary"])["unit_id"]
        member = system.api("GET", "/me", bearer["member"])["member"]["id"]
        system.api("POST", f"/meetings/{meeting}/documents", bearer["secretary"],
                   json={"document_id": made["document"]})
        system.api("POST", f"/meetings/{meeting}/documents/{made['document']}/opened", bearer["member"])
        cookie = browser_session(system, *accounts["secretary"])
        purpose = urllib.parse.quote(PROFILE_PURPOSE)
        result = {
            "workspace": compare(system, f"/manage/meetings/{meeting}", cookie, f"/api/v1/meetings/{meeting}",
                                 bearer["secretary"], args.seconds, "Đã mở: 1/"),
            "profile": compare(system, f"/roster/{cell}/members/{member}", cookie,
                               f"/api/v1/members/{member}?purpose={purpose}", bearer["secretary"], args.seconds,
                               "Sửa hồ sơ"),
        }
    write_result("staff_pages", {
        "system": "sotay up, SQLite, demo seed (25-member cell), gunicorn defaults",
        "machine_before": before, "machine_after": machine(), **result,
    })


if __name__ == "__main__":
    main()
