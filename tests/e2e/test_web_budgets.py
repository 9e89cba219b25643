"""Budgets that must not regress, on a cold visit in Chromium at a phone's size: the first page
≤ 50 KB transferred, the others ≤ 150 KB, and no serious or critical axe-core violation.
(bench/web_pages.py measures more pages, with Lighthouse too.)"""

from __future__ import annotations

from typing import Any

from tests.e2e.test_web_study import published, secretary_page
from tests.support.audit import audit_context, axe_violations, blocking, need_axe, visit
from tests.support.browser import FIRST_PAGE_BUDGET, PAGE_BUDGET, SIZES, WebSystem, member_page


def test_page_weights_and_no_serious_accessibility_violation(web: WebSystem, browser: Any) -> None:
    need_axe()
    bulletin = web.api("POST", "/bulletins", "admin", json={
        "publisher_unit_id": web.made["province"], "kind": "bulletin",
        "title": "Thông báo số 30-TB/TU về ngân sách trang",
        "body_html": "<p>Trang nhẹ để điện thoại cũ mở được.</p>"})
    signed_in, _page, _tag = member_page(browser, web, "phone", True)
    cookies = signed_in.cookies()
    signed_in.close()
    resolution = published(web, "31-NQ/TU", "Nghị quyết số 31-NQ/TU về ngân sách trang")
    secretary, _page, _tag = secretary_page(browser, web, "phone", True)
    secretary_cookies = secretary.cookies()
    secretary.close()

    pages = [("login", "/login", None, FIRST_PAGE_BUDGET), ("home", "/", cookies, PAGE_BUDGET),
             ("bulletin", f"/bulletins/{bulletin['id']}", cookies, PAGE_BUDGET),
             ("study status", f"/documents/{resolution['id']}/studied", secretary_cookies, PAGE_BUDGET),
             ("help", "/help", None, PAGE_BUDGET)]
    for name, path, with_cookies, budget in pages:
        context = audit_context(browser, SIZES["phone"], with_cookies)
        page, weight = visit(context, web.url(path))
        assert page.url == web.url(path), f"{name}: ended at {page.url}"
        assert 1000 < weight <= budget, f"{name}: {weight} bytes (budget {budget})"
        found = blocking(axe_violations(page))
        assert found == [], f"{name}: {found}"
        if name == "login":  # the check itself sees what it must: an image without a text alternative
            page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"/x.png\">')")
            assert "image-alt" in [v["id"] for v in blocking(axe_violations(page))]
        context.close()
