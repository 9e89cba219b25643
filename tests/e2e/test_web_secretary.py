"""The cell secretary's screens in Chromium through the whole system (`sotay up`):

- a full evening on a 1280x800 desktop with JavaScript on: a combined session created as two
  linked records, a document picked from the library, announced, started; the attendance sheet
  on one screen (everyone present, two exceptions with reasons) while members check in from their
  own browser contexts; an opinion said in the room; a vote opened, a member voting from another
  browser while the secretary's tally moves without a reload, the show of hands entered beside
  it, closed with the Charter's result; closed, the resolution published, a task assigned; the
  quality score refused above the record, then given; the minutes previewed (PDF) and downloaded
  (DOCX); the second record of the session started with the attendance carried over in one tap.
  The requests and seconds the secretary's browser needed are written to secretary-journey.json;
- the number of HTTP requests the secretary's browser makes to take attendance is the same for
  the 25-member cell as for a 5-member one (JavaScript off, so nothing else polls);
- the secretary's pages at 320 and 1280 px, JavaScript on and off: no sideways scrolling,
  screenshots in tests/e2e/artifacts/secretary-*.png.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from typing import Any
from zoneinfo import ZoneInfo

import docx
import pytest
import requests

from tests.support.browser import ARTIFACTS, WebSystem, every_case, fits_width, new_page, screenshot, sign_in
from tests.support.documents import docx_bytes
from tests.support.processes import login

VN = ZoneInfo("Asia/Ho_Chi_Minh")
PLAN = "Kế hoạch số 45-KH/ĐU về sinh hoạt chi bộ tháng 12"
REGULAR = "Sinh hoạt chi bộ thường kỳ tháng 12 (kết hợp)"
THEME = "Chuyên đề: học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh"
QUESTION = "Thông qua Nghị quyết sinh hoạt chi bộ tháng 12"


class Requests:
    """Every HTTP request a browser context makes (what the secretary's network sends)."""

    def __init__(self, context: Any) -> None:
        self.urls: list[str] = []
        context.on("request", lambda r: self.urls.append(f"{r.method} {r.url}"))

    def take(self) -> list[str]:
        found, self.urls = self.urls, []
        return found


def secretary_page(browser: Any, web: WebSystem, size: str = "desktop", js: bool = True) -> tuple[Any, Any]:
    context, page, _tag = new_page(browser, size, js)
    page.goto(web.url("/login"))
    sign_in(page, web, "secretary")
    page.wait_for_url("**/")
    return context, page


def member_meeting_page(browser: Any, web: WebSystem, who: str, meeting_id: str) -> tuple[Any, Any]:
    context, page, _tag = new_page(browser, "phone", True)
    page.goto(web.url(f"/meetings/{meeting_id}"))
    sign_in(page, web, who)
    page.wait_for_url(f"**/meetings/{meeting_id}")
    return context, page


def publish_plan(web: WebSystem) -> None:
    if "plan" in web.made:
        return
    web.made["plan"] = web.api("POST", "/documents", "admin", data={
        "title": PLAN, "number": "45-KH/ĐU", "category": "van-kien-tu-lieu", "issued_on": "2026-11-20",
        "issuing_body": "Đảng ủy xã", "audience_unit_id": web.made["province"], "status": "published",
    }, files={"file": ("ke-hoach-45.docx", docx_bytes(["KẾ HOẠCH", "Sinh hoạt chi bộ tháng 12 theo chủ đề năm."]))})
    deadline = time.monotonic() + 60  # the search index follows the publication
    while not web.api("GET", "/documents/search", "secretary", params={"q": "45-KH/ĐU"})["items"]:
        assert time.monotonic() < deadline, "the plan never became searchable"
        time.sleep(0.5)


def started_meeting(web: WebSystem, auth: dict[str, str], cell: str, title: str) -> str:
    """A meeting of `cell` announced and started through the API (for the request-count test)."""
    def call(method: str, path: str, **kw: Any) -> Any:
        reply = requests.request(method, web.url("/api/v1" + path), headers=auth, timeout=60, **kw)
        assert reply.status_code < 300, reply.text
        return reply.json()

    starts = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).replace(microsecond=0)
    m = call("POST", "/meetings", json={"cell_unit_id": cell, "kind": "regular", "title": title,
                                        "starts_at": starts.isoformat(), "mode": "in_person"})
    call("POST", f"/meetings/{m['id']}/announce", json={})
    call("POST", f"/meetings/{m['id']}/start", json={})
    return str(m["id"])


def plain_rows(rows: Any) -> list[Any]:
    """Sheet lines of members neither exempt nor checked in by themselves."""
    return [rows.nth(i) for i in range(rows.count())
            if not any(t in rows.nth(i).inner_text() for t in ("miễn sinh hoạt", "tự điểm danh"))]


def shoot(page: Any, name: str) -> None:
    fits_width(page)
    screenshot(page, f"secretary-{name}")


def test_a_secretary_runs_a_combined_session_from_creation_to_minutes(browser: Any, web: WebSystem) -> None:
    publish_plan(web)
    context, page = secretary_page(browser, web)
    sent = Requests(context)
    began = time.monotonic()
    # The members' menu has no "run meetings"; the secretary's has.
    page.get_by_role("link", name="Điều hành họp").click()
    page.get_by_label("Sinh hoạt kết hợp: thường kỳ rồi chuyên đề (hai cuộc họp, hai biên bản)").check()
    page.get_by_label("Tên cuộc họp").fill(REGULAR)
    page.get_by_label("Chủ đề sinh hoạt chuyên đề (khi họp kết hợp)").fill(THEME)
    evening = (dt.datetime.now(VN) + dt.timedelta(days=1)).strftime("%Y-%m-%dT19:30")
    page.get_by_label("Ngày giờ").fill(evening)
    page.get_by_label("Địa điểm").fill("Nhà văn hóa khối 1")
    page.get_by_label("Chương trình (mỗi dòng một nội dung)").fill(
        "Đánh giá tình hình tháng 12\nPhương hướng tháng 1")
    page.get_by_role("button", name="Tạo cuộc họp").click()
    page.get_by_text("Đã tạo cuộc họp (bản nháp).").wait_for()
    first_id = page.url.split("/manage/meetings/")[1].split("?")[0]
    assert page.get_by_role("link", name=THEME).count() == 1  # the linked record of the session
    # Part 1: a document from the library, then the announcement.
    page.get_by_label("Tìm trong thư viện tài liệu").fill("45-KH/ĐU")
    page.locator("#documents form[role=search] button").click()
    page.locator("#documents li", has_text=PLAN).get_by_role("button", name="Đính kèm").click()
    page.get_by_text("Đã đính kèm tài liệu.").wait_for()
    shoot(page, "journey-draft")
    page.get_by_role("button", name="Thông báo cuộc họp").click()
    page.get_by_text("Đã thông báo cuộc họp đến đảng viên.").wait_for()
    names = page.locator("#minutes_secretary option").all_inner_texts()
    assert len(names) == 26  # "— choose —" and the 25 members summoned
    page.get_by_label("Thư ký cuộc họp (ghi biên bản)").select_option(label=names[3])
    page.get_by_role("button", name="Bắt đầu", exact=True).click()
    page.get_by_text("Cuộc họp đã bắt đầu.").wait_for()
    # Two members check in from their phones meanwhile.
    member_ctx, member = member_meeting_page(browser, web, "member", first_id)
    member.get_by_role("button", name="Có mặt (trực tiếp)").click()
    member.get_by_text("Đồng chí đã điểm danh.").wait_for()
    # Part 2: the attendance sheet — everyone present, then the exceptions with reasons.
    page.reload()  # the sheet is as the page was loaded (not swapped live, so a choice being made stays)
    rows = page.locator("ol.sheet > li")
    assert rows.count() == 25
    exempt = page.locator("ol.sheet > li", has_text="miễn sinh hoạt")
    assert exempt.count() == 1 and exempt.locator("select").input_value() == "excused"
    assert page.locator("ol.sheet > li", has_text="tự điểm danh").count() == 1
    absent = plain_rows(rows)[5:7]
    absent[0].locator("select").select_option("excused")
    absent[0].locator("input:not([type=hidden])").fill("Đi công tác")
    absent[1].locator("select").select_option("unexcused")
    sent.take()
    page.get_by_role("button", name="Ghi điểm danh").click()
    page.get_by_text("Đã ghi điểm danh.").wait_for()
    page.wait_for_load_state("load")
    sheet_requests = [u for u in sent.take() if "/live" not in u]
    totals = page.locator("#totals").inner_text()
    # The exempt member is recorded absent with the reason "exempt" (left out of the ratio).
    assert "22 / 25" in totals and "2 có lý do, 1 không lý do" in totals, totals
    shoot(page, "journey-attendance")
    # An opinion said in the room.
    page.get_by_label("Người phát biểu").select_option(label=names[5])
    page.get_by_label("Nội dung phát biểu").fill("Đề nghị chi bộ phân công đảng viên kèm cặp hộ nghèo.")
    page.get_by_role("button", name="Ghi ý kiến").click()
    page.get_by_text("Đã ghi ý kiến.").wait_for()
    assert page.get_by_text("phát biểu tại phòng họp").count() == 1
    # The vote: the member votes from their phone; the secretary's tally moves without a reload.
    page.get_by_label("Nội dung biểu quyết").fill(QUESTION)
    page.get_by_role("button", name="Mở biểu quyết").click()
    page.get_by_text("Đã mở biểu quyết.").wait_for()
    url_before = page.url
    page.evaluate("window.__sameDocument = true")
    member.goto(web.url(f"/meetings/{first_id}"))
    member.get_by_role("button", name="Tán thành", exact=True).click()
    member.get_by_text("Biểu quyết của đồng chí đã được ghi nhận.").wait_for()
    page.locator("#tally", has_text="Đã có 1 phiếu").wait_for(timeout=15000)
    assert page.evaluate("window.__sameDocument === true") and page.url == url_before  # no reload
    page.get_by_label("Tán thành", exact=True).fill("17")
    page.get_by_label("Không tán thành", exact=True).fill("1")
    page.get_by_role("button", name="Ghi kết quả giơ tay").click()
    page.get_by_text("Đã ghi kết quả giơ tay.").wait_for()
    page.get_by_role("button", name="Kết thúc biểu quyết").click()
    page.get_by_text("Đã kết thúc biểu quyết.").wait_for()
    verdict = page.locator("#tally .verdict").inner_text()
    assert "Đã thông qua" in verdict and "tán thành 18/22" in verdict, verdict
    shoot(page, "journey-vote")
    # Close, resolution, task.
    page.get_by_label("Kết luận của chủ trì").fill("Chi bộ thống nhất phương hướng tháng 1.")
    page.get_by_role("button", name="Bế mạc cuộc họp").click()
    page.get_by_text("Cuộc họp đã bế mạc.").wait_for()
    shoot(page, "resolution-form")
    page.get_by_role("button", name="Gửi đến đảng viên").click()
    page.get_by_text("Đã ban hành nghị quyết.").wait_for()
    page.get_by_role("textbox", name="Nhiệm vụ", exact=True).fill("Kèm cặp hộ nghèo khối 1")
    page.locator("#due_on").fill("2027-01-15")
    page.locator("#tasks .check").nth(5).locator("input").check()
    page.get_by_role("button", name="Giao nhiệm vụ").click()
    page.get_by_text("Đã giao nhiệm vụ.").wait_for()
    # The quality score: above the record is refused, the record's figures accepted.
    page.get_by_role("link", name="Đánh giá chất lượng").click()
    assert page.locator("#c-att_no_unexcused").get_attribute("max") == "0"  # one unexcused absence
    page.locator("#c-att_no_unexcused").evaluate("e => { e.removeAttribute('max'); e.value = '5'; }")
    page.get_by_role("button", name="Ghi điểm chính thức").click()
    page.locator(".error", has_text="cao hơn mức dữ liệu cuộc họp cho phép").wait_for()
    page.locator("#c-att_no_unexcused").fill("0")
    page.get_by_role("button", name="Ghi điểm chính thức").click()
    page.get_by_text("Đã ghi điểm chính thức.").wait_for()
    score = page.locator("p.big").inner_text()
    assert "95/100" in score, score
    shoot(page, "journey-evaluation")
    page.get_by_role("link", name="Trở lại cuộc họp").click()
    # The minutes: preview in the browser, download the Word file.
    preview = page.request.get(web.url(f"/manage/meetings/{first_id}/minutes.pdf"))
    assert preview.ok and preview.headers["content-type"] == "application/pdf"
    assert preview.headers["content-disposition"].startswith("inline") and preview.body()[:5] == b"%PDF-"
    with page.expect_download() as download:
        page.get_by_role("link", name="Tệp Word (DOCX)").click()
    assert download.value.suggested_filename.endswith(".docx")
    shoot(page, "journey-closed")
    # The second record of the session: announce, start, carry the attendance over in one tap.
    page.get_by_role("link", name=THEME).click()
    page.get_by_role("button", name="Thông báo cuộc họp").click()
    page.get_by_role("button", name="Bắt đầu", exact=True).click()
    page.get_by_text("Cuộc họp đã bắt đầu.").wait_for()
    page.get_by_role("button", name=f"Lấy điểm danh của “{REGULAR}”").click()
    page.get_by_text("Đã ghi điểm danh.").wait_for()
    carried = page.locator("#totals").inner_text()
    assert "22 / 25" in carried and "2 có lý do, 1 không lý do" in carried, carried
    shoot(page, "journey-second-record")
    seconds = time.monotonic() - began
    everything = sent.take()
    page.goto(web.url("/"))
    figures = {
        "journey_requests": len(everything),
        "journey_requests_without_live_polls": len([u for u in everything if "/live" not in u]),
        "journey_seconds": round(seconds, 1),
        "attendance_requests_25_members": len(sheet_requests),
        "attendance_request_list": sheet_requests,
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "secretary-journey.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print("secretary journey:", json.dumps({k: v for k, v in figures.items() if k != "attendance_request_list"}))
    member_ctx.close()
    context.close()


def test_taking_attendance_costs_the_same_requests_for_25_members_as_for_5(browser: Any, web: WebSystem) -> None:
    """JavaScript off, so only the secretary's own acts make requests: open the sheet, mark two
    absent, record. A 5-member cell (the secretary also runs it) against the 25-member one."""
    me = web.api("GET", "/me", "secretary")
    small = web.api("POST", "/units", "admin", json={"name": "Chi bộ Tổ 5 (thử)", "kind": "cell",
                                                      "parent_id": web.api("GET", f"/units/{me['unit_id']}",
                                                                           "admin")["parent_id"]})
    for i in range(5):
        web.api("POST", f"/units/{small['id']}/members", "admin",
                json={"full_name": f"Đảng viên Tổ 5 số {i + 1}", "status": "official"})
    web.api("POST", "/roles", "admin", json={"account_id": me["account_id"], "role": "cell_secretary",
                                             "unit_id": small["id"]})
    auth = login(web.system, *web.accounts["secretary"])  # a token with the new role
    counted = {}
    for cell, size in ((me["unit_id"], 25), (small["id"], 5)):
        meeting_id = started_meeting(web, auth, cell, f"Điểm danh {size} đảng viên")
        context, page = secretary_page(browser, web, js=False)
        sent = Requests(context)
        page.goto(web.url(f"/manage/meetings/{meeting_id}"))
        rows = page.locator("ol.sheet > li")
        assert rows.count() == size
        for row in plain_rows(rows)[1:3]:
            row.locator("select").select_option("excused")
            row.locator("input:not([type=hidden])").fill("Ốm")
        page.get_by_role("button", name="Ghi điểm danh").click()
        page.get_by_text("Đã ghi điểm danh.").wait_for()
        page.wait_for_load_state("load")
        counted[size] = sent.take()
        totals = web.api("GET", f"/meetings/{meeting_id}/attendance", "admin")["totals"]
        exempt = 1 if size == 25 else 0  # recorded absent, with the reason
        assert totals["absent_excused"] == 2 + exempt and totals["not_recorded"] == 0, totals
        assert totals["present"] == size - 2 - exempt, totals
        context.close()
    pages = {size: [u.split(" ")[0] for u in urls if "/static/" not in u] for size, urls in counted.items()}
    files = {size: {u.split("/static/")[1] for u in urls if "/static/" in u} for size, urls in counted.items()}
    # The sheet, the one POST of the whole sheet, the sheet again: whatever the cell's size.
    assert pages[25] == pages[5] == ["GET", "POST", "GET"], counted
    # Besides them only the site's static files (cached for a year by their version), the same ones.
    assert files[25] == files[5], counted
    figures = {"attendance_requests": {size: len(urls) for size, urls in counted.items()},
               "attendance_page_requests": {size: len(p) for size, p in pages.items()},
               "requests": counted}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "secretary-attendance-requests.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print("attendance requests (25 / 5 members):", figures["attendance_requests"],
          "pages and posts:", figures["attendance_page_requests"])


def test_the_secretary_sees_who_has_not_opened_the_documents_before_the_meeting(
    browser: Any, web: WebSystem
) -> None:
    publish_plan(web)
    cell = web.api("GET", "/me", "secretary")["unit_id"]
    starts = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    m = web.api("POST", "/meetings", "secretary", json={
        "cell_unit_id": cell, "kind": "thematic", "title": "Chuyên đề — tài liệu gửi trước",
        "starts_at": starts.isoformat(), "mode": "hybrid"})
    web.api("POST", f"/meetings/{m['id']}/documents", "secretary", json={"document_id": web.made["plan"]["id"]})
    summoned = web.api("POST", f"/meetings/{m['id']}/announce", "secretary")["roster_size"]
    web.api("POST", f"/meetings/{m['id']}/documents/{web.made['plan']['id']}/opened", "member")
    member_name = web.api("GET", "/me", "member")["member"]["full_name"]
    context, page = secretary_page(browser, web, "phone", False)
    page.goto(web.url(f"/manage/meetings/{m['id']}"))
    docs = page.locator("#documents")
    assert f"Đã mở: 1/{summoned} đảng viên được triệu tập" in docs.inner_text()
    docs.get_by_text(f"Chưa mở ({summoned - 1})").click()
    assert member_name not in docs.locator("details.not-opened p").inner_text()
    shoot(page, "documents-opened")
    context.close()


def test_a_meeting_held_without_connection_is_entered_with_the_paper_minutes_times(
    browser: Any, web: WebSystem
) -> None:
    """Yesterday at 19:30 the cell met without connection; today the secretary enters it from the
    paper minutes, JavaScript off on a phone: the record and the minutes say 19:35 to 21:10."""
    auth = login(web.system, *web.accounts["secretary"])
    cell = web.api("GET", "/me", "secretary")["unit_id"]
    held = (dt.datetime.now(VN) - dt.timedelta(days=1)).replace(hour=19, minute=30, second=0, microsecond=0)
    m = requests.post(web.url("/api/v1/meetings"), headers=auth, timeout=60, json={
        "cell_unit_id": cell, "kind": "regular", "title": "Sinh hoạt chi bộ — nhập từ biên bản giấy",
        "starts_at": held.isoformat(), "mode": "in_person"}).json()
    requests.post(web.url(f"/api/v1/meetings/{m['id']}/announce"), headers=auth, timeout=60, json={})
    context, page, _tag = new_page(browser, "phone", False)
    page.goto(web.url("/login"))
    sign_in(page, web, "secretary")
    page.wait_for_url("**/")
    page.goto(web.url(f"/manage/meetings/{m['id']}"))
    page.get_by_text("Nhập lại cuộc họp đã diễn ra?").first.click()
    slip = (held + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")  # a typing slip: the day after tomorrow
    page.get_by_label("Bắt đầu lúc (theo biên bản giấy)").fill(slip)
    page.get_by_role("button", name="Bắt đầu", exact=True).click()
    assert "Thời gian bắt đầu không thể ở tương lai." in page.locator("[role=alert]").inner_text()
    assert page.get_by_label("Bắt đầu lúc (theo biên bản giấy)").input_value() == slip  # kept, shown to correct
    local = "%Y-%m-%dT%H:%M"  # a datetime-local field's value
    page.get_by_label("Bắt đầu lúc (theo biên bản giấy)").fill((held + dt.timedelta(minutes=5)).strftime(local))
    shoot(page, "held-earlier-start")
    page.get_by_role("button", name="Bắt đầu", exact=True).click()
    page.get_by_text("Nhập lại cuộc họp đã diễn ra?").last.click()
    page.get_by_label("Kết thúc lúc (theo biên bản giấy)").fill(
        (held + dt.timedelta(hours=1, minutes=40)).strftime(local))
    page.get_by_role("button", name="Bế mạc cuộc họp").click()
    record = web.api("GET", f"/meetings/{m['id']}", "secretary")
    assert dt.datetime.fromisoformat(record["started_at"]).astimezone(VN) == held + dt.timedelta(minutes=5)
    assert dt.datetime.fromisoformat(record["closed_at"]).astimezone(VN) == held + dt.timedelta(hours=1, minutes=40)
    day = held.strftime("%d/%m/%Y")
    minutes = requests.get(web.url(f"/api/v1/meetings/{m['id']}/minutes?format=docx"), headers=auth, timeout=60)
    assert minutes.status_code == 200
    text = " ".join(p.text for p in docx.Document(io.BytesIO(minutes.content)).paragraphs)
    assert f"khai mạc lúc 19 giờ 35, ngày {day}" in text and f"kết thúc lúc 21 giờ 10, ngày {day}" in text
    context.close()


@every_case
def test_the_secretary_pages_fit_at_each_size(browser: Any, web: WebSystem, size: str, js: bool) -> None:
    auth = login(web.system, *web.accounts["secretary"])
    if "sizes_meeting" not in web.made:
        web.made["sizes_meeting"] = started_meeting(web, auth, web.api("GET", "/me", "secretary")["unit_id"],
                                                    "Sinh hoạt chi bộ — kiểm tra màn hình")
    meeting_id = web.made["sizes_meeting"]
    context, page = secretary_page(browser, web, size, js)
    tag = f"{size}-{'js' if js else 'nojs'}"
    for path, name, check in (
        ("/manage/meetings", "list", "h1"),
        (f"/manage/meetings/{meeting_id}", "meeting", "ol.sheet > li:nth-child(25)"),
        (f"/manage/meetings/{meeting_id}/evaluation", "evaluation", "#c-att_rate"),
    ):
        shown = page.goto(web.url(path))
        assert shown is not None and shown.status == 200, (path, shown and shown.status)
        assert page.locator(check).count() == 1, (path, check)
        shoot(page, f"{name}-{tag}")
    assert "dự họp trên 85%" in page.locator("ol.sheet").inner_text()
    context.close()
    # A member sees no link to run meetings, and the service refuses the page's data.
    member_ctx, member, _tag = new_page(browser, size, js)
    member.goto(web.url("/login"))
    sign_in(member, web, "member")
    member.wait_for_url("**/")
    assert member.get_by_role("link", name="Điều hành họp").count() == 0
    member.goto(web.url(f"/meetings/{meeting_id}"))
    csrf = member.locator("input[name=csrf_token]").first.input_value()
    sent = member.request.post(web.url(f"/manage/meetings/{meeting_id}/attendance"),
                               form={"csrf_token": csrf, "rest": "1", "idempotency_key": "m" * 20})
    assert sent.status == 403  # the meetings service refuses: only the secretary or deputy
    member_ctx.close()


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_the_secretary_uploads_the_cells_draft_resolution_and_its_signed_copy(
    browser: Any, web: WebSystem
) -> None:
    """On a phone with JavaScript off: the cell's draft resolution uploaded from the meeting's page
    (a classified one refused first), numbered in the cell's register, attached and read by a member;
    after the meeting the resolution published with the scan of its signed copy."""
    auth = login(web.system, *web.accounts["secretary"])
    cell = web.api("GET", "/me", "secretary")["unit_id"]
    starts = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).replace(microsecond=0)
    m = web.api("POST", "/meetings", "secretary", json={
        "cell_unit_id": cell, "kind": "regular", "title": "Sinh hoạt chi bộ — dự thảo của chi bộ",
        "starts_at": starts.isoformat(), "mode": "in_person"})
    context, page = secretary_page(browser, web, "phone", False)
    page.goto(web.url(f"/manage/meetings/{m['id']}"))
    upload = "Tải lên văn bản của chi bộ (dự thảo nghị quyết, kế hoạch, báo cáo)"
    title = "Dự thảo Nghị quyết chi bộ tháng 12 về phát triển kinh tế thôn"

    def send(text: list[str]) -> None:
        page.get_by_label("Tên văn bản của chi bộ").fill(title)
        page.get_by_label("Tệp (PDF, Word, OpenDocument hoặc ảnh chụp bản giấy đã ký)").set_input_files(files=[{
            "name": "du-thao-nghi-quyet.docx", "mimeType": DOCX, "buffer": docx_bytes(text)}])
        page.get_by_role("button", name="Tải lên và đính kèm").click()

    page.get_by_text(upload).click()
    send(["TUYỆT MẬT", title])
    alert = page.locator("[role=alert]").inner_text()
    assert "Không được lưu văn bản mật trên hệ thống này." in alert and "chọn lại tệp" in alert
    assert page.get_by_label("Tên văn bản của chi bộ").input_value() == title  # kept: only the file again
    shoot(page, "cell-document-refused")
    send([title, "Chi bộ thống nhất các chỉ tiêu phát triển kinh tế, xây dựng nông thôn mới năm 2027."])
    assert "đã được gửi tới đảng viên trong chi bộ và đính kèm" in page.locator("[role=status]").inner_text()
    assert title in page.locator("#documents").inner_text()
    shoot(page, "cell-document")

    (attached,) = web.api("GET", f"/meetings/{m['id']}", "secretary")["documents"]
    doc = web.api("GET", f"/documents/{attached['document_id']}", "member")  # a member of the cell reads it
    assert doc["title"] == title and doc["number"].endswith("-NQ/CB") and doc["unit_id"] == cell

    # A file sent by mistake (through the API this time) is withdrawn from its page: members lose it.
    wrong = web.api("POST", "/documents", "secretary", data={
        "title": "Thông báo gửi nhầm tệp", "number": "90-TB/CB", "category": "van-kien-tu-lieu",
        "audience_unit_id": cell, "status": "published"}, files={"file": ("nham.docx", docx_bytes(["Nhầm"]))})
    page.goto(web.url(f"/documents/{wrong['id']}"))
    cookies = {c["name"]: c["value"] for c in context.cookies()}  # a form sent without a reason (as curl can)
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    empty = requests.post(web.url(f"/documents/{wrong['id']}/withdraw"), data={"csrf_token": csrf, "reason": " "},
                          cookies=cookies, headers={"Origin": web.url("")}, timeout=60)
    assert empty.status_code == 400 and "Vui lòng ghi lý do thu hồi văn bản." in empty.text
    page.get_by_text("Gửi nhầm? Thu hồi văn bản").click()
    page.get_by_label("Lý do thu hồi (được lưu trong hồ sơ)").fill("Tải nhầm tệp của tháng trước")
    page.get_by_role("button", name="Thu hồi văn bản").click()
    assert "Văn bản đã được thu hồi" in page.locator("[role=status]").inner_text()
    shoot(page, "cell-document-withdrawn")
    gone = requests.get(web.url(f"/api/v1/documents/{wrong['id']}"), headers=web.auth["member"], timeout=60)
    assert gone.status_code == 404
    publish_plan(web)  # a document from above the cell: not the secretary's to withdraw
    page.goto(web.url(f"/documents/{web.made['plan']['id']}"))
    assert page.get_by_text("Gửi nhầm? Thu hồi văn bản").count() == 0

    # The meeting held; the resolution published with the scan of the signed paper.
    for step in ("announce", "start"):
        assert requests.post(web.url(f"/api/v1/meetings/{m['id']}/{step}"), headers=auth, json={},
                             timeout=60).status_code == 200
    assert requests.post(web.url(f"/api/v1/meetings/{m['id']}/close"), headers=auth, timeout=60,
                         json={"conclusion": "Chi bộ thống nhất thông qua nghị quyết."}).status_code == 200
    page.goto(web.url(f"/manage/meetings/{m['id']}"))
    # A stale upload form sent after the meeting: refused before its file is kept as the cell's.
    def cell_documents() -> int:
        return int(web.api("GET", "/documents", "secretary", params={"unit_id": cell})["total"])

    kept = cell_documents()
    late = requests.post(
        web.url(f"/manage/meetings/{m['id']}/documents/upload"), cookies=cookies, headers={"Origin": web.url("")},
        data={"csrf_token": page.locator("input[name=csrf_token]").first.get_attribute("value"), "doc_type": "KH",
              "title": "Kế hoạch gửi muộn"}, files={"file": ("muon.docx", docx_bytes(["Muộn"]), DOCX)}, timeout=60)
    assert late.status_code == 400 and cell_documents() == kept
    page.get_by_label("Bản nghị quyết đã ký (không bắt buộc): bản quét hoặc PDF").set_input_files(files=[{
        "name": "nghi-quyet-da-ky.docx", "mimeType": DOCX,
        "buffer": docx_bytes(["NGHỊ QUYẾT", "Chi bộ thống nhất thông qua nghị quyết.", "T/M CHI BỘ - BÍ THƯ"])}])
    shoot(page, "resolution-form")
    page.get_by_role("button", name="Gửi đến đảng viên").click()
    assert "Mở nghị quyết" in page.locator("main").inner_text()
    shoot(page, "signed-resolution")
    record = web.api("GET", f"/meetings/{m['id']}", "member")
    signed = web.api("GET", f"/documents/{record['resolution']['document_id']}", "member")
    assert signed["number"].endswith("-NQ/CB") and signed["number_seq"] == doc["number_seq"] + 1  # the next one
    assert signed["title"].startswith("Nghị quyết: ") and signed["unit_id"] == cell
    context.close()
