"""What a page costs and whom it leaves out, measured in Chromium: bytes transferred on a cold
visit, and axe-core's accessibility violations (axe-core from npm, pinned in tools/web-audit/package.json,
installed by scripts/setup into tools/web-audit/node_modules and injected by Playwright).

Used by the cheap budget test (tests/e2e/test_web_budgets.py) and by bench/web_pages.py."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.browser import need_file

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools" / "web-audit"
AXE = TOOLS / "node_modules" / "axe-core" / "axe.min.js"
IMPACTS = ("critical", "serious", "moderate", "minor")
# WCAG 2.1 A and AA, and axe's best practices (landmarks, headings, skip links ...).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def need_axe() -> None:
    need_file(AXE, "axe-core is not installed (scripts/setup runs npm ci in tools/web-audit)")


def audit_context(browser: Any, size: tuple[int, int], cookies: list[dict[str, Any]] | None = None) -> Any:
    """A fresh context (empty cache) that lets axe's script in despite the pages' CSP."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, bypass_csp=True)
    if cookies:
        context.add_cookies(cookies)
    return context


def visit(context: Any, url: str) -> tuple[Any, int]:
    """Opens url in a new page of the context: (the page, bytes transferred, headers included, by
    everything the visit loaded, the service worker's own requests too)."""
    total = 0

    def finished(request: Any) -> None:
        nonlocal total
        sizes = request.sizes()
        total += sizes["responseBodySize"] + sizes["responseHeadersSize"]

    context.on("requestfinished", finished)
    page = context.new_page()
    try:
        page.goto(url, wait_until="load")
        page.wait_for_load_state("networkidle")
    finally:
        context.remove_listener("requestfinished", finished)
    return page, total


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations of the page: rule id, impact, how many elements, an example."""
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """tags => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(r => r.violations.map(v => ({
            id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help,
            example: v.nodes.length ? v.nodes[0].target.join(' ') : ''})))""",
        AXE_TAGS,
    )
    return found


def by_impact(violations: list[dict[str, Any]]) -> dict[str, int]:
    """Elements in violation, by impact (every impact present, 0 when none)."""
    counted: Counter[str] = Counter()
    for v in violations:
        counted[v["impact"] or "minor"] += v["nodes"]
    return {impact: counted[impact] for impact in IMPACTS}


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The serious and critical violations: the ones that must be 0."""
    return [v for v in violations if v["impact"] in ("serious", "critical")]
