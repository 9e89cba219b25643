"""Notification settings in Chromium: the form saves e-mail, Web Push and quiet hours (with or
without JavaScript); the "this device" push button shows only with JavaScript, and the
subscription route hands a device's subscription to the notifications service."""

from __future__ import annotations

from typing import Any

from tests.support.browser import WebSystem, every_case, fits_width, member_page, screenshot


@every_case
def test_notification_settings(web: WebSystem, browser: Any, size: str, js: bool) -> None:
    context, page, tag = member_page(browser, web, size, js)
    page.get_by_role("link", name="Tài khoản").click()
    page.get_by_role("link", name="Cài đặt thông báo").click()
    page.get_by_label("Qua thư điện tử").check()
    page.get_by_label("Địa chỉ thư điện tử").fill("dangvien@example.vn")
    page.get_by_label("Từ", exact=True).fill("22:00")
    page.get_by_label("Đến", exact=True).fill("06:30")
    page.get_by_role("button", name="Lưu").click()
    assert "Đã lưu" in page.locator("[role=status]").first.inner_text()
    prefs = web.api("GET", "/preferences/notifications", "member")
    assert prefs["email_enabled"] is True and prefs["email"] == "dangvien@example.vn"
    assert (prefs["quiet_start_minute"], prefs["quiet_end_minute"]) == (22 * 60, 6 * 60 + 30)
    assert page.get_by_role("button", name="Bật thông báo trên thiết bị này").is_visible() == js
    fits_width(page)
    screenshot(page, f"settings-{tag}")

    # A device's subscription, as the page's script sends it (the browser's push service is
    # not reachable here, so the subscription itself is made up).
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    endpoint = f"https://push.example.net/send/{tag}"
    sent = context.request.post(web.url("/push-subscriptions"), form={
        "csrf_token": csrf, "endpoint": endpoint,
        "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
        "auth": "tBHItJI5svbpez7KI4CCXg"})
    assert sent.status == 204, sent.text()
    subs = web.api("GET", "/push-subscriptions", "member")["items"]
    assert endpoint in {s["endpoint"] for s in subs}
    bad = context.request.post(web.url("/push-subscriptions"), form={"csrf_token": csrf, "endpoint": "http://x"})
    assert bad.status == 400
    context.close()
