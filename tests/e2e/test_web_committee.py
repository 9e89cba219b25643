"""The committee's screens in Chromium through `sotay up`: a commune committee member publishes a
document (its number checked against the commune's register, sent for review, published) and a
bulletin, a member of a cell below reads both, the committee sees who has read and works its
feedback queue; then every committee screen at 320 px and 1280 px, JavaScript on and off."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.browser import WebSystem, every_case, fits_width, member_page, new_page, screenshot, sign_in_as
from tests.support.documents import docx_bytes

PASSWORD = "uy-vien-xa-2026"
PHONE = "0987000111"


@pytest.fixture(scope="module")
def committee(web: WebSystem) -> dict[str, Any]:
    """A committee member of the member's commune: editor and admin over it (made by the admin)."""
    if "commune" in web.made:
        return web.made
    ancestors = web.api("GET", f"/units/{web.made['cell']}/ancestors", "admin")
    commune = ancestors["items"][-1]
    # A member of the commune itself: the demo cell's roster (25) is what the meeting tests count.
    made = web.api("POST", f"/units/{commune['id']}/members", "admin", json={
        "full_name": "Hoàng Văn Uỷ", "phone": PHONE, "initial_password": PASSWORD, "status": "official"})
    for role in ("editor", "admin"):
        web.api("POST", "/roles", "admin", json={"account_id": made["account_id"], "role": role,
                                                 "unit_id": commune["id"]})
    web.made.update(commune=commune, member_name=web.api("GET", "/me", "member")["member"]["full_name"])
    return web.made


def committee_page(browser: Any, web: WebSystem, size: str, js: bool) -> tuple[Any, Any, str]:
    context, page, tag = new_page(browser, size, js)
    page.goto(web.url("/login"))
    sign_in_as(page, PHONE, PASSWORD)
    return context, page, tag


def upload_form(page: Any, number: str, title: str, big: bool = False) -> None:
    page.get_by_label("Số, ký hiệu").fill(number)
    page.get_by_label("Tiêu đề").fill(title)
    page.get_by_label("Chuyên mục").select_option("hoc-tap-nghi-quyet")
    text = [title, "Nâng cao chất lượng sinh hoạt chi bộ trong toàn Đảng bộ xã."]
    page.get_by_label("Tệp").set_input_files(files=[{  # big: more than the 1 MB of a JSON body
        "name": "nghi-quyet-05.txt" if big else "nghi-quyet-05.docx",
        "mimeType": "text/plain" if big else "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "buffer": ("\n".join(text * 20_000)).encode() if big else docx_bytes(text),
    }])


def test_committee_publishes_and_a_member_reads(web: WebSystem, browser: Any, committee: dict[str, Any]) -> None:
    started, requests = time.monotonic(), []
    context, page, _tag = committee_page(browser, web, "desktop", True)
    page.on("request", lambda r: requests.append(r.url) if r.resource_type == "document" else None)
    page.get_by_role("link", name="Cấp ủy").click()
    assert committee["commune"]["name"] in page.locator("main").inner_text()

    # A document: the number is checked against the commune's register, sent for review, published.
    page.get_by_role("link", name="Tải lên văn bản").click()
    page.get_by_label("Số, ký hiệu").fill("05-NQ/ĐU")
    page.get_by_role("button", name="Kiểm tra số").click()
    assert "Số 05-NQ/ĐU còn trống trong sổ đăng ký." in page.locator("[role=status]").inner_text()
    title = "Nghị quyết về nâng cao chất lượng sinh hoạt chi bộ"
    upload_form(page, "05-NQ/ĐU", title)
    page.get_by_role("button", name="Gửi duyệt").click()
    facts = page.locator("main").inner_text()
    assert "Chờ duyệt" in facts and "Đã lấy nội dung chữ" in facts and "05-NQ/ĐU" in facts
    page.get_by_role("button", name="Ban hành", exact=True).click()
    assert "Đã ban hành" in page.locator(".facts").inner_text()
    screenshot(page, "committee-document")
    web.made["committee_pages"] = [("document", page.url.split("&done=")[0])]

    # The same number again is refused, and the next free one is proposed in the form.
    page.goto(web.url(f"/committee/documents/new?unit={committee['commune']['id']}"))
    assert "Số tiếp theo còn trống trong sổ: 06-NQ/ĐU" in page.locator("main").inner_text()
    upload_form(page, "5-nq/du", "Bản trùng số", big=True)
    page.get_by_role("button", name="Lưu nháp").click()
    alert = page.locator("[role=alert]").inner_text()
    assert "Số 5-NQ/DU đã được đơn vị đăng ký. Số tiếp theo còn trống là 06-NQ/ĐU." in alert  # as typed
    assert page.get_by_label("Số, ký hiệu").input_value() == "06-NQ/ĐU"

    # A bulletin: rich text (a script in it is removed), pinned, to the whole commune.
    page.goto(web.url(f"/committee/bulletins/new?unit={committee['commune']['id']}"))
    bulletin_title = "Thông báo lịch học tập nghị quyết tháng 12"
    page.get_by_label("Tiêu đề").fill(bulletin_title)
    page.get_by_label("Nội dung").fill(
        "<p>Các chi bộ tổ chức học tập <strong>trước ngày 20/12</strong>.</p><script>alert(1)</script>")
    page.get_by_label("Ghim lên đầu hộp thông báo").check()
    page.get_by_role("button", name="Ban hành").click()
    body = page.locator(".reader").inner_html()
    assert "<strong>trước ngày 20/12</strong>" in body and "script" not in body
    assert "Đã ghim" in page.locator(".facts").inner_text()
    bulletin_url = page.url.split("&done=")[0]
    web.made["committee_pages"].append(("bulletin", bulletin_url))
    page.get_by_role("link", name=web.api("GET", f"/units/{web.made['cell']}", "admin")["name"]).click()
    assert committee["member_name"] in page.locator(".names").inner_text()  # not read yet
    journey_seconds, journey_requests = time.monotonic() - started, len(requests)

    # The member sees both: the pinned bulletin in the inbox, the document in the library.
    member_context, member, _ = member_page(browser, web, "desktop", True)
    member.get_by_role("link", name="Thông báo", exact=True).click()
    member.get_by_role("link", name=bulletin_title).click()
    assert "trước ngày 20/12" in member.locator("main").inner_text()
    member.goto(web.url("/documents?q=05-NQ/ĐU"))
    member.get_by_role("link", name=title).first.click()
    assert "05-NQ/ĐU" in member.locator("main").inner_text()
    member_context.close()

    # The committee sees the read; the member is no longer on the list of who has not read.
    page.goto(bulletin_url + f"&of={web.made['cell']}")
    unread = page.locator(".names").inner_text() if page.locator(".names").count() else ""
    assert committee["member_name"] not in unread
    assert "1/" in page.locator(".big").inner_text()
    screenshot(page, "committee-bulletin-stats")

    # Feedback to the commune: the committee assigns it to itself, answers, and sees the statistics.
    item = web.api("POST", "/feedback", "member", json={
        "unit_id": committee["commune"]["id"], "subject": "Đề nghị cấp thêm tài liệu học tập",
        "body": "Chi bộ khu dân cư còn thiếu tài liệu in cho đảng viên cao tuổi."})
    page.goto(web.url(f"/committee/feedback?unit={committee['commune']['id']}"))
    page.get_by_role("link", name="Đề nghị cấp thêm tài liệu học tập").click()
    page.get_by_label("Giao cho").select_option(label="Hoàng Văn Uỷ")
    page.get_by_role("button", name="Giao xử lý").click()
    assert "Hoàng Văn Uỷ" in page.locator(".facts").inner_text()
    page.get_by_label("Nội dung trả lời gửi đảng viên").fill("Ban Tuyên giáo sẽ gửi thêm 20 bộ tài liệu.")
    page.get_by_role("button", name="Gửi trả lời").click()
    assert "Đã trả lời" in page.locator(".facts").inner_text()
    screenshot(page, "committee-feedback-item")
    web.made["committee_pages"].append(("feedback-item", page.url.split("&done=")[0]))
    seen = web.api("GET", f"/feedback/{item['id']}", "member")["feedback"]
    assert seen["answer"] == "Ban Tuyên giáo sẽ gửi thêm 20 bộ tài liệu."
    page.goto(web.url(f"/committee/feedback?unit={committee['commune']['id']}"))
    stats = page.locator(".facts").inner_text()
    assert "Thời gian trả lời trung vị" in stats

    # The month's compliance, then one cell.
    page.goto(web.url(f"/committee/compliance?unit={committee['commune']['id']}"))
    assert "Sử dụng hệ thống" in page.locator(".facts").inner_text()
    page.locator("table.grid a").first.click()
    assert "Các buổi sinh hoạt trong tháng" in page.locator("main").inner_text()
    context.close()
    print(f"\ncommittee journey: {journey_requests} page loads, {journey_seconds:.1f} s (document + bulletin)")


def using(page: Any) -> str:
    """The "Using the platform" figure of the compliance page's totals."""
    return str(page.locator("#h-tot + dl dt:has-text('Sử dụng hệ thống') + dd").inner_text())


@pytest.mark.parametrize(("size", "js"), [("phone", False), ("desktop", True)])
def test_compliance_leaves_an_exempt_cell_apart(
    web: WebSystem, browser: Any, committee: dict[str, Any], size: str, js: bool
) -> None:
    """The admin marks the member's cell exempt from the rollout: the compliance page lists it apart
    with its reason and counts the other cells only, as the review report does."""
    cell, commune = web.made["cell"], committee["commune"]["id"]
    context, page, tag = committee_page(browser, web, size, js)
    page.goto(web.url(f"/committee/compliance?unit={commune}"))
    before = using(page)
    done, of = (int(n) for n in before.split(" ")[0].split("/"))
    cell_name = web.api("GET", f"/units/{cell}", "admin")["name"]
    assert page.locator("#h-exempt").count() == 0
    met = int(page.locator("#h-cells + table tr", has_text=cell_name).locator("td").nth(1).inner_text())
    assert of > 1

    web.api("PUT", f"/reports/cells/{cell}/exemption", "admin", json={"exempt": True, "reason": "Chi bộ công an xã"})
    try:
        page.reload()
        assert using(page).startswith(f"{done - (met > 0)}/{of - 1} chi bộ (không tính 1 chi bộ được miễn)")
        assert cell_name not in page.locator("#h-cells + table").inner_text()
        apart = page.locator("#h-exempt ~ table").inner_text()
        assert cell_name in apart and "Miễn triển khai: Chi bộ công an xã" in apart
        fits_width(page)
        screenshot(page, f"committee-compliance-exempt-{tag}")
        page.locator("#h-exempt ~ table").get_by_role("link", name=cell_name).click()
        assert "Miễn triển khai: Chi bộ công an xã" in page.locator("#h-tot ~ p").inner_text()
        assert "Các buổi sinh hoạt trong tháng" in page.locator("main").inner_text()
        fits_width(page)
        screenshot(page, f"committee-compliance-exempt-cell-{tag}")
    finally:
        web.api("PUT", f"/reports/cells/{cell}/exemption", "admin", json={"exempt": False})
    page.goto(web.url(f"/committee/compliance?unit={commune}"))
    assert using(page) == before
    context.close()


PAGES = [
    ("home", "/committee?unit={commune}"),
    ("upload", "/committee/documents/new?unit={commune}"),
    ("documents", "/committee/documents?unit={commune}"),
    ("bulletin-new", "/committee/bulletins/new?unit={commune}"),
    ("feedback", "/committee/feedback?unit={commune}"),
    ("compliance", "/committee/compliance?unit={commune}"),
]


@every_case
def test_committee_screens_fit(web: WebSystem, browser: Any, committee: dict[str, Any], size: str, js: bool) -> None:
    context, page, tag = committee_page(browser, web, size, js)
    made = [(name, url.replace(web.url(""), "")) for name, url in web.made.get("committee_pages", [])]
    for name, path in PAGES + made:  # with the journey's document, bulletin and feedback when it ran
        reply = page.goto(web.url(path.format(commune=committee["commune"]["id"])))
        assert reply is not None and reply.status == 200, name
        assert page.locator("h1").count() == 1
        fits_width(page)
        screenshot(page, f"committee-{name}-{tag}")
    context.close()
