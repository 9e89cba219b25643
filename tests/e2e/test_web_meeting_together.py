"""One cell meeting with several members at once, in Chromium through the whole system
(`sotay up`). The secretary runs it through the JSON API (create, attach a document, announce,
start, record the others present, open an open and a secret poll, count the hands in the room,
close), while three members use the web pages from their own browser contexts:

- a member on a 320x640 phone with JavaScript OFF: finds the meeting among the upcoming ones,
  reads the document, checks in, gives an opinion, votes with one tap - a double tap and a resent
  form count once, a stale second page is refused in words - follows by the refresh link, sees
  the results with the Charter's arithmetic, updates a task, downloads the minutes;
- the secretary as a voting member on a 1280x800 desktop with JavaScript ON: checks in online
  and sees the polls open and their results appear without reloading the page;
- a probationary member (phone, JavaScript on): checks in, is told they attend but do not vote,
  and a vote sent anyway is refused with the reason as an HTML page, not JSON.

Every page state is photographed at both sizes (tests/e2e/artifacts/meeting-*.png), checked for
sideways scrolling, and weighed against the page budget; the weights go to meetings-weights.json.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.browser import (
    ARTIFACTS,
    PAGE_BUDGET,
    SIZES,
    WebSystem,
    Weighed,
    fits_width,
    new_page,
    screenshot,
    sign_in,
)
from tests.support.documents import docx_bytes

GUIDE = "Hướng dẫn số 12-HD/BTCTW về sinh hoạt chuyên đề năm 2026"
GUIDE_TEXT = "Mỗi chi bộ sinh hoạt chuyên đề ít nhất một lần mỗi quý, gắn với nhiệm vụ chính trị của địa phương."
TITLE = "Sinh hoạt chuyên đề quý IV: chuyển đổi số trong sinh hoạt chi bộ"
OPEN_QUESTION = "Thông qua Nghị quyết chuyên đề quý IV của Chi bộ"
SECRET_QUESTION = "Giới thiệu đồng chí Hoàng Thu Trang để Đảng ủy xem xét cử đi học lớp bồi dưỡng"
OFFICIAL_PRESENT_BY_SECRETARY = 18  # besides the two voters with accounts
WEIGHTS: dict[str, int] = {}


def shoot(page: Any, name: str) -> None:
    """The page as it is now, at both sizes, with no sideways scrolling at either."""
    own = page.viewport_size
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        fits_width(page)
        screenshot(page, f"together-{name}-{size}")
    page.set_viewport_size(own)


def weigh(page: Any, weighed: Weighed, name: str) -> None:
    """What the last navigation transferred (every response, headers included)."""
    page.wait_for_load_state("load")
    page.evaluate("0")  # lets the last requestfinished events arrive
    WEIGHTS[name] = weighed.take()
    assert WEIGHTS[name] <= PAGE_BUDGET, (name, WEIGHTS[name])


def member_id(web: WebSystem, who: str) -> str:
    return str(web.api("GET", "/me", who)["member"]["id"])


@pytest.fixture(scope="module")
def sitting(web: WebSystem) -> Iterator[dict[str, Any]]:
    """A thematic meeting of the member's cell with a document to read before, announced."""
    guide = web.api("POST", "/documents", "admin", data={
        "title": GUIDE, "number": "12-HD/BTCTW", "category": "chuyen-de", "issued_on": "2026-01-15",
        "issuing_body": "Ban Tổ chức Trung ương", "audience_unit_id": web.made["province"], "status": "published",
    }, files={"file": ("huong-dan-12.docx", docx_bytes(["HƯỚNG DẪN", GUIDE_TEXT]))})
    starts = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).replace(microsecond=0)
    meeting = web.api("POST", "/meetings", "secretary", json={
        "cell_unit_id": web.made["cell"], "kind": "thematic", "title": TITLE, "starts_at": starts.isoformat(),
        "ends_at": (starts + dt.timedelta(hours=2)).isoformat(), "mode": "hybrid",
        "place": "Hội trường Khối 2, số 8 đường Lê Lợi",
        "agenda": [{"title": "Quán triệt Hướng dẫn 12-HD/BTCTW", "description": "Bí thư chi bộ trình bày"},
                   {"title": "Thảo luận, biểu quyết nghị quyết chuyên đề"}]})
    web.api("POST", f"/meetings/{meeting['id']}/documents", "secretary", json={"document_id": guide["id"]})
    web.api("POST", f"/meetings/{meeting['id']}/announce", "secretary", json={})
    ends = (starts + dt.timedelta(hours=2)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    yield {"meeting": meeting, "guide": guide, "ends": f" – {ends:%H:%M}"}
    (ARTIFACTS / "meeting-together-weights.json").write_text(json.dumps(WEIGHTS, indent=1), encoding="utf-8")


def open_context(browser: Any, size: str, js: bool) -> tuple[Any, Any, Weighed]:
    context, page, _tag = new_page(browser, size, js)
    return context, page, Weighed(page)


def form_fields(form: Any) -> dict[str, str]:
    return {i.get_attribute("name"): i.get_attribute("value") or ""
            for i in form.locator("input[type=hidden]").all()}


def poll_form(page: Any, poll_id: str) -> Any:
    return page.locator(f"form[action$='/polls/{poll_id}/vote']")


def test_members_check_in_vote_and_follow_the_results_together(
    web: WebSystem, browser: Any, sitting: dict[str, Any]
) -> None:
    mid = sitting["meeting"]["id"]
    meeting_path = f"/meetings/{mid}"
    ids = {who: member_id(web, who) for who in ("member", "secretary", "probationary")}

    # --- before: the member (phone, no script) finds the meeting and reads the document ---
    ctx_a, a, weighed_a = open_context(browser, "phone", js=False)
    a.goto(web.url("/login"))
    sign_in(a, web, "member")
    weighed_a.take()
    a.get_by_role("link", name="Sinh hoạt", exact=True).click()
    weigh(a, weighed_a, "list")
    upcoming = a.locator("section", has=a.get_by_role("heading", name="Sắp họp và đang họp"))
    assert TITLE in upcoming.inner_text()
    shoot(a, "list-nojs")
    weighed_a.take()
    a.get_by_role("link", name=TITLE).click()
    weigh(a, weighed_a, "announced")
    main = a.locator("main").inner_text()
    for text in ("Sinh hoạt chuyên đề · Đã thông báo", "Hội trường Khối 2, số 8 đường Lê Lợi", sitting["ends"],
                 "Trực tiếp và trực tuyến", "Quán triệt Hướng dẫn 12-HD/BTCTW",
                 "Thảo luận, biểu quyết nghị quyết chuyên đề"):
        assert text in main, text
    assert a.get_by_role("button", name="Có mặt (trực tiếp)").count() == 0  # check-in opens at the start
    shoot(a, "announced-nojs")
    a.get_by_role("link", name=GUIDE).click()
    assert a.locator("h1").inner_text() == GUIDE
    opens = web.api("GET", f"/meetings/{mid}/document-opens", "secretary")["items"]
    assert [o["member_id"] for o in opens] == [ids["member"]]
    with a.expect_download() as original:
        a.get_by_role("link", name="Tải bản gốc").click()
    assert original.value.suggested_filename.endswith(".docx")
    a.go_back()

    # --- the secretary starts the meeting and records the members in the room ---
    web.api("POST", f"{meeting_path}/start", "secretary", json={})
    roster = web.api("GET", f"{meeting_path}/attendance", "secretary", params={"page_size": 100})["items"]
    assert len(roster) == 25
    others = [p for p in roster if p["status"] == "official" and not p["exempt"] and p["member_id"] not in ids.values()]
    for p in others[:OFFICIAL_PRESENT_BY_SECRETARY]:
        web.api("PUT", f"{meeting_path}/attendance/{p['member_id']}", "secretary",
                json={"attendance": "present", "mode": "in_person"})

    # --- check-in: one tap each; the member without script uses the refresh link ---
    a.get_by_role("link", name="Làm mới").click()
    assert "Đang diễn ra" in a.locator("#state").inner_text()
    shoot(a, "in-progress-nojs")
    a.get_by_role("button", name="Có mặt (trực tiếp)").click()
    assert "Đồng chí đã điểm danh." in a.locator("[role=status]").inner_text()
    assert a.get_by_role("button", name="Có mặt (trực tiếp)").count() == 0

    ctx_b, b, weighed_b = open_context(browser, "desktop", js=True)
    b.goto(web.url(meeting_path))
    weighed_b.take()
    sign_in(b, web, "secretary")
    assert b.url.startswith(web.url(meeting_path))
    weigh(b, weighed_b, "in-progress-js")
    b.get_by_role("button", name="Có mặt (trực tuyến)").click()
    assert "Đồng chí đã điểm danh." in b.locator("[role=status]").inner_text()

    ctx_p, p_page, _weighed_p = open_context(browser, "phone", js=True)
    p_page.goto(web.url(meeting_path))
    sign_in(p_page, web, "probationary")
    p_page.get_by_role("button", name="Có mặt (trực tiếp)").click()
    totals = web.api("GET", f"{meeting_path}/attendance", "secretary")["totals"]
    assert (totals["present"], totals["eligible_voters"], totals["denominator"]) == (21, 20, 22), totals

    # --- an opinion ---
    a.get_by_label("Ý kiến của đồng chí").fill("Đề nghị bổ sung chỉ tiêu 100% đảng viên cài đặt Sổ tay Đảng viên.")
    a.get_by_role("button", name="Gửi ý kiến").click()
    assert "Ý kiến của đồng chí đã được ghi nhận." in a.locator("[role=status]").inner_text()
    assert "100% đảng viên cài đặt Sổ tay" in a.locator("main").inner_text()

    # --- the open poll appears on the pages with script without a reload ---
    b.evaluate("window.stayedOnPage = true")
    open_poll = web.api("POST", f"{meeting_path}/polls", "secretary", json={
        "question": OPEN_QUESTION, "kind": "resolution_adoption", "ballot": "open"})
    poll_form(b, open_poll["id"]).get_by_role("button", name="Tán thành", exact=True).wait_for(timeout=15000)
    assert b.evaluate("window.stayedOnPage") is True
    assert b.get_by_role("link", name="Làm mới").is_hidden()
    shoot(b, "poll-open-js")

    # The member (no script) refreshes; a second tab keeps a page rendered before the vote.
    weighed_a.take()
    a.get_by_role("link", name="Làm mới").click()
    weigh(a, weighed_a, "poll-open")
    stale = ctx_a.new_page()
    stale.goto(web.url(meeting_path))
    shoot(a, "poll-open-nojs")
    form = poll_form(a, open_poll["id"])
    sent = form_fields(form)
    form.get_by_role("button", name="Tán thành", exact=True).dblclick()
    a.wait_for_url("**done=voted**", wait_until="load")
    # The same form resent (a retry after a dropped connection): answered, not counted again.
    again = a.request.post(web.url(f"{meeting_path}/polls/{open_poll['id']}/vote"), form={**sent, "choice": "approve"})
    assert again.status == 200 and "Biểu quyết của đồng chí đã được ghi nhận." in again.text()
    assert web.api("GET", f"/meetings/polls/{open_poll['id']}", "secretary")["votes_cast"] == 1
    a.goto(web.url(meeting_path))
    assert "Đồng chí đã biểu quyết." in a.locator(".poll", has_text=OPEN_QUESTION).inner_text()
    assert poll_form(a, open_poll["id"]).count() == 0
    # The stale tab's form carries another key: a second vote, refused in words on the page.
    poll_form(stale, open_poll["id"]).get_by_role("button", name="Không tán thành").click()
    refused = stale.locator("[role=alert]").inner_text()
    assert "Đồng chí đã biểu quyết rồi; mỗi đảng viên chỉ biểu quyết một lần." in refused
    shoot(stale, "already-voted-nojs")
    stale.close()

    poll_form(b, open_poll["id"]).get_by_role("button", name="Tán thành", exact=True).click()
    assert "Biểu quyết của đồng chí đã được ghi nhận." in b.locator("[role=status]").inner_text()
    b.evaluate("window.stayedOnPage = true")

    # The probationary member (whose page brought the poll by itself) has no ballot; one sent
    # anyway is refused as a page, not JSON.
    poll_p = p_page.locator(".poll", has_text=OPEN_QUESTION)
    poll_p.wait_for(timeout=15000)
    assert "Đảng viên dự bị được dự họp, phát biểu ý kiến nhưng không biểu quyết." in poll_p.inner_text()
    assert poll_form(p_page, open_poll["id"]).count() == 0
    poll_p.get_by_text("Đã có 2 phiếu").wait_for(timeout=15000)  # the count follows the votes by itself
    shoot(p_page, "probationary-js")
    csrf = p_page.locator("input[name=csrf_token]").first.get_attribute("value")
    forced = p_page.request.post(web.url(f"{meeting_path}/polls/{open_poll['id']}/vote"),
                                 form={"csrf_token": csrf, "idempotency_key": "k" * 24, "choice": "approve"})
    assert forced.status == 403 and forced.headers["content-type"].startswith("text/html")
    assert "Đảng viên dự bị được dự họp, phát biểu ý kiến nhưng không biểu quyết." in forced.text()
    assert web.api("GET", f"/meetings/polls/{open_poll['id']}", "secretary")["votes_cast"] == 2

    # --- the secretary counts the hands in the room and closes: the result appears by itself ---
    web.api("PUT", f"/meetings/polls/{open_poll['id']}/room-count", "secretary",
            json={"approve": 11, "reject": 2, "abstain": 1})
    web.api("POST", f"/meetings/polls/{open_poll['id']}/close", "secretary")
    verdict = "Đã thông qua: tán thành 13/22 đảng viên chính thức — quá nửa."
    b.locator(".poll", has_text=OPEN_QUESTION).locator(".verdict").wait_for(timeout=15000)
    assert verdict in b.locator(".poll", has_text=OPEN_QUESTION).inner_text()
    assert b.evaluate("window.stayedOnPage") is True
    a.get_by_role("link", name="Làm mới").click()
    result = a.locator(".poll", has_text=OPEN_QUESTION).inner_text()
    assert verdict in result
    assert "Tính: 23 đảng viên chính thức − 1 miễn sinh hoạt và vắng mặt = 22." in result
    assert "13 phiếu tán thành > 22/2: đạt; cần ít nhất 12 phiếu." in result
    assert "Đồng chí đã biểu quyết." in result
    shoot(a, "open-result-nojs")

    # --- the secret poll ---
    secret = web.api("POST", f"{meeting_path}/polls", "secretary", json={
        "question": SECRET_QUESTION, "kind": "question", "ballot": "secret"})
    a.get_by_role("link", name="Làm mới").click()
    assert "Bỏ phiếu kín" in a.locator(".poll", has_text=SECRET_QUESTION).inner_text()
    sent = form_fields(poll_form(a, secret["id"]))
    poll_form(a, secret["id"]).get_by_role("button", name="Không tán thành").dblclick()
    a.wait_for_url("**done=voted**", wait_until="load")
    again = a.request.post(web.url(f"{meeting_path}/polls/{secret['id']}/vote"), form={**sent, "choice": "reject"})
    assert again.status == 200
    assert web.api("GET", f"/meetings/polls/{secret['id']}", "secretary")["votes_cast"] == 1
    a.goto(web.url(meeting_path))
    assert "Đồng chí đã biểu quyết." in a.locator(".poll", has_text=SECRET_QUESTION).inner_text()
    shoot(a, "secret-voted-nojs")
    poll_form(b, secret["id"]).get_by_role("button", name="Tán thành", exact=True).wait_for(timeout=15000)
    poll_form(b, secret["id"]).get_by_role("button", name="Tán thành", exact=True).click()
    web.api("POST", f"/meetings/polls/{secret['id']}/close", "secretary")
    a.get_by_role("link", name="Làm mới").click()
    assert ("Không được thông qua: tán thành 1/22 đảng viên chính thức — chưa quá nửa (cần ít nhất 12)."
            in a.locator(".poll", has_text=SECRET_QUESTION).inner_text())
    b.locator(".poll", has_text=SECRET_QUESTION).locator(".verdict").wait_for(timeout=15000)
    shoot(b, "results-js")

    # --- after: closed (the page with script shows the minutes by itself), a task ---
    old_form = form_fields(a.locator("#opinion form"))
    b.evaluate("window.stayedOnPage = true")
    web.api("POST", f"{meeting_path}/close", "secretary", json={"conclusion": "Chi bộ thống nhất các nội dung."})
    b.get_by_role("link", name="Tải biên bản (PDF)").wait_for(timeout=15000)
    assert b.evaluate("window.stayedOnPage") is True
    web.api("POST", f"{meeting_path}/resolution", "secretary",
            json={"text": "1. Đến hết quý I/2027, 100% đảng viên dùng Sổ tay Đảng viên.\n"
                          "2. Gửi tài liệu trước 3 ngày."})
    task = web.api("POST", f"{meeting_path}/tasks", "secretary", json={
        "title": "Hướng dẫn đảng viên Khối 2 cài đặt Sổ tay Đảng viên", "assignee_member_ids": [ids["member"]],
        "due_on": (dt.date.today() + dt.timedelta(days=30)).isoformat()})
    # An opinion sent from the old page after the close: refused in words, not a JSON error.
    late = a.request.post(web.url(f"{meeting_path}/opinions"), form={**old_form, "text": "Ý kiến gửi muộn"})
    assert late.status == 400 and "Cuộc họp chưa đến hoặc đã qua bước này" in late.text()

    weighed_a.take()
    a.goto(web.url(meeting_path))
    weigh(a, weighed_a, "closed")
    assert a.get_by_role("link", name="Làm mới").count() == 0
    assert "Đến hết quý I/2027" in a.locator("main").inner_text()
    a.get_by_label("Tiến độ (phần trăm)").fill("60")
    a.get_by_label("Ghi chú").fill("Đã hướng dẫn 9/15 đồng chí")
    a.get_by_role("button", name="Báo cáo tiến độ").click()
    assert "Tiến độ đã được ghi nhận." in a.locator("[role=status]").inner_text()
    reported = web.api("GET", f"{meeting_path}/tasks", "secretary")["items"]
    assert [(t["id"], t["progress_percent"], t["status"]) for t in reported] == [(task["id"], 60, "in_progress")]
    shoot(a, "closed-nojs")

    # --- the minutes, both formats, one tap away from the top of the page ---
    a.get_by_role("navigation", name="Trên trang này").get_by_role("link", name="Biên bản").click()
    assert a.url.endswith("#minutes")
    with a.expect_download() as pdf:
        a.get_by_role("link", name="Tải biên bản (PDF)").click()
    with a.expect_download() as docx:
        a.get_by_role("link", name="Tệp Word (DOCX)").click()
    assert pdf.value.suggested_filename.endswith(".pdf") and pdf.value.path().read_bytes()[:5] == b"%PDF-"
    assert docx.value.suggested_filename.endswith(".docx") and docx.value.path().read_bytes()[:2] == b"PK"

    # The list now shows it among the past meetings.
    a.get_by_role("link", name="Sinh hoạt", exact=True).click()
    past = a.locator("section", has=a.get_by_role("heading", name="Cuộc họp đã qua"))
    assert TITLE in past.inner_text()
    for context in (ctx_a, ctx_b, ctx_p):
        context.close()
