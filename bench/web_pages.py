"""The members' web pages as a phone gets them, on `sotay up` (temporary data directory, demo seed):

  - Lighthouse (npm, pinned in tools/web-audit/package.json) in mobile mode (simulated slow 4G and a 4x
    slower CPU) driving Debian's chromium: performance, accessibility and best-practices scores
    (median of --runs), the main timings, the audits not passed;
  - axe-core (same folder) injected by Playwright: violations by impact at 320x640 and 1280x800;
  - bytes transferred per page on a cold visit (budgets: the first page 50 KB, any page 150 KB);
  - the home page (HTML, four gRPC calls) vs the JSON GET /api/v1/me (one) at 32 connections with
    wrk: latency (~ time to first byte: the responses are a few KB) and requests/s, and their ratio.

    python -m bench.web_pages [--seconds 15] [--runs 3] [--skip-lighthouse]

Pages are seen signed in as the demo cell's member (the session cookie); the login page without.
Writes bench/results/web_pages.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.common import machine, write_result
from bench.loadgen import run_wrk
from gateway.web.session import COOKIE
from tests.support.audit import AXE, TOOLS, audit_context, axe_violations, by_impact, visit
from tests.support.browser import CHROMIUM, FIRST_PAGE_BUDGET, LAUNCH_ARGS, PAGE_BUDGET, SIZES, demo_accounts
from tests.support.documents import docx_bytes
from tests.support.processes import System, login, running_system

LIGHTHOUSE = TOOLS / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices")
TIMINGS = ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time", "cumulative-layout-shift",
           "speed-index", "server-response-time", "total-byte-weight")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def need_tools(skip_lighthouse: bool) -> None:
    missing = [str(p) for p in (CHROMIUM, AXE, *(() if skip_lighthouse else (LIGHTHOUSE,))) if not p.exists()]
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)} (scripts/setup installs chromium and the npm tools)")


def publish(system: System, admin: dict[str, str], secretary: dict[str, str]) -> dict[str, str]:
    """A bulletin, a published document (its text view ready) and an announced meeting."""
    api = system.api
    province = api("GET", "/me", admin)["unit_id"]
    cell = api("GET", "/me", secretary)["unit_id"]
    bulletin = api("POST", "/bulletins", admin, json={
        "publisher_unit_id": province, "kind": "bulletin", "title": "Thông báo số 12-TB/TU về học tập chuyên đề",
        "body_html": "<p>Các chi bộ tổ chức <strong>học tập chuyên đề</strong> năm 2026 trong tháng 12.</p>"
                     "<ul><li>Đọc tài liệu trước buổi sinh hoạt.</li><li>Ghi chép ý kiến đóng góp.</li></ul>"})
    paragraphs = ["ĐẢNG BỘ TỈNH", "Số 06-NQ/TU", "NGHỊ QUYẾT", "về đẩy mạnh chuyển đổi số trong sinh hoạt chi bộ",
                  *[f"Điều {i}. Các chi bộ sử dụng Sổ tay Đảng viên để gửi tài liệu trước buổi sinh hoạt, điểm danh "
                    f"và biểu quyết; cấp ủy theo dõi, đôn đốc việc thực hiện." for i in range(1, 13)]]
    document = api("POST", "/documents", admin, data={
        "title": "Nghị quyết về đẩy mạnh chuyển đổi số trong sinh hoạt chi bộ", "number": "06-NQ/TU",
        "category": "hoc-tap-nghi-quyet", "issued_on": "2026-03-05", "issuing_body": "Ban Thường vụ Tỉnh ủy",
        "summary": "Sinh hoạt chi bộ trên nền tảng số.", "audience_unit_id": province, "status": "published",
    }, files={"file": ("nghi-quyet-06.docx", docx_bytes(paragraphs))})
    starts = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    meeting = api("POST", "/meetings", secretary, json={
        "cell_unit_id": cell, "kind": "regular", "title": "Sinh hoạt chi bộ thường kỳ tháng 12",
        "starts_at": starts.isoformat(), "mode": "hybrid", "place": "Nhà văn hóa khối 1"})
    api("POST", f"/meetings/{meeting['id']}/announce", secretary, json={})
    return {"bulletin": bulletin["id"], "document": document["id"], "meeting": meeting["id"]}


def browser_session(system: System, username: str, password: str) -> str:
    """The session cookie of a member signed in through the login form."""
    with requests.Session() as s:
        form = s.get(system.url("/login"), timeout=10).text
        token = CSRF_RE.search(form)
        assert token, "no CSRF field on the login page"
        reply = s.post(system.url("/login"), data={"csrf_token": token.group(1), "username": username,
                                                   "password": password, "next": "/"}, timeout=10)
        assert reply.status_code == 200 and "/login" not in reply.url, reply.url
        return str(s.cookies[COOKIE])


def wait_readable(system: System, cookie: str, path: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        reply = requests.get(system.url(path), cookies={COOKIE: cookie}, timeout=10, allow_redirects=False)
        if reply.status_code == 200:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} never became readable: {reply.status_code}")
        time.sleep(0.5)


def audit_pages(system: System, pages: dict[str, str], cookie: str) -> dict[str, Any]:
    """Cold-visit weight and axe-core violations of each page at both sizes."""
    from playwright.sync_api import sync_playwright

    host = system.base_url.split("//", 1)[1].split(":")[0]
    cookies = [{"name": COOKIE, "value": cookie, "domain": host, "path": "/", "httpOnly": True, "sameSite": "Lax"}]
    found: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        for name, path in pages.items():
            entry: dict[str, Any] = {"path": path}
            for size, viewport in SIZES.items():
                context = audit_context(browser, viewport, None if name == "login" else cookies)
                page, weight = visit(context, system.url(path))
                if page.url != system.url(path):
                    raise SystemExit(f"{name}: the browser ended at {page.url}")
                violations = axe_violations(page)
                entry[size] = {"bytes": weight, "axe": by_impact(violations),
                               "violations": [{k: v[k] for k in ("id", "impact", "nodes", "example")}
                                              for v in violations]}
                context.close()
            entry["budget_bytes"] = FIRST_PAGE_BUDGET if name == "login" else PAGE_BUDGET
            entry["within_budget"] = all(entry[s]["bytes"] <= entry["budget_bytes"] for s in SIZES)
            found[name] = entry
        browser.close()
    return found


def lighthouse_median(url: str, cookie: str | None, out: Path, runs: int) -> dict[str, Any]:
    """The run with the median performance score of `runs` (Lighthouse's own advice for its variance),
    with every run's scores beside it."""
    done = sorted((lighthouse(url, cookie, out) for _ in range(runs)), key=lambda r: r["scores"]["performance"])
    return {**done[len(done) // 2], "runs": [r["scores"] for r in done]}


def lighthouse(url: str, cookie: str | None, out: Path) -> dict[str, Any]:
    argv = [str(LIGHTHOUSE), url, "--output=json", f"--output-path={out}", "--quiet", "--form-factor=mobile",
            f"--only-categories={','.join(CATEGORIES)}", f"--chrome-flags={' '.join(LAUNCH_ARGS)}",
            "--max-wait-for-load=60000"]
    if cookie:
        argv.append("--extra-headers=" + json.dumps({"Cookie": f"{COOKIE}={cookie}"}))
    subprocess.run(argv, check=True, env=dict(os.environ, CHROME_PATH=str(CHROMIUM)), capture_output=True, timeout=300)
    report = json.loads(out.read_text(encoding="utf-8"))
    if report.get("runtimeError"):
        raise SystemExit(f"lighthouse failed on {url}: {report['runtimeError']}")
    audits = report["audits"]
    not_passed = {}
    for category in ("accessibility", "best-practices"):
        for ref in report["categories"][category]["auditRefs"]:
            audit = audits[ref["id"]]
            if ref["weight"] > 0 and audit["score"] is not None and audit["score"] < 1:
                not_passed[ref["id"]] = audit["title"]
    return {
        "scores": {c: round(report["categories"][c]["score"] * 100) for c in CATEGORIES},
        "final_url": report.get("finalDisplayedUrl") or report.get("finalUrl"),
        "timings": {k: round(audits[k]["numericValue"], 1) for k in TIMINGS if k in audits},
        "not_passed": not_passed,
        "lighthouse": report["lighthouseVersion"],
        "benchmark_index": report.get("environment", {}).get("benchmarkIndex"),
    }


def ttfb(system: System, cookie: str, bearer: dict[str, str], seconds: float) -> dict[str, Any]:
    """The home page vs JSON /me at 32 connections: each first checked to answer 200 as signed in."""
    home = requests.get(system.url("/"), cookies={COOKIE: cookie}, timeout=10, allow_redirects=False)
    assert home.status_code == 200 and "Xin chào" in home.text, home.status_code
    assert requests.get(system.url("/api/v1/me"), headers=bearer, timeout=10).status_code == 200
    page = run_wrk(system.url("/"), headers={"Cookie": f"{COOKIE}={cookie}"}, seconds=seconds)
    me = run_wrk(system.url("/api/v1/me"), headers=bearer, seconds=seconds)
    after = requests.get(system.url("/"), cookies={COOKIE: cookie}, timeout=10, allow_redirects=False)
    assert after.status_code == 200, "the session ended during the load"
    return {
        "connections": 32, "seconds": seconds, "home_page": page, "api_me": me,
        "home_bytes": len(home.content),
        "ratio_p50_home_over_me": round(page["p50_ms"] / me["p50_ms"], 2),
        "ratio_p99_home_over_me": round(page["p99_ms"] / me["p99_ms"], 2),
        "ratio_rps_home_over_me": round(page["requests_per_s"] / me["requests_per_s"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15, help="wrk run per endpoint")
    parser.add_argument("--runs", type=int, default=3, help="Lighthouse runs per page (the median is kept)")
    parser.add_argument("--skip-lighthouse", action="store_true")
    args = parser.parse_args()
    need_tools(args.skip_lighthouse)
    # The cookie is reused for minutes: no access-token renewal (which rotates what it holds) meanwhile.
    os.environ["ACCESS_TOKEN_TTL"] = "7200"
    with tempfile.TemporaryDirectory() as tmp, running_system(Path(tmp)) as system:
        accounts = demo_accounts(Path(tmp))
        bearer = {who: login(system, *accounts[who]) for who in ("admin", "secretary", "member")}
        made = publish(system, bearer["admin"], bearer["secretary"])
        cookie = browser_session(system, *accounts["member"])
        pages = {"login": "/login", "home": "/", "library": "/documents", "document": f"/documents/{made['document']}",
                 "reader": f"/documents/{made['document']}/read", "bulletin": f"/bulletins/{made['bulletin']}",
                 "meetings": "/meetings"}
        wait_readable(system, cookie, pages["reader"])
        audited = audit_pages(system, pages, cookie)
        scores: dict[str, Any] = {}
        if not args.skip_lighthouse:
            for name, path in pages.items():
                scores[name] = lighthouse_median(system.url(path), None if name == "login" else cookie,
                                                 Path(tmp) / f"lighthouse-{name}.json", args.runs)
                print(name, scores[name]["scores"], flush=True)
        load = ttfb(system, cookie, bearer["member"], args.seconds)
    serious = {n: sum(a[s]["axe"]["serious"] + a[s]["axe"]["critical"] for s in SIZES) for n, a in audited.items()}
    write_result("web_pages", {
        "system": "sotay up, SQLite, demo seed, gunicorn 2 workers x 8 threads",
        "browser": subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True).stdout.strip(),
        "machine": machine(),
        "summary": {
            "lighthouse_mobile": {n: s["scores"] for n, s in scores.items()},
            "bytes_cold_phone": {n: a["phone"]["bytes"] for n, a in audited.items()},
            "all_within_budget": all(a["within_budget"] for a in audited.values()),
            "axe_serious_or_critical": serious,
            "home_over_me_p50": load["ratio_p50_home_over_me"],
        },
        "pages": audited,
        "lighthouse": scores,
        "ttfb": load,
    })


if __name__ == "__main__":
    main()
