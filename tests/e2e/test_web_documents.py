"""The library in Chromium: categories, search by number as Vietnamese texts cite it, the
document's page, the reader (a normal link), the original's download and the study mark; at a
phone's and a desktop's size, with JavaScript on and off."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import PAGE_BUDGET, WebSystem, Weighed, every_case, fits_width, member_page, screenshot
from tests.support.documents import docx_bytes

PARAGRAPHS = [
    "ĐẢNG BỘ TỈNH LẠNG SƠN",
    "Số 06-NQ/TU",
    "NGHỊ QUYẾT",
    "về đẩy mạnh chuyển đổi số trong sinh hoạt chi bộ",
    "Các chi bộ sử dụng nền tảng số Sổ tay Đảng viên để gửi tài liệu trước buổi sinh hoạt, điểm danh và biểu quyết.",
]
CITATIONS = ["Nghị quyết số 06-NQ/TU", "06/NQ-TU", "NQ 06"]


@pytest.fixture(scope="module")
def resolution(web: WebSystem) -> dict[str, Any]:
    original = docx_bytes(PARAGRAPHS)
    made = web.api("POST", "/documents", "admin", data={
        "title": "Nghị quyết về đẩy mạnh chuyển đổi số trong sinh hoạt chi bộ", "number": "06-NQ/TU",
        "category": "hoc-tap-nghi-quyet", "issued_on": "2026-03-05", "issuing_body": "Ban Thường vụ Tỉnh ủy",
        "signer": "Nguyễn Văn Bí Thư", "summary": "Sinh hoạt chi bộ trên nền tảng số: tài liệu, điểm danh, biểu quyết.",
        "audience_unit_id": web.made["province"], "status": "published",
    }, files={"file": ("nghi-quyet-06.docx", original)})
    deadline = time.monotonic() + 60
    while not web.api("GET", "/documents/search", "member", params={"q": "06-NQ/TU"})["items"]:
        assert time.monotonic() < deadline, "the document was never indexed"
        time.sleep(0.5)
    return {**made, "original": original}


@every_case
def test_library_search_read_download_and_study(
    web: WebSystem, browser: Any, resolution: dict[str, Any], size: str, js: bool
) -> None:
    context, page, tag = member_page(browser, web, size, js)
    weighed = Weighed(page)
    weighed.take()
    title = "Nghị quyết về đẩy mạnh chuyển đổi số trong sinh hoạt chi bộ"

    # The library, by category.
    page.get_by_role("link", name="Văn bản", exact=True).click()
    assert title in page.locator("main").inner_text()
    page.get_by_role("link", name="Tin tức").click()
    assert title not in page.locator("main").inner_text()
    page.get_by_role("link", name="Học tập Nghị quyết").click()
    assert title in page.locator("main").inner_text()
    assert weighed.take() <= 3 * PAGE_BUDGET
    fits_width(page)
    screenshot(page, f"library-{tag}")

    # Search: the number as it is cited, every way.
    for typed in CITATIONS:
        page.get_by_label("Tìm theo từ khóa hoặc số hiệu").fill(typed)
        page.get_by_role("button", name="Tìm", exact=True).click()
        assert page.locator("main .items li a").first.inner_text().startswith("06-NQ/TU"), typed
    fits_width(page)
    screenshot(page, f"search-{tag}")
    page.get_by_label("Tìm theo từ khóa hoặc số hiệu").fill("chuyen doi so sinh hoat")  # no accents
    page.get_by_role("button", name="Tìm", exact=True).click()
    assert title in page.locator("main").inner_text()

    # The document's page, the reader and the original.
    page.locator("main .items li a").first.click()
    assert page.locator("h1").inner_text() == title
    assert weighed.take() <= PAGE_BUDGET
    fits_width(page)
    screenshot(page, f"document-{tag}")
    with page.expect_download() as download:
        page.get_by_role("link", name="Tải bản gốc").click()
    assert download.value.suggested_filename == "nghi-quyet-06.docx"
    assert Path(download.value.path()).read_bytes() == resolution["original"]
    page.get_by_role("link", name="Đọc văn bản").click()
    assert "nền tảng số Sổ tay Đảng viên" in page.locator("body").inner_text()
    assert weighed.take() <= PAGE_BUDGET
    fits_width(page)
    screenshot(page, f"reader-{tag}")
    with page.expect_download() as again:  # the reader's own link to the original works from a browser
        page.get_by_role("link", name="Tải bản gốc").click()
    assert Path(again.value.path()).read_bytes() == resolution["original"]
    page.go_back()

    # "I have studied this": recorded once, shown on the page and in the API.
    studied = page.get_by_role("button", name="Tôi đã học tập")
    if studied.count():  # the first case records it; later ones find it recorded
        studied.click()
        assert "Đã ghi nhận" in page.locator("[role=status]").inner_text()
    else:
        assert "đã học tập văn bản này" in page.locator("main").inner_text()
    assert web.api("GET", f"/documents/{resolution['id']}", "member")["studied"] is True
    context.close()
