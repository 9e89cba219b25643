"""The review report in Chromium on `sotay up`: the province's administrator opens it, reads the
figures and the SVG charts (with their numbers as a table), picks another period, marks a cell
exempt from the rollout and lifts it, and downloads the XLSX tables and the DOCX review; the
page at both sizes, JavaScript on and off."""

from __future__ import annotations

import datetime as dt
import io
import time
from typing import Any

import docx
import openpyxl

from tests.support.browser import WebSystem, every_case, fits_width, new_page, screenshot, sign_in


def open_report(browser: Any, web: WebSystem, size: str, js: bool) -> tuple[Any, Any, str]:
    context, page, tag = new_page(browser, size, js)
    page.goto(web.url("/login"))
    sign_in(page, web, "admin")
    page.get_by_role("navigation", name="Menu chính").get_by_role("link", name="Báo cáo", exact=True).click()
    deadline = time.monotonic() + 45
    while "Đảng viên" not in page.locator("main").inner_text() or " 0 (" in page.locator("dl").inner_text()[:40]:
        assert time.monotonic() < deadline, "the reports never showed the seeded members"
        time.sleep(0.5)
        page.reload()
    return context, page, tag


@every_case
def test_report_page(web: WebSystem, browser: Any, size: str, js: bool) -> None:
    context, page, tag = open_report(browser, web, size, js)
    assert page.locator("h1").inner_text().startswith("Báo cáo sơ kết")
    charts = page.locator("svg[role=img]")
    assert charts.count() == 3
    assert charts.first.locator("title").text_content() == "Tỷ lệ chính"
    assert "Đã kích hoạt" in charts.first.inner_html()
    page.locator("details summary").first.click()
    assert "Đăng nhập trong kỳ" in page.locator("details table").first.inner_text()
    fits_width(page)
    screenshot(page, f"report-{tag}")  # this year, with the demo province's figures
    last_year = dt.date.today().year - 1
    page.get_by_label("Kỳ báo cáo").select_option(label=f"Quý 4/{last_year}")
    page.get_by_role("button", name="Hiển thị", exact=True).click()
    assert f"quý 4/{last_year}" in page.locator("main .meta").first.inner_text()
    assert f"period={last_year}-Q4" in page.url
    fits_width(page)
    screenshot(page, f"report-q4-{tag}")
    context.close()


def test_exemption_and_downloads(web: WebSystem, browser: Any) -> None:
    context, page, _tag = open_report(browser, web, "desktop", False)
    cell_name = page.get_by_label("Chi bộ", exact=True).locator("option").first.inner_text()
    page.get_by_label("Lý do", exact=True).fill("Đặc thù ngành")
    page.get_by_role("button", name="Đánh dấu miễn").click()
    assert "báo cáo riêng" in page.locator("[role=status]").inner_text()
    exempt = page.locator("#h-exempt + p + ul").inner_text()
    assert f"{cell_name}: Đặc thù ngành" in exempt
    assert "miễn: Đặc thù ngành" in page.locator("#h-cells ~ div table").inner_text()

    with page.expect_download() as xlsx_download:
        page.get_by_role("link", name="Tải các bảng số liệu (XLSX)").click()
    wb = openpyxl.load_workbook(io.BytesIO(xlsx_download.value.path().read_bytes()), read_only=True)
    summary = {row[0]: row[1] for row in wb["Tổng hợp"].iter_rows(min_row=2, values_only=True)}
    assert summary["Đảng viên"] > 0 and summary["Chi bộ không triển khai (miễn)"] == 1

    page.get_by_label("Số hiệu", exact=True).fill("12-BC/TU")
    page.get_by_label("Địa danh").fill("Lạng Sơn")
    with page.expect_download() as docx_download:
        page.get_by_role("button", name="Tải báo cáo sơ kết (DOCX)").click()
    document = docx.Document(io.BytesIO(docx_download.value.path().read_bytes()))
    heading = document.tables[0].rows[0].cells
    assert "Số 12-BC/TU" in heading[0].text and "Lạng Sơn, ngày" in heading[1].text
    assert f"{cell_name} không triển khai: Đặc thù ngành" in "\n".join(p.text for p in document.paragraphs)

    page.get_by_role("button", name="Tính lại vào triển khai").click()
    assert "tính lại" in page.locator("[role=status]").inner_text()
    assert "Không có chi bộ nào được miễn." in page.locator("main").inner_text()
    screenshot(page, "report-exemption-desktop-nojs")
    context.close()
