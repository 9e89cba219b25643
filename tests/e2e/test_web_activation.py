"""A member created by import signs in the first time with a one-time code from the secretary,
then changes the password: in Chromium, on a phone without JavaScript and on a desktop with it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import WebSystem, fits_width, new_page, screenshot, sign_in_as

CASES = [("phone", False), ("desktop", True)]


def fill_passwords(page: Any, new: str, current: str = "") -> None:
    if current:
        page.get_by_label("Mật khẩu hiện tại").fill(current)
    page.get_by_label("Mật khẩu mới", exact=True).fill(new)
    page.get_by_label("Nhập lại mật khẩu mới").fill(new)


@pytest.mark.parametrize(("size", "js"), CASES, ids=["phone-nojs", "desktop-js"])
def test_first_sign_in_with_an_activation_code_then_change_password(
    web: WebSystem, browser: Any, size: str, js: bool
) -> None:
    codes = web.api("POST", f"/units/{web.made['cell']}/activation-codes", "secretary", json={})["codes"]
    assert codes, "the demo cell has members without a password"
    # Each case takes a member nobody activated before (activated members drop out of the list).
    chosen = codes[0]
    context, page, tag = new_page(browser, size, js)
    page.goto(web.url("/login"))
    page.get_by_role("link", name="Kích hoạt tài khoản").click()
    page.get_by_label("Số điện thoại hoặc số thẻ đảng viên").fill(chosen["login"])
    page.get_by_label("Mã kích hoạt").fill("WXYZ-2345")
    fill_passwords(page, "mat-khau-dau-tien")
    page.get_by_role("button", name="Kích hoạt và đăng nhập").click()
    assert "Mã kích hoạt không đúng" in page.locator("[role=alert]").inner_text()
    fits_width(page)
    screenshot(page, f"activate-error-{tag}")

    page.get_by_label("Mã kích hoạt").fill(chosen["code"].lower())
    fill_passwords(page, "mat-khau-dau-tien")
    page.get_by_role("button", name="Kích hoạt và đăng nhập").click()
    assert page.url == web.url("/")
    assert chosen["full_name"] in page.locator("h1").inner_text()

    # Change the password: the current one is required; afterwards every login ends.
    page.get_by_role("link", name="Tài khoản").click()
    fill_passwords(page, "mat-khau-thu-hai", current="khong-dung-mat-khau")
    page.get_by_role("button", name="Đổi mật khẩu").click()
    assert "Mật khẩu hiện tại không đúng" in page.locator("[role=alert]").inner_text()
    fits_width(page)
    screenshot(page, f"password-{tag}")
    fill_passwords(page, "mat-khau-thu-hai", current="mat-khau-dau-tien")
    page.get_by_role("button", name="Đổi mật khẩu").click()
    assert page.url.startswith(web.url("/login"))
    assert "Mật khẩu đã được đổi" in page.locator("main").inner_text()
    sign_in_as(page, chosen["login"], "mat-khau-thu-hai")
    assert page.url == web.url("/")
    context.close()
