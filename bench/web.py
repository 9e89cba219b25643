"""The members' web app as a phone sees it: page weights, Lighthouse scores, time to first byte.

Starts the whole system (`sotay up` on a fresh data directory, the demo province), publishes a
bulletin, a document, a meeting in progress with an open poll and a feedback, signs the demo
member in through the login form, then writes bench/results/web.json with:

  weights     bytes of each main page (HTML + headers), and of the first page with its CSS and
              script (budgets: first page <= 50 KB, any page <= 150 KB)
  lighthouse  performance, accessibility and best-practices scores (0-100) of the main pages,
              Lighthouse's mobile mode driving Debian's /usr/bin/chromium (npm lighthouse 12.2.3,
              installed once into ~/.cache/sotay/lighthouse; its accessibility audits are axe-core's),
              with the audits that did not pass; goal >= 95 each
  ttfb        GET / (the home page: four RPCs to two services at once) against GET /api/v1/me at 32
              connections with wrk: p50/p99 and the ratio of their requests per second

Usage: python -m bench.web [--seconds 10] [--skip-lighthouse]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import requests

from bench.common import write_result
from bench.loadgen import run_wrk
from tests.support.processes import System, login, running_system

LIGHTHOUSE_VERSION = "12.2.3"  # 13 wants Node 22
LIGHTHOUSE_DIR = Path.home() / ".cache" / "sotay" / "lighthouse"
CHROME_FLAGS = ("--headless --no-sandbox --disable-gpu --disable-background-networking "
                "--disable-component-update --disable-sync --no-first-run")
CATEGORIES = ("performance", "accessibility", "best-practices")


def ensure_lighthouse() -> Path:
    binary = LIGHTHOUSE_DIR / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        LIGHTHOUSE_DIR.mkdir(parents=True, exist_ok=True)
        (LIGHTHOUSE_DIR / "package.json").write_text('{"name": "sotay-lighthouse", "private": true}\n')
        subprocess.run(["npm", "i", "-E", "--no-audit", "--no-fund", f"lighthouse@{LIGHTHOUSE_VERSION}"],
                       cwd=LIGHTHOUSE_DIR, check=True, capture_output=True)
    return binary


def demo_logins(data: Path) -> dict[str, tuple[str, str]]:
    rows = [line.split() for line in (data / "demo-accounts.txt").read_text(encoding="utf-8").splitlines()]
    phones = [r[0] for r in rows if r and r[0].startswith("09")]
    by_login = {r[0]: (r[0], r[1]) for r in rows if r}
    return {"admin": by_login["admin"], "secretary": by_login[phones[0]], "member": by_login[phones[1]]}


def seed(system: System, accounts: dict[str, tuple[str, str]]) -> dict[str, str]:
    admin, secretary = login(system, *accounts["admin"]), login(system, *accounts["secretary"])
    member = login(system, *accounts["member"])

    call = system.api

    province = call("GET", "/me", admin)["unit_id"]
    cell = call("GET", "/me", secretary)["unit_id"]
    body = "<p>" + "Các chi bộ tổ chức học tập, quán triệt và triển khai nghị quyết nghiêm túc. " * 20 + "</p>"
    for i in range(12):
        bulletin = call("POST", "/bulletins", admin, json={
            "publisher_unit_id": province, "kind": "bulletin", "body_html": body,
            "title": f"Thông báo nội bộ số {i + 1}-TB/TU về công tác xây dựng Đảng tháng 12"})
    text = "Nghị quyết về đẩy mạnh chuyển đổi số trong sinh hoạt chi bộ. " * 300
    document = call("POST", "/documents", admin, data={
        "title": "Nghị quyết về đẩy mạnh chuyển đổi số trong sinh hoạt chi bộ", "number": "06-NQ/TU",
        "category": "hoc-tap-nghi-quyet", "issued_on": "2026-03-05", "audience_unit_id": province,
        "status": "published", "summary": "Sinh hoạt chi bộ trên nền tảng số."},
        files={"file": ("nghi-quyet-06.txt", text.encode())})
    starts = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).replace(microsecond=0).isoformat()
    meeting = call("POST", "/meetings", secretary, json={
        "cell_unit_id": cell, "kind": "regular", "title": "Sinh hoạt chi bộ thường kỳ tháng 12",
        "starts_at": starts, "mode": "hybrid", "place": "Nhà văn hóa khối 1",
        "agenda": [{"title": "Kiểm điểm tháng 11"}, {"title": "Nhiệm vụ tháng 12"}]})
    call("POST", f"/meetings/{meeting['id']}/documents", secretary, json={"document_id": document["id"]})
    call("POST", f"/meetings/{meeting['id']}/announce", secretary, json={})
    call("POST", f"/meetings/{meeting['id']}/start", secretary, json={})
    call("POST", f"/meetings/{meeting['id']}/polls", secretary, json={
        "question": "Thông qua nghị quyết tháng 12", "kind": "resolution_adoption", "ballot": "secret"})
    call("POST", "/feedback", member, json={"unit_id": cell, "subject": "Đề nghị sửa đèn hội trường",
                                            "body": "Đèn hỏng từ tháng trước.", "idempotency_key": "bench-1"})
    return {"bulletin": bulletin["id"], "document": document["id"], "meeting": meeting["id"]}


def web_session(system: System, username: str, password: str) -> requests.Session:
    """Signed in through the login form, as a browser is."""
    session = requests.Session()
    page = session.get(system.url("/login"), timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    done = session.post(system.url("/login"), timeout=30, allow_redirects=False, data={
        "csrf_token": token.group(1), "username": username, "password": password, "next": "/"})
    assert done.status_code == 303 and done.headers["Location"] == "/", done.text
    return session


def weight(session: requests.Session, url: str) -> int:
    reply = session.get(url, timeout=30, allow_redirects=False)
    assert reply.status_code == 200, (url, reply.status_code)
    headers = sum(len(k) + len(v) + 4 for k, v in reply.headers.items()) + len("HTTP/1.1 200 OK\r\n\r\n")
    return len(reply.content) + headers


def lighthouse(binary: Path, url: str, cookie: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        args = [str(binary), url, "--quiet", "--output=json", f"--output-path={out}",
                f"--only-categories={','.join(CATEGORIES)}", f"--chrome-flags={CHROME_FLAGS}"]
        if cookie:
            args.append(f"--extra-headers={json.dumps({'Cookie': cookie})}")
        subprocess.run(args, check=True, capture_output=True, env=dict(os.environ, CHROME_PATH="/usr/bin/chromium"),
                       timeout=300)
        report = json.loads(out.read_text())
    scores = {k: round(100 * (report["categories"][k]["score"] or 0)) for k in CATEGORIES}
    failed = sorted(
        k for k, a in report["audits"].items()
        if a.get("score") is not None and a["score"] < 0.9 and a.get("scoreDisplayMode") in ("binary", "numeric")
    )
    return {**scores, "audits_below_90": failed, "final_url": report["finalDisplayedUrl"].replace(url, "")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--skip-lighthouse", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sotay-bench-web-") as tmp, running_system(Path(tmp)) as system:
        accounts = demo_logins(Path(tmp))
        made = seed(system, accounts)
        member = web_session(system, *accounts["member"])
        cookie = f"sotay_session={member.cookies['sotay_session']}"
        pages = {
            "login": ("/login", False), "home": ("/", True), "inbox": ("/inbox", True),
            "bulletin": (f"/bulletins/{made['bulletin']}", True), "documents": ("/documents", True),
            "search": ("/documents?q=Ngh%E1%BB%8B+quy%E1%BA%BFt+s%E1%BB%91+06-NQ%2FTU", True),
            "document": (f"/documents/{made['document']}", True),
            "reader": (f"/documents/{made['document']}/read", True),
            "meeting": (f"/meetings/{made['meeting']}", True), "feedback": ("/feedback", True),
        }
        anonymous = requests.Session()
        weights = {name: weight(member if signed else anonymous, system.url(path))
                   for name, (path, signed) in pages.items()}
        html = anonymous.get(system.url("/login"), timeout=10).text
        found = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js)[^"]*)"', html)
        assets = sum(weight(anonymous, system.url(src)) for src in found)
        result: dict[str, Any] = {
            "weights_bytes": weights,
            "first_page_with_assets_bytes": weights["login"] + assets,
            "budgets_bytes": {"first_page": 50 * 1024, "any_page": 150 * 1024},
        }
        if not args.skip_lighthouse:
            binary = ensure_lighthouse()
            result["lighthouse_mobile"] = {
                name: lighthouse(binary, system.url(path), cookie if signed else "")
                for name, (path, signed) in pages.items() if name in ("login", "home", "documents", "document",
                                                                       "bulletin", "meeting", "inbox")
            }
        token = login(system, *accounts["member"])
        home = run_wrk(system.url("/"), {"Cookie": cookie}, seconds=args.seconds)
        me = run_wrk(system.url("/api/v1/me"), token, seconds=args.seconds)
        result["ttfb_32_connections"] = {
            "home": home, "api_me": me,
            "home_to_me_requests_per_s": round(home["requests_per_s"] / me["requests_per_s"], 3),
            "note": "the home page makes four RPCs at once (inbox; meetings under way and announced; tasks); /me one",
        }
        write_result("web", result)


if __name__ == "__main__":
    main()
