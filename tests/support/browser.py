"""The web app in a real browser: Playwright (PyPI) driving Debian's /usr/bin/chromium, never a
downloaded browser; and the whole system started as `sotay up` on a fresh data directory.

Screenshots go to $SOTAY_E2E_ARTIFACTS, else tests/e2e/artifacts/ (not in git).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway.web.session import SECRET_FILE, Sealer
from tests.conftest import IN_CI
from tests.support.processes import System, login, running_system

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SIZES = {"phone": (320, 640), "desktop": (1280, 800)}
CASES = [(size, js) for size in SIZES for js in (True, False)]
ARTIFACTS = Path(os.environ.get("SOTAY_E2E_ARTIFACTS") or Path(__file__).resolve().parents[1] / "e2e" / "artifacts")
FIRST_PAGE_BUDGET = 50 * 1024
PAGE_BUDGET = 150 * 1024


def need_file(path: Path, reason: str) -> None:
    """Skip when a tool is not installed here; in CI, fail."""
    if not path.exists():
        if IN_CI:
            pytest.fail(f"CI needs {reason}")
        pytest.skip(reason)


def need_chromium() -> None:
    need_file(CHROMIUM, "Chromium is not installed (scripts/setup installs Debian's chromium)")


@dataclass
class WebSystem:
    """The running system, its demo accounts and what the tests published through the API."""

    system: System
    data: Path
    accounts: dict[str, tuple[str, str]]
    auth: dict[str, dict[str, str]] = field(default_factory=dict)
    made: dict[str, Any] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.system.url(path)

    def api(self, method: str, path: str, who: str, **kwargs: Any) -> Any:
        reply = requests.request(method, self.url("/api/v1" + path), headers=self.auth[who], timeout=60, **kwargs)
        assert reply.status_code < 300, f"{method} {path}: {reply.status_code} {reply.text}"
        return reply.json() if reply.content else None

    def session_cookie(self, value: str) -> dict[str, Any] | None:
        """What a session cookie holds (the tests may read it: they have the data directory's key)."""
        return Sealer((self.data / SECRET_FILE).read_bytes().strip()).open(value)


def demo_accounts(data: Path) -> dict[str, tuple[str, str]]:
    rows = [line.split() for line in (data / "demo-accounts.txt").read_text(encoding="utf-8").splitlines()]
    by_login = {r[0]: (r[0], r[1]) for r in rows if r}
    phones = [r[0] for r in rows if r and r[0].startswith("09")]
    return {"admin": by_login["admin"], "secretary": by_login[phones[0]], "member": by_login[phones[1]],
            "probationary": by_login[phones[2]]}


@pytest.fixture(scope="package")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSystem]:
    """`sotay up` with the demo province and an announced meeting of the member's cell."""
    need_chromium()
    data = tmp_path_factory.mktemp("web")
    # Every journey signs in from 127.0.0.1: the per-address limit is for attackers, not this suite
    # (its own tests are in tests/unit/gateway/test_security.py).
    with running_system(data, timeout=180, extra_env={"LOGIN_RATE_LIMIT": "1000"}) as system:
        accounts = demo_accounts(data)
        ws = WebSystem(system, data, accounts, {k: login(system, *v) for k, v in accounts.items()})
        province = ws.api("GET", "/me", "admin")["unit_id"]
        cell = ws.api("GET", "/me", "secretary")["unit_id"]
        ws.made.update(province=province, cell=cell)
        starts = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
        meeting = ws.api("POST", "/meetings", "secretary", json={
            "cell_unit_id": cell, "kind": "regular", "title": "Sinh hoạt chi bộ thường kỳ tháng 12",
            "starts_at": starts.isoformat(), "mode": "hybrid", "place": "Nhà văn hóa khối 1"})
        ws.api("POST", f"/meetings/{meeting['id']}/announce", "secretary", json={})
        ws.made["meeting"] = meeting
        yield ws


@pytest.fixture(scope="package")
def browser(web: WebSystem) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()


class Weighed:
    """Bytes of every response a page loads (body + headers), per top-level navigation."""

    def __init__(self, page: Any) -> None:
        self.total = 0
        page.on("requestfinished", self._finished)

    def _finished(self, request: Any) -> None:
        sizes = request.sizes()
        self.total += sizes["responseBodySize"] + sizes["responseHeadersSize"]

    def take(self) -> int:
        found, self.total = self.total, 0
        return found


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 2000
    return path


def fits_width(page: Any) -> None:
    """Nothing wider than the viewport (no sideways scrolling on a 320 px phone)."""
    width, scroll = page.evaluate("[window.innerWidth, document.documentElement.scrollWidth]")
    assert scroll <= width, f"page is {scroll}px wide in a {width}px viewport"


def case_tag(size: str, js: bool) -> str:
    return f"{size}-{'js' if js else 'nojs'}"


# Every journey at both sizes, with JavaScript on and off.
every_case = pytest.mark.parametrize(("size", "js"), CASES, ids=[case_tag(s, j) for s, j in CASES])


def new_page(browser: Any, size: str, js: bool) -> tuple[Any, Any, str]:
    """A fresh browser context (no cookies) of the case's size: (context, page, case tag)."""
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height}, java_script_enabled=js,
                                  accept_downloads=True)
    return context, context.new_page(), case_tag(size, js)


def sign_in_as(page: Any, username: str, password: str) -> None:
    page.get_by_label("Tên đăng nhập, số điện thoại hoặc số thẻ đảng viên").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()


def sign_in(page: Any, web: WebSystem, who: str) -> None:
    sign_in_as(page, *web.accounts[who])


def member_page(browser: Any, web: WebSystem, size: str, js: bool) -> tuple[Any, Any, str]:
    """`new_page`, signed in as the demo cell's member through the login page."""
    context, page, tag = new_page(browser, size, js)
    page.goto(web.url("/login"))
    sign_in(page, web, "member")
    return context, page, tag
