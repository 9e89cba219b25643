"""The cell officers' pages against the JSON they are built on, on `sotay up` (temporary data
directory, demo seed), at 32 connections with wrk:

  - the secretary's workspace of an announced meeting with a document, showing who opened it
    (six gRPC calls) vs GET /api/v1/meetings/<id> (one);
  - a member's profile on the roster (the unit and the audited profile read) vs
    GET /api/v1/members/<id>?purpose=... (the same audited read, without the unit);
  - the secretary's upload of a cell document from the meeting's page (the cell's next number,
    the upload, the attachment: one form) vs the same file sent to POST /api/v1/documents for the
    cell with a number given, --uploads (20) of each one after the other (times per upload).

    python -m bench.staff_pages [--seconds 10] [--uploads 20]

Writes bench/results/staff_pages.json.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import requests

from bench.common import machine, write_result
from bench.loadgen import run_wrk
from bench.web_pages import CSRF_RE, browser_session, publish
from gateway.web.roster import PROFILE_PURPOSE
from gateway.web.session import COOKIE
from tests.support.browser import demo_accounts
from tests.support.documents import docx_bytes
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


def timed(send: Any, n: int) -> dict[str, Any]:
    """`send(i)` n times, one after the other: the times per call."""
    times = []
    for i in range(n):
        started = time.perf_counter()
        send(i)
        times.append((time.perf_counter() - started) * 1000)
    return {"uploads": n, "p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def cell_uploads(system: Any, cookie: str, bearer: dict[str, str], cell: str, n: int) -> dict[str, Any]:
    """The meeting page's upload form vs the JSON API's upload, for the secretary's own cell."""
    starts = time.strftime("%Y-%m-%dT19:30:00+07:00", time.gmtime(time.time() + 3 * 86400))
    meeting = system.api("POST", "/meetings", bearer, json={
        "cell_unit_id": cell, "kind": "regular", "title": "Sinh hoạt chi bộ (đo tải lên)", "starts_at": starts,
        "mode": "in_person"})["id"]
    page = requests.get(system.url(f"/manage/meetings/{meeting}"), cookies={COOKIE: cookie}, timeout=10).text
    csrf = CSRF_RE.search(page)
    assert csrf, "no CSRF field on the workspace"
    rng = random.Random(7)  # figures that do not compress away: a file of a few hundred KB, like a real draft
    body = docx_bytes([f"Mục {i}: chỉ tiêu {rng.randrange(10**9)}, kinh phí {rng.randrange(10**9)} đồng, "
                       f"hộ nghèo giảm {rng.random():.6f}%." for i in range(12000)])

    def form(i: int) -> None:
        reply = requests.post(
            system.url(f"/manage/meetings/{meeting}/documents/upload"), cookies={COOKIE: cookie}, timeout=60,
            data={"csrf_token": csrf.group(1), "idempotency_key": f"bench-form-{i}", "doc_type": "KH",
                  "title": f"Kế hoạch của chi bộ số {i}"},
            files={"file": ("ke-hoach.docx", body)}, allow_redirects=False)
        assert reply.status_code == 303 and "done=uploaded" in reply.headers["Location"], reply.status_code

    def api(i: int) -> None:
        system.api("POST", "/documents", bearer, data={
            "title": f"Báo cáo của chi bộ số {i}", "number": f"{i + 1}-BC/CB", "category": "van-kien-tu-lieu",
            "audience_unit_id": cell, "status": "published"}, files={"file": ("bao-cao.docx", body)})

    web, json_ = timed(form, n), timed(api, n)
    attached = len(system.api("GET", f"/meetings/{meeting}", bearer)["documents"])
    assert attached == n, attached
    return {"file_bytes": len(body), "page": web, "api": json_,
            "ratio_p50_page_over_api": round(web["p50_ms"] / json_["p50_ms"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="wrk run per endpoint")
    parser.add_argument("--uploads", type=int, default=20, help="cell documents uploaded each way")
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
            "cell_document_upload": cell_uploads(system, cookie, bearer["secretary"], cell, args.uploads),
        }
    write_result("staff_pages", {
        "system": "sotay up, SQLite, demo seed (25-member cell), gunicorn defaults",
        "machine_before": before, "machine_after": machine(), **result,
    })


if __name__ == "__main__":
    main()
