"""A cell meeting from the member's side in Chromium: the announcement with a document to read,
check-in, an opinion, an open and a secret vote with one tap (a repeated submit counted once),
the results with the Charter's arithmetic, the minutes, a task's progress; at a phone's and a
desktop's size, with JavaScript on and off. The secretary's steps go through the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.support.browser import (
    PAGE_BUDGET,
    WebSystem,
    Weighed,
    case_tag,
    every_case,
    fits_width,
    member_page,
    screenshot,
)


@pytest.fixture(scope="module")
def reading(web: WebSystem) -> dict[str, Any]:
    """A document to attach to the meetings."""
    return web.api("POST", "/documents", "admin", data={
        "title": "Tài liệu sinh hoạt chuyên đề tháng 12", "number": "45-HD/TU", "category": "chuyen-de",
        "issued_on": "2026-11-20", "audience_unit_id": web.made["province"], "status": "published",
    }, files={"file": ("tai-lieu.txt", "Nội dung sinh hoạt chuyên đề: học tập và làm theo.".encode())})


@every_case
def test_member_takes_part_in_a_meeting(
    web: WebSystem, browser: Any, reading: dict[str, Any], size: str, js: bool
) -> None:
    tag = case_tag(size, js)
    cell = web.made["cell"]
    member_id = web.api("GET", "/me", "member")["member"]["id"]
    starts = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).replace(microsecond=0)
    meeting = web.api("POST", "/meetings", "secretary", json={
        "cell_unit_id": cell, "kind": "thematic", "title": f"Sinh hoạt chuyên đề ({tag})",
        "starts_at": starts.isoformat(), "mode": "hybrid", "place": "Hội trường khối 1",
        "agenda": [{"title": "Học tập chuyên đề", "description": "Đồng chí bí thư trình bày."},
                   {"title": "Thảo luận và biểu quyết"}]})
    mid = meeting["id"]
    web.api("POST", f"/meetings/{mid}/documents", "secretary", json={"document_id": reading["id"]})
    web.api("POST", f"/meetings/{mid}/announce", "secretary", json={})
    web.api("POST", f"/meetings/{mid}/start", "secretary", json={})

    context, page, _ = member_page(browser, web, size, js)
    weighed = Weighed(page)
    page.goto(web.url(f"/meetings/{mid}"))
    main = page.locator("main").inner_text()
    assert "Học tập chuyên đề" in main and "Hội trường khối 1" in main
    # The document to read opens from the meeting, and the secretary sees it was opened.
    page.get_by_role("link", name="Tài liệu sinh hoạt chuyên đề tháng 12").click()
    assert page.locator("h1").inner_text() == "Tài liệu sinh hoạt chuyên đề tháng 12"
    opens = web.api("GET", f"/meetings/{mid}/document-opens", "secretary")
    assert member_id in {o["member_id"] for o in opens["items"]}, opens
    page.go_back()

    # Check in, then an opinion.
    page.get_by_role("button", name="Có mặt (trực tiếp)").click()
    assert "Đồng chí đã điểm danh" in page.locator("[role=status]").inner_text()
    assert page.get_by_role("button", name="Có mặt (trực tiếp)").count() == 0
    page.get_by_label("Ý kiến của đồng chí").fill("Đề nghị chi bộ tổ chức học tập vào tối thứ Bảy.")
    page.get_by_role("button", name="Gửi ý kiến").click()
    assert "Đề nghị chi bộ tổ chức học tập vào tối thứ Bảy." in page.locator("main").inner_text()

    # An open vote, then a secret one (one poll at a time); one tap each. The first form is also sent twice.
    open_poll = web.api("POST", f"/meetings/{mid}/polls", "secretary",
                        json={"question": "Thông qua nội dung chuyên đề", "kind": "question", "ballot": "open"})
    page.reload()
    assert "Biểu quyết công khai" in page.locator("main").inner_text()
    form = page.locator(f"form[action$='/polls/{open_poll['id']}/vote']")
    again = {"csrf_token": form.locator("[name=csrf_token]").get_attribute("value"),
             "idempotency_key": form.locator("[name=idempotency_key]").get_attribute("value"), "choice": "approve"}
    form.get_by_role("button", name="Tán thành", exact=True).click()
    assert "Biểu quyết của đồng chí đã được ghi nhận" in page.locator("[role=status]").inner_text()
    resent = context.request.post(web.url(f"/meetings/{mid}/polls/{open_poll['id']}/vote"), form=again,
                                  max_redirects=0)
    assert resent.status == 303
    assert web.api("GET", f"/meetings/polls/{open_poll['id']}", "secretary")["votes_cast"] == 1
    web.api("POST", f"/meetings/polls/{open_poll['id']}/close", "secretary", json={})

    secret = web.api("POST", f"/meetings/{mid}/polls", "secretary", json={
        "question": "Thông qua nghị quyết chuyên đề", "kind": "resolution_adoption", "ballot": "secret"})
    page.reload()
    assert "Bỏ phiếu kín" in page.locator("main").inner_text()
    fits_width(page)
    screenshot(page, f"meeting-vote-{tag}")
    page.locator(f"form[action$='/polls/{secret['id']}/vote']").get_by_role("button", name="Không tán thành").click()
    assert "Đồng chí đã biểu quyết" in page.locator("main").inner_text()
    web.api("POST", f"/meetings/polls/{secret['id']}/close", "secretary", json={})

    # The results, with the Charter's arithmetic.
    page.reload()
    main = page.locator("main").inner_text()
    assert main.count("Không được thông qua") == 2  # one vote of some twenty official members
    closed = web.api("GET", f"/meetings/polls/{secret['id']}", "secretary")["result"]
    assert f"Tính: {closed['official_members']} đảng viên chính thức" in main
    assert f"= {closed['denominator']}." in main
    assert f"0 phiếu tán thành ≤ {closed['denominator']}/2: không đạt; cần ít nhất {closed['needed']} phiếu." in main
    assert f"{closed['needed']} trên {closed['denominator']} (quá nửa)" in main
    assert weighed.take() <= 12 * PAGE_BUDGET
    fits_width(page)
    screenshot(page, f"meeting-result-{tag}")

    # After the meeting: the minutes, and a task with its progress.
    web.api("POST", f"/meetings/{mid}/close", "secretary", json={"conclusion": "Chi bộ thống nhất nội dung."})
    due = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    web.api("POST", f"/meetings/{mid}/tasks", "secretary", json={
        "title": "Viết bài thu hoạch chuyên đề", "assignee_member_ids": [member_id], "due_on": due})
    page.reload()
    with page.expect_download() as minutes:
        page.get_by_role("link", name="Tải biên bản (PDF)").click()
    assert minutes.value.suggested_filename.endswith(".pdf")
    with open(minutes.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
    page.get_by_label("Tiến độ (phần trăm)").fill("40")
    page.get_by_label("Ghi chú").fill("Đã viết dàn ý.")
    page.get_by_role("button", name="Báo cáo tiến độ").click()
    assert "Tiến độ đã được ghi nhận" in page.locator("[role=status]").inner_text()
    task = next(t for t in web.api("GET", f"/meetings/{mid}/tasks", "secretary")["items"])
    assert task["progress_percent"] == 40
    fits_width(page)
    screenshot(page, f"meeting-after-{tag}")
    page.get_by_role("link", name="Trang chủ").click()
    assert "Viết bài thu hoạch chuyên đề" in page.locator("main").inner_text()
    context.close()
