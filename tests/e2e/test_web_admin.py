"""Staff pages in Chromium through `sotay up`: an administrator merging two communes (with a cell,
a member and a role following), a secretary importing the cell's roster file and printing
activation codes that a member then redeems; and the pages at 320 px and 1280 px, JS on and off.

The journeys make their own units, so the demo cell the other browser tests use is left alone."""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.support.audit import audit_context, axe_violations, blocking, need_axe, visit
from tests.support.browser import (
    PAGE_BUDGET,
    SIZES,
    WebSystem,
    case_tag,
    every_case,
    fits_width,
    new_page,
    screenshot,
    sign_in,
    sign_in_as,
)
from tests.support.processes import login

SEQ = itertools.count(1)


def admin_page(browser: Any, web: WebSystem, size: str, js: bool) -> tuple[Any, Any, str]:
    context, page, tag = new_page(browser, size, js)
    page.goto(web.url("/login"))
    sign_in(page, web, "admin")
    return context, page, tag


def add_unit(page: Any, name: str, kind: str, code: str = "") -> None:
    page.get_by_label("Tên", exact=True).fill(name)
    page.get_by_label("Loại", exact=True).select_option(kind)
    if code:
        page.get_by_label("Mã đơn vị (dùng trong tệp nhập)").fill(code)
    page.get_by_role("button", name="Thêm", exact=True).click()
    assert "Đã tạo đơn vị." in page.locator("[role=status]").inner_text()


def secretary_of_new_cell(web: WebSystem, code: str, phone: str) -> tuple[str, tuple[str, str], str]:
    """A cell under the demo's second commune with its secretary (who signs in with a password)."""
    communes = web.api("GET", f"/units?parent_id={web.made['province']}&kind=commune", "admin")["items"]
    cell = web.api("POST", "/units", "admin", json={"name": f"Chi bộ Thử nhập {code}", "kind": "cell",
                                                   "parent_id": communes[1]["id"], "code": code})
    made = web.api("POST", f"/units/{cell['id']}/members", "admin", json={
        "full_name": "Hoàng Thị Bí Thư", "phone": phone, "party_card_number": f"T{phone}",
        "position": "secretary", "initial_password": "mat-khau-bi-thu"})
    return cell["id"], (phone, "mat-khau-bi-thu"), made["id"]


def test_an_administrator_merges_two_communes(web: WebSystem, browser: Any) -> None:
    context, page, tag = admin_page(browser, web, "desktop", True)
    page.get_by_role("navigation", name="Menu chính").get_by_role("link", name="Quản trị").click()
    assert page.locator("h1").inner_text().startswith("Tỉnh ủy")
    add_unit(page, "Đảng ủy xã Hợp Thành", "commune", "XHT")
    add_unit(page, "Đảng ủy xã Hợp Nhất", "commune", "XHN")
    page.get_by_role("link", name="Đảng ủy xã Hợp Thành").click()
    add_unit(page, "Chi bộ thôn Nà Pàn", "cell", "XHT-CB1")
    source = page.url.split("?")[0].rsplit("/", 1)[-1]
    cell = web.api("GET", f"/units?parent_id={source}", "admin")["items"][0]["id"]
    staff = web.api("POST", f"/units/{cell}/members", "admin", json={
        "full_name": "Lăng Văn Biên", "phone": "0977000001", "party_card_number": "T0977000001",
        "initial_password": "mat-khau-bien-tap"})
    web.api("POST", "/roles", "admin", json={"account_id": staff["account_id"], "role": "editor", "unit_id": source})
    page.reload()
    screenshot(page, f"admin-unit-before-merge-{tag}")

    # Refused without the confirmation, then done in one step.
    page.get_by_label("Xã tiếp nhận").select_option(label="Đảng ủy xã Hợp Nhất")
    page.get_by_role("button", name="Hợp nhất hai xã").evaluate("b => b.form.noValidate = true")
    page.get_by_role("button", name="Hợp nhất hai xã").click()
    assert "đánh dấu ô xác nhận" in page.locator("[role=alert]").inner_text()
    page.get_by_label("Xã tiếp nhận").select_option(label="Đảng ủy xã Hợp Nhất")
    page.get_by_label(re.compile("Tôi đã kiểm tra")).check()
    page.get_by_role("button", name="Hợp nhất hai xã").click()
    status = page.locator("[role=status]").inner_text()
    assert "Đã hợp nhất hai xã: chuyển 1 đơn vị, 0 đảng viên và 1 vai trò." in status
    assert page.locator("h1").inner_text() == "Đảng ủy xã Hợp Nhất"
    assert page.get_by_role("link", name="Chi bộ thôn Nà Pàn").is_visible()
    fits_width(page)
    screenshot(page, f"admin-merged-{tag}")
    assert not web.api("GET", f"/units/{source}", "admin")["active"]
    # An admin reaches a cell's roster from the tree.
    page.get_by_role("link", name="Chi bộ thôn Nà Pàn").click()
    page.get_by_role("link", name="Danh sách chi bộ").last.click()
    assert "Lăng Văn Biên" in page.locator(".ticks").inner_text()
    page.go_back()
    page.go_back()

    # The editor's role now names the new commune; the audit log shows the merge.
    page.get_by_role("link", name="Người dùng và vai trò").click()
    assert "Lăng Văn Biên — Biên tập viên" in page.locator("main").inner_text()
    page.get_by_role("link", name="Nhật ký truy cập").click()
    page.get_by_label("Nội dung").select_option("unit.")
    page.get_by_role("button", name="Hiển thị").click()
    assert "unit.merged" in page.locator(".events").inner_text()
    screenshot(page, f"admin-audit-{tag}")
    context.close()


def test_a_secretary_imports_the_roster_and_prints_activation_codes(web: WebSystem, browser: Any) -> None:
    _, secretary, _ = secretary_of_new_cell(web, "TCB-NHAP", "0977000100")
    context, page, tag = new_page(browser, "phone", False)
    page.goto(web.url("/login"))
    sign_in_as(page, *secretary)
    page.get_by_role("link", name="Danh sách chi bộ").click()
    assert "Chi bộ Thử nhập" in page.locator("h1").inner_text()
    rows = "\n".join([
        "so_the_dang_vien,ho_ten,ma_don_vi,so_dien_thoai,loai_dang_vien,chuc_vu",
        "T0977000101,Nông Văn Một,TCB-NHAP,0977000101,Chính thức,",
        "T0977000102,Vi Thị Hai,TCB-NHAP,0977000102,Dự bị,Đảng viên",
        "T0977000103,Lương Văn Ba,TCB-NHAP,0977000103,Chính thức,Phó Bí thư",
        ",Không Có Thẻ,TCB-NHAP,,,",
    ])
    page.get_by_label("Tệp CSV hoặc XLSX").set_input_files(
        files=[{"name": "chi-bo.csv", "mimeType": "text/csv", "buffer": rows.encode()}])
    page.get_by_role("button", name="Nhập", exact=True).click()
    report = page.locator("#report").inner_text()
    assert "Kết quả nhập" in report
    assert re.search(r"Đảng viên mới\s+2", report) and re.search(r"Dòng bị từ chối\s+2", report)
    assert "Chỉ quản trị viên mới giao chức vụ" in report and "Thiếu số thẻ đảng viên." in report
    members = page.locator(".ticks").inner_text()
    assert "Nông Văn Một" in members and "Vi Thị Hai" in members and "Dự bị" in members
    fits_width(page)
    screenshot(page, f"roster-import-{tag}")

    page.get_by_role("button", name="Cấp mã cho mọi người chưa có mật khẩu").click()
    cards = page.locator(".code-card")
    assert cards.count() == 2
    text = cards.first.inner_text()
    code = re.search(r"[A-Z0-9]{4}-[A-Z0-9]{4}", text)
    assert code, text
    fits_width(page)
    assert not page.get_by_role("button", name="In", exact=True).is_visible()  # printing needs a script here
    screenshot(page, f"codes-{tag}")
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    page.emulate_media(media="print")
    assert not page.locator("nav").first.is_visible() and cards.first.is_visible()
    screenshot(page, f"codes-print-{tag}")
    login_name = "0977000102" if "Vi Thị Hai" in text else "0977000101"
    context.close()

    # The member redeems the code from the card.
    context, page, _ = new_page(browser, "phone", False)
    page.goto(web.url("/activate"))
    page.get_by_label("Số điện thoại hoặc số thẻ đảng viên").fill(login_name)
    page.get_by_label("Mã kích hoạt").fill(code.group(0))
    page.get_by_label("Mật khẩu mới", exact=True).fill("mat-khau-cua-toi")
    page.get_by_label("Nhập lại mật khẩu mới").fill("mat-khau-cua-toi")
    page.get_by_role("button", name="Kích hoạt và đăng nhập").click()
    assert page.url == web.url("/")
    context.close()


EMAIL = "Thư điện tử"


def test_a_secretary_reads_and_corrects_a_members_profile(web: WebSystem, browser: Any) -> None:
    """From the roster: the profile (the read audited), a probationary member made official, an
    exemption refused without its reason, then recorded; JavaScript off on a phone."""
    cell, secretary, _ = secretary_of_new_cell(web, "TCB-HOSO", "0977000500")
    member = web.api("POST", f"/units/{cell}/members", "admin", json={
        "full_name": "Lò Thị Dự", "phone": "0977000501", "party_card_number": "T0977000501",
        "status": "probationary", "joined_on": "2025-12-01", "email": "du.lo@example.vn", "ethnicity": "Thái"})
    context, page, tag = new_page(browser, "phone", False)
    page.goto(web.url("/login"))
    sign_in_as(page, *secretary)
    page.get_by_role("link", name="Danh sách chi bộ").click()
    page.get_by_role("link", name="Hồ sơ của đồng chí Lò Thị Dự").click()
    assert page.locator("h1").inner_text() == "Lò Thị Dự"
    assert "Dự bị" in page.locator("dl.facts").inner_text()
    page.get_by_label("Loại đảng viên").select_option(label="Chính thức")
    page.get_by_label("Ngày chính thức").fill("2026-12-01")
    page.get_by_label("Miễn công tác và sinh hoạt đảng").check()
    page.get_by_role("button", name="Lưu hồ sơ").click()
    assert page.locator("[role=alert]").inner_text() == "Đảng viên miễn sinh hoạt cần có lý do."
    page.get_by_label("Lý do miễn").fill("Tuổi cao, sức yếu")
    page.get_by_role("button", name="Lưu hồ sơ").click()
    assert "Đã lưu hồ sơ." in page.locator("[role=status]").inner_text()
    facts = page.locator("dl.facts").inner_text()
    assert "Chính thức" in facts and "chính thức từ 01/12/2026" in facts and "Có: Tuổi cao, sức yếu" in facts
    page.get_by_label(EMAIL).fill("")  # an address the member no longer has: removed, the rest kept
    page.get_by_role("button", name="Lưu hồ sơ").click()
    assert "Đã lưu hồ sơ." in page.locator("[role=status]").inner_text()
    assert page.get_by_label(EMAIL).input_value() == "" and page.get_by_label("Dân tộc").input_value() == "Thái"
    fits_width(page)
    screenshot(page, f"roster-member-{tag}")
    assert not page.get_by_label("Chức vụ trong chi bộ").count()  # positions are the admins'
    # The API empties a field on request too.
    emptied = web.api("PATCH", f"/members/{member['id']}", "admin", json={"clear": ["ethnicity"]})
    assert (emptied["ethnicity"], emptied["email"], emptied["phone"]) == ("", "", "0977000501")
    context.close()
    # A member of another cell is refused the page (identity decides).
    context, page, _tag = new_page(browser, "phone", False)
    page.goto(web.url("/login"))
    sign_in(page, web, "member")
    shown = page.goto(web.url(f"/roster/{cell}/members/{member['id']}"))
    assert shown is not None and shown.status == 403 and "Lò Thị Dự" not in page.content()
    context.close()
    reads = web.api("GET", "/audit", "admin", params={
        "unit_id": cell, "action_prefix": "member.profile.read", "target_id": member["id"]})["items"]
    assert reads and all(r["details"].get("purpose") == "Xem hồ sơ trong danh sách chi bộ" for r in reads)


@every_case
def test_staff_pages_fit_and_work_at_each_size(web: WebSystem, browser: Any, size: str, js: bool) -> None:
    n = next(SEQ)
    cell, secretary, secretary_id = secretary_of_new_cell(web, f"TCB-XEM{n}", f"097700020{n}")
    context, page, tag = new_page(browser, size, js)
    page.goto(web.url("/login"))
    sign_in_as(page, *secretary)
    assert not page.get_by_role("link", name="Quản trị").count()  # a secretary administers nothing
    web.api("POST", f"/units/{cell}/members", "admin", json={
        "full_name": "Đinh Văn Mới", "phone": f"097700030{n}", "party_card_number": f"T097700030{n}"})
    page.get_by_role("link", name="Danh sách chi bộ").click()
    assert "Hoàng Thị Bí Thư" in page.locator("main").inner_text()
    fits_width(page)
    screenshot(page, f"roster-{tag}")
    page.get_by_role("button", name="Cấp mã cho mọi người chưa có mật khẩu").click()
    assert page.locator(".code-card").inner_text().startswith("Đinh Văn Mới")
    assert page.get_by_role("button", name="In", exact=True).is_visible() == js
    fits_width(page)
    screenshot(page, f"codes-{tag}")
    page.goto(web.url(f"/admin/units/{cell}"))
    assert page.locator("h1").inner_text() == "Đồng chí không có quyền xem trang này"
    context.close()

    context, page, tag = admin_page(browser, web, size, js)
    # The province admin's account has no member: its home offers its staff pages, not a failed inbox.
    home = page.locator("main").inner_text()
    assert "Công việc của bạn" in home and "không gắn với một đảng viên" in home
    assert not page.locator("main .error").count()
    fits_width(page)
    screenshot(page, f"admin-home-{tag}")
    page.goto(web.url("/inbox"))
    assert "không gắn với một đảng viên" in page.locator("main").inner_text()
    page.goto(web.url("/admin"))
    assert page.get_by_role("link", name="Đơn vị", exact=True).get_attribute("aria-current") == "page"
    fits_width(page)
    screenshot(page, f"admin-unit-{tag}")
    page.get_by_role("link", name="Người dùng và vai trò").click()
    page.get_by_label("Tên", exact=True).fill("Hoàng Thị Bí")
    page.get_by_role("button", name="Tìm", exact=True).click()
    page.wait_for_load_state()
    assert "Hoàng Thị Bí Thư" in page.locator("main").inner_text()
    fits_width(page)
    screenshot(page, f"admin-people-{tag}")
    web.api("GET", f"/members/{secretary_id}?purpose=kiem-tra", "admin")  # an audited read of a profile
    page.get_by_role("link", name="Nhật ký truy cập").click()
    page.wait_for_load_state()
    assert "member.profile.read" in page.locator(".events").inner_text()
    page.get_by_role("link", name="Hoàng Thị Bí Thư").first.click()  # only the reads of this profile
    page.wait_for_load_state()
    assert "Về Hoàng Thị Bí Thư" in page.locator(".notice").inner_text()
    assert page.locator(".events li").count() == 1
    fits_width(page)
    screenshot(page, f"admin-audit-{case_tag(size, js)}")
    context.close()
    assert login(web.system, *secretary)


def test_staff_pages_weigh_little_and_pass_axe(web: WebSystem, browser: Any) -> None:
    """The members' budgets hold for the staff pages: ≤ 150 KB on a cold visit at a phone's size, and
    no serious or critical axe-core violation. Printed weights go into the report."""
    need_axe()
    cell, secretary, secretary_id = secretary_of_new_cell(web, "TCB-AXE", "0977000400")
    province = web.made["province"]
    signed: dict[str, Any] = {}
    for who, login_pair in (("secretary", secretary), ("admin", web.accounts["admin"])):
        context, page, _ = new_page(browser, "phone", True)
        page.goto(web.url("/login"))
        sign_in_as(page, *login_pair)
        signed[who] = context.cookies()
        context.close()
    pages = [("roster", "secretary", f"/roster?unit={cell}"),
             ("roster-member", "secretary", f"/roster/{cell}/members/{secretary_id}"),
             ("admin-unit", "admin", f"/admin/units/{province}"),
             ("admin-people", "admin", f"/admin/units/{province}/people?q=Ho%C3%A0ng"),
             ("admin-audit", "admin", f"/admin/units/{province}/audit"),
             ("manage-meetings", "secretary", "/manage/meetings"),
             ("committee", "admin", "/committee"), ("committee-documents", "admin", "/committee/documents"),
             ("committee-upload", "admin", "/committee/documents/new"),
             ("committee-feedback", "admin", "/committee/feedback"),
             ("committee-compliance", "admin", "/committee/compliance"),
             ("report", "admin", f"/reports/units/{province}")]
    for name, who, path in pages:
        context = audit_context(browser, SIZES["phone"], signed[who])
        page, weight = visit(context, web.url(path))
        assert page.url == web.url(path), f"{name}: ended at {page.url}"
        print(f"{name}: {weight} bytes")
        assert 1000 < weight <= PAGE_BUDGET, f"{name}: {weight} bytes (budget {PAGE_BUDGET})"
        found = blocking(axe_violations(page))
        assert found == [], f"{name}: {found}"
        context.close()
