"""Feedback in Chromium: a member writes to the cell, follows it, and reads the secretary's
answer (told in the inbox); at both sizes, JavaScript on and off."""

from __future__ import annotations

import time
from typing import Any

from tests.support.browser import WebSystem, every_case, fits_width, member_page, screenshot


@every_case
def test_member_sends_feedback_and_reads_the_answer(web: WebSystem, browser: Any, size: str, js: bool) -> None:
    context, page, tag = member_page(browser, web, size, js)
    page.get_by_role("link", name="Phản ánh").click()
    subject = f"Đề nghị sửa đèn hội trường khối ({tag})"
    page.get_by_label("Gửi đến").select_option(label="Chi bộ Khối 1 (Kinh)")
    page.get_by_label("Tiêu đề").fill(subject)
    page.get_by_label("Nội dung").fill("Đèn hội trường hỏng từ tháng trước,\nảnh hưởng sinh hoạt buổi tối.")
    page.get_by_role("button", name="Gửi", exact=True).click()
    assert "Đã gửi" in page.locator("[role=status]").inner_text()
    assert page.locator("h1").inner_text() == subject
    assert "Đã tiếp nhận" in page.locator("main").inner_text()
    feedback_id = page.url.split("/feedback/")[1].split("?")[0]

    # The cell's secretary answers (through the API); the member is told and reads the answer.
    web.api("POST", f"/feedback/{feedback_id}/answer", "secretary",
            json={"answer": "Chi bộ đã liên hệ tổ dân phố, sẽ thay đèn trong tuần này."})
    page.get_by_role("link", name="Thông báo").click()
    deadline = time.monotonic() + 45
    while "Phản ánh đã được trả lời" not in page.locator("main").inner_text():
        assert time.monotonic() < deadline, "no notification of the answer"
        time.sleep(0.5)
        page.reload()
    page.get_by_role("link", name="Phản ánh", exact=True).click()
    page.get_by_role("link", name=subject).click()
    main = page.locator("main").inner_text()
    assert "sẽ thay đèn trong tuần này" in main and "Đã trả lời" in main
    fits_width(page)
    screenshot(page, f"feedback-{tag}")
    context.close()
