"""Offline reading in Chromium: with JavaScript on, the service worker keeps the bulletins and
documents a member opened; with the network gone they still open, and a page never opened
shows the offline page. Signing out empties what was kept."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.browser import WebSystem, fits_width, member_page, screenshot


def controlled(page: Any) -> None:
    """Wait until the service worker controls the page (it registers after load)."""
    deadline = time.monotonic() + 30
    while not page.evaluate("!!navigator.serviceWorker.controller"):
        assert time.monotonic() < deadline, "the service worker never took control"
        page.wait_for_timeout(200)


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_opened_bulletins_and_documents_read_offline(web: WebSystem, browser: Any, size: str) -> None:
    bulletin = web.api("POST", "/bulletins", "admin", json={
        "publisher_unit_id": web.made["province"], "kind": "bulletin",
        "title": f"Thông báo nội bộ đọc khi mất mạng ({size})",
        "body_html": "<p>Nội dung vẫn đọc được khi điện thoại mất sóng.</p>"})
    context, page, tag = member_page(browser, web, size, True)
    controlled(page)
    page.goto(web.url(f"/bulletins/{bulletin['id']}"))
    assert "mất sóng" in page.locator("article").inner_text()

    context.set_offline(True)
    try:
        page.goto(web.url(f"/bulletins/{bulletin['id']}"))
        assert "mất sóng" in page.locator("article").inner_text()
        page.goto(web.url("/feedback"))  # never opened on this device
        assert "Không có kết nối mạng" in page.locator("h1").inner_text()
        fits_width(page)
        screenshot(page, f"offline-{tag}")
    finally:
        context.set_offline(False)

    # Signing out forgets the kept pages.
    page.goto(web.url("/"))
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_function("caches.keys().then(k => !k.includes('sotay-read'))")
    assert "sotay-read" not in page.evaluate("caches.keys()")
    context.close()
