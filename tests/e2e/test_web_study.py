"""Who has studied a resolution, in Chromium through `sotay up`: a member records "Tôi đã học tập";
the cell's secretary sees the cell's count, the member among those who have (with the day) and
the others among those who have not (paged); the commune's committee sees its units cell by cell
and opens the cell; a plain member is offered nothing and refused the page. Then the pages at
320 px and 1280 px, JavaScript on and off."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.test_web_committee import committee, committee_page
from tests.support.browser import WebSystem, every_case, fits_width, member_page, new_page, screenshot, sign_in
from tests.support.documents import docx_bytes

__all__ = ["committee"]  # the committee member of the member's commune (a fixture)
TITLE = "Nghị quyết về học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh"
SEE = "Xem ai đã học tập văn bản này"


def published(web: WebSystem, number: str, title: str) -> dict[str, Any]:
    """A resolution the province publishes to the whole province, once it is published."""
    made = web.api("POST", "/documents", "admin", data={
        "title": title, "number": number, "category": "hoc-tap-nghi-quyet", "issued_on": "2026-11-20",
        "issuing_body": "Ban Thường vụ Tỉnh ủy", "audience_unit_id": web.made["province"], "status": "published",
    }, files={"file": (f"nghi-quyet-{number[:2]}.docx", docx_bytes([title, "Mỗi đảng viên học tập và làm theo."]))})
    deadline = time.monotonic() + 60
    while web.api("GET", f"/documents/{made['id']}", "admin")["status"] != "published":
        assert time.monotonic() < deadline, "the document was never published"
        time.sleep(0.5)
    return dict(made)


@pytest.fixture(scope="module")
def resolution(web: WebSystem) -> dict[str, Any]:
    made = published(web, "12-NQ/TU", TITLE)
    names = {who: web.api("GET", "/me", who)["member"]["full_name"] for who in ("member", "secretary")}
    return {**made, "names": names}


def secretary_page(browser: Any, web: WebSystem, size: str, js: bool) -> tuple[Any, Any, str]:
    context, page, tag = new_page(browser, size, js)
    page.goto(web.url("/login"))
    sign_in(page, web, "secretary")
    return context, page, tag


def cell_figures(web: WebSystem, document_id: str) -> tuple[int, int]:
    reply = web.api("GET", f"/documents/{document_id}/study", "secretary", params={"unit_id": web.made["cell"]})
    return reply["total_studied"], reply["total_members"]


def test_the_cell_and_the_committee_see_who_has_studied(
    web: WebSystem, browser: Any, resolution: dict[str, Any], committee: dict[str, Any]
) -> None:
    doc_id, names = resolution["id"], resolution["names"]

    # The member records it; the page offers the member nothing more, and refuses the status page.
    context, page, _tag = member_page(browser, web, "desktop", True)
    page.goto(web.url(f"/documents/{doc_id}"))
    assert page.get_by_role("link", name=SEE).count() == 0
    page.get_by_role("button", name="Tôi đã học tập").click()
    assert "Đã ghi nhận" in page.locator("[role=status]").inner_text()
    assert page.get_by_role("link", name=SEE).count() == 0
    reply = page.goto(web.url(f"/documents/{doc_id}/studied"))
    assert reply is not None and reply.status == 403
    assert "Chỉ chi ủy của chi bộ" in page.locator("main").inner_text()
    context.close()
    studied, members = cell_figures(web, doc_id)
    assert (studied, members) == (1, 25)

    # The secretary: the cell's count, who has not (paged), who has with the day.
    context, page, _tag = secretary_page(browser, web, "desktop", True)
    page.goto(web.url(f"/documents/{doc_id}"))
    screenshot(page, "study-document-secretary")
    page.get_by_role("link", name=SEE).click()
    # The demo secretary may hold roles on cells other tests made: open the demo cell itself.
    page.goto(web.url(f"/documents/{doc_id}/studied?unit={web.made['cell']}"))
    assert page.locator(".big").inner_text() == "1/25 đảng viên đã học tập"
    assert page.get_by_role("link", name="Chưa học tập (24)").get_attribute("aria-current") == "page"
    not_yet = page.locator("#study-names li").all_inner_texts()
    assert len(not_yet) == 20 and names["member"] not in not_yet
    page.get_by_role("link", name="Xem thêm", exact=True).click()
    rest = page.locator("#study-names li").all_inner_texts()
    assert len(rest) == 4 and not set(rest) & set(not_yet)
    assert names["secretary"] in not_yet + rest and names["member"] not in rest
    page.get_by_role("link", name="Đã học tập (1)").click()
    done = page.locator("#study-names li").inner_text()
    assert names["member"] in done and "học tập ngày " in done
    screenshot(page, "study-cell-studied")
    page.get_by_role("link", name="Quay lại văn bản").click()
    assert page.locator("h1").inner_text() == TITLE
    context.close()

    # The commune's committee: its units cell by cell, then the member's cell.
    context, page, _tag = committee_page(browser, web, "desktop", True)
    page.goto(web.url(f"/committee/documents/{doc_id}?unit={committee['commune']['id']}"))
    screenshot(page, "study-committee-document")
    page.get_by_role("link", name=SEE).click()
    cell_name = web.api("GET", f"/units/{web.made['cell']}", "admin")["name"]
    rows = {r.locator("td").first.inner_text(): r.locator("td").all_inner_texts()[1:]
            for r in page.locator("#study-units tbody tr").all()}
    assert rows[cell_name] == ["1", "25"] and rows[committee["commune"]["name"]] == ["0", "1"]
    # The other cells (the demo's, and those other tests add to the commune): nobody has studied it.
    assert len(rows) >= 4 and all(r[0] == "0" for name, r in rows.items()
                                  if name not in (cell_name, committee["commune"]["name"]))
    total = page.locator(".big").inner_text()
    assert total == f"1/{sum(int(r[1]) for r in rows.values())} đảng viên đã học tập"
    screenshot(page, "study-committee")
    page.get_by_role("link", name=cell_name).click()
    assert page.locator(".big").inner_text() == "1/25 đảng viên đã học tập"
    page.get_by_role("link", name="Đã học tập (1)").click()
    assert names["member"] in page.locator("#study-names").inner_text()
    page.get_by_role("link", name=f"Quay lại tình hình học tập của {committee['commune']['name']}").click()
    assert page.locator("#study-units").count() == 1
    page.get_by_role("link", name="Quay lại văn bản").click()
    assert page.url.startswith(web.url(f"/committee/documents/{doc_id}"))
    context.close()


@every_case
def test_the_study_pages_fit(
    web: WebSystem, browser: Any, resolution: dict[str, Any], committee: dict[str, Any], size: str, js: bool
) -> None:
    doc_id, commune = resolution["id"], committee["commune"]["id"]
    for who, opened in ((secretary_page, ["", "?show=done"]), (committee_page, [f"?unit={commune}"])):
        context, page, tag = who(browser, web, size, js)
        for query in opened:
            reply = page.goto(web.url(f"/documents/{doc_id}/studied{query}"))
            assert reply is not None and reply.status == 200, query
            assert page.locator("h1").count() == 1 and "đảng viên đã học tập" in page.locator(".big").inner_text()
            fits_width(page)
            screenshot(page, f"study-{who.__name__.split('_')[0]}{'-done' if 'done' in query else ''}-{tag}")
        context.close()
