"""Sign in, the home page, a bulletin, sign out: in Chromium at a phone's and a desktop's size,
with JavaScript on and off (every page is plain HTML forms and links)."""

from __future__ import annotations

from typing import Any

import requests

from tests.support.browser import (
    FIRST_PAGE_BUDGET,
    PAGE_BUDGET,
    WebSystem,
    Weighed,
    every_case,
    fits_width,
    new_page,
    screenshot,
    sign_in,
)


@every_case
def test_sign_in_home_bulletin_sign_out(web: WebSystem, browser: Any, size: str, js: bool) -> None:
    context, page, tag = new_page(browser, size, js)
    weighed = Weighed(page)
    bulletin = web.api("POST", "/bulletins", "admin", json={
        "publisher_unit_id": web.made["province"], "kind": "bulletin",
        "title": f"Thông báo nội bộ số {12 + len(tag)}-TB/TU về học tập chuyên đề ({tag})",
        "body_html": "<p>Các chi bộ tổ chức <strong>học tập chuyên đề</strong> trong tháng 12.</p>"
                     "<ul><li>Đọc tài liệu trước buổi sinh hoạt.</li><li>Ghi chép ý kiến.</li></ul>",
    })

    # A member who is not signed in is sent to the login page, in Vietnamese.
    page.goto(web.url("/"))
    assert page.url.startswith(web.url("/login"))
    assert page.locator("html").get_attribute("lang") == "vi"
    first_page = weighed.take()
    assert first_page <= FIRST_PAGE_BUDGET, first_page
    fits_width(page)
    screenshot(page, f"login-{tag}")

    # A wrong password is said plainly, beside the form.
    page.get_by_label("Tên đăng nhập, số điện thoại hoặc số thẻ đảng viên").fill(web.accounts["member"][0])
    page.get_by_label("Mật khẩu").fill("sai-mat-khau")
    page.get_by_role("button", name="Đăng nhập").click()
    assert "Sai tên đăng nhập hoặc mật khẩu" in page.locator("[role=alert]").inner_text()

    sign_in(page, web, "member")
    assert page.url == web.url("/")
    assert "Xin chào đồng chí" in page.locator("h1").inner_text()
    home = page.locator("main").inner_text()
    assert bulletin["title"] in home
    assert "Sinh hoạt chi bộ thường kỳ tháng 12" in home and "Nhà văn hóa khối 1" in home
    assert weighed.take() <= PAGE_BUDGET
    fits_width(page)
    screenshot(page, f"home-{tag}")

    # The bulletin opens as a readable page; its read receipt is recorded.
    page.get_by_role("link", name=bulletin["title"]).click()
    assert "học tập chuyên đề" in page.locator("article").inner_text()
    assert weighed.take() <= PAGE_BUDGET
    fits_width(page)
    screenshot(page, f"bulletin-{tag}")
    read = web.api("GET", f"/bulletins/{bulletin['id']}/read-stats", "admin")
    assert read["unit"]["read"] == 1, read
    page.get_by_role("link", name="Thông báo", exact=True).click()
    page.get_by_role("link", name="Tất cả").click()
    assert bulletin["title"] in page.locator("main").inner_text()
    fits_width(page)
    screenshot(page, f"inbox-{tag}")

    # Signing out revokes the login at identity and forgets the cookie.
    cookie = next(c for c in context.cookies() if c["name"] == "sotay_session")
    tokens = web.session_cookie(cookie["value"])
    assert tokens and tokens["r"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Đăng xuất").click()
    assert page.url.startswith(web.url("/login"))
    assert "Đồng chí đã đăng xuất" in page.locator("main").inner_text()
    refreshed = requests.post(web.url("/api/v1/auth/refresh"), json={"refresh_token": tokens["r"]}, timeout=10)
    assert refreshed.status_code == 401, refreshed.text
    page.goto(web.url("/"))
    assert page.url.startswith(web.url("/login"))
    context.close()


@every_case
def test_the_guide_opens_from_the_login_page(web: WebSystem, browser: Any, size: str, js: bool) -> None:
    """Someone who cannot sign in yet reads how to, from the sign-in page's footer."""
    context, page, tag = new_page(browser, size, js)
    page.goto(web.url("/login"))
    page.get_by_role("link", name="Hướng dẫn", exact=True).click()
    assert page.locator("h1").inner_text() == "Hướng dẫn sử dụng Sổ tay Đảng viên"
    first = page.locator("#first").locator("xpath=..").inner_text()
    assert "Kích hoạt tài khoản" in first and "ít nhất 8 ký tự" in first
    page.get_by_role("link", name="Dành cho bí thư chi bộ").click()
    assert "Nhập lại cuộc họp đã diễn ra?" in page.locator("#secretary").locator("xpath=..").inner_text()
    fits_width(page)
    screenshot(page, f"guide-{tag}")
    context.close()
