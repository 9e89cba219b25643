"""A document's HTML text view in a real browser: Debian's Chromium, headless, at the size of a
small old phone (320×640) and of a desktop (1280×800).

The page comes through the gateway (GET /api/v1/documents/<id>/view, GetDocumentView) from the
whole system started as a user starts it (`sotay up`), for a document with what breaks narrow
layouts: a long web address, a long file name, an archive code and the dotted leader lines of
Vietnamese forms ("Nơi nhận: ......"), all in Vietnamese with diacritics.

Headless Chromium keeps its window at least 500 px wide under --dump-dom, so the page is laid
out in a same-origin iframe (srcdoc) of exactly the tested size, and a script of the wrapper
page measures it after load: the viewport, the right edge of every element, the scroll width,
the smallest text, and whether the document's text is there. (The view's own CSP header forbids
scripts, which is why the script lives in the wrapper; a CSP header does not change layout.)
Screenshots of both sizes are taken too (saved under $SOTAY_E2E_ARTIFACTS when set) and checked
for their size and for ink.

Runs where /usr/bin/chromium exists (Debian: apt-get install chromium fonts-dejavu-core); skipped
elsewhere, except in CI (CI=true), where a missing Chromium fails.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import IN_CI
from tests.support.documents import docx_bytes
from tests.support.processes import SOTAY, login, running_system, system_env

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
TEXT = "Nâng cao đạo đức cách mạng, chống biểu hiện suy thoái"
PARAGRAPHS = [
    "ĐẢNG BỘ TỈNH LẠNG SƠN",
    "ĐẢNG CỘNG SẢN VIỆT NAM",
    "Số: 15-NQ/TU                                    Lạng Sơn, ngày 05 tháng 3 năm 2025",
    "NGHỊ QUYẾT",
    "về tăng cường công tác xây dựng, chỉnh đốn Đảng và hệ thống chính trị; đẩy mạnh chuyển đổi số",
    f"{TEXT} về tư tưởng chính trị, đạo đức, lối sống trong cán bộ, đảng viên. Thực hiện nghiêm Quy định "
    "số 144-QĐ/TW và Kết luận số 21-KL/TW.",
    "Địa chỉ tra cứu: https://vanban.langson.dangcongsan.vn/nghi-quyet/2025/"
    "15-NQ-TU-ve-tang-cuong-cong-tac-xay-dung-chinh-don-dang.pdf",
    "Nơi nhận: " + "." * 120,
    "Ký hiệu lưu trữ: TU-VP-2025-000015-NQ-XAYDUNGCHINHDONDANG-HETHONGCHINHTRI-CHUYENDOISO",
    "T/M BAN THƯỜNG VỤ — BÍ THƯ",
]
FILENAME = "nghiquyetso15NQTUvetangcuongcongtacxaydungchinhdondangvahethongchinhtri2025.docx"

MEASURE = """
var frame = document.getElementById('view');
function measure() {
  var doc = frame.contentDocument, root = doc.documentElement, width = root.clientWidth;
  var widest = 0, smallest = 1000, over = [];
  var all = doc.body.getElementsByTagName('*');
  for (var i = 0; i < all.length; i++) {
    var box = all[i].getBoundingClientRect();
    widest = Math.max(widest, box.right);
    if (box.right > width + 0.5) over.push(all[i].tagName + ': ' + all[i].textContent.slice(0, 40));
    if (all[i].textContent.trim()) smallest = Math.min(smallest, parseFloat(getComputedStyle(all[i]).fontSize));
  }
  document.documentElement.setAttribute('data-result', JSON.stringify({
    viewport: width, scroll_width: Math.max(root.scrollWidth, doc.body.scrollWidth), widest: widest,
    min_font_px: smallest, overflowing: over, has_text: doc.body.innerText.indexOf(%s) >= 0
  }));
}
frame.addEventListener('load', measure);  // srcdoc loads after this script has run
"""


def chromium(*args: str) -> str:
    with tempfile.TemporaryDirectory(prefix="sotay-chromium-") as profile:
        done = subprocess.run(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def view_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The text view of an uploaded document, as the gateway serves it."""
    if not CHROMIUM.exists():
        reason = "Chromium is not installed (apt-get install chromium fonts-dejavu-core)"
        if IN_CI:
            pytest.fail(f"CI needs {reason}")
        pytest.skip(reason)
    data = tmp_path_factory.mktemp("system")
    made = subprocess.run(
        [SOTAY, "create-admin", "--username", "bi-thu-tinh", "--password", "mat-khau-manh-2026"],
        env=system_env(data),
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    with running_system(data) as system:
        auth = login(system, "bi-thu-tinh", "mat-khau-manh-2026")
        root = requests.get(system.url("/api/v1/me"), headers=auth, timeout=10).json()["unit_id"]
        uploaded = requests.post(
            system.url("/api/v1/documents"),
            headers=auth,
            timeout=60,
            data={
                "title": "Nghị quyết về tăng cường công tác xây dựng, chỉnh đốn Đảng và hệ thống chính trị",
                "number": "15-NQ/TU",
                "category": "hoc-tap-nghi-quyet",
                "issued_on": "2025-03-05",
                "issuing_body": "Ban Thường vụ Tỉnh ủy Lạng Sơn",
                "signer": "Nguyễn Quốc Đoàn",
                "summary": "Xây dựng, chỉnh đốn Đảng; đạo đức cách mạng; chuyển đổi số trong hệ thống chính trị.",
                "audience_unit_id": root,
                "status": "published",
            },
            files={"file": (FILENAME, docx_bytes(PARAGRAPHS))},
        )
        assert uploaded.status_code == 201, uploaded.text
        view = requests.get(system.url(f"/api/v1/documents/{uploaded.json()['id']}/view"), headers=auth, timeout=10)
    assert view.status_code == 200 and view.headers["Content-Type"].startswith("text/html")
    assert "script-src" not in view.headers["Content-Security-Policy"] and "<script" not in view.text
    yield view.text


def artifacts(tmp_path: Path) -> Path:
    target = Path(os.environ.get("SOTAY_E2E_ARTIFACTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.mark.parametrize(("width", "height"), [(320, 640), (1280, 800)])
def test_the_text_view_fits_the_screen_and_reads_well(view_page: str, width: int, height: int, tmp_path: Path) -> None:
    wrapper = tmp_path / "measure.html"
    wrapper.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><style>html,body{margin:0}iframe{border:0;'
        f'display:block}}</style></head><body><iframe id="view" width="{width}" height="{height}" '
        f'srcdoc="{html.escape(view_page, quote=True)}"></iframe><script>{MEASURE % json.dumps(TEXT)}'
        "</script></body></html>",
        encoding="utf-8",
    )
    dom = chromium(f"--window-size={width + 40},{height + 40}", "--virtual-time-budget=5000", "--dump-dom",
                   wrapper.as_uri())
    found = re.search(r'data-result="([^"]*)"', dom)
    assert found, dom[:2000]
    result = json.loads(html.unescape(found.group(1)))
    assert result["viewport"] == width
    assert result["has_text"], "the document's text is not on the page"
    assert result["scroll_width"] <= width, result  # no sideways scrolling
    assert result["widest"] <= width + 0.5 and not result["overflowing"], result
    assert result["min_font_px"] >= 14, result  # readable on a small screen too

    page = tmp_path / "view.html"
    page.write_text(view_page, encoding="utf-8")
    shot = artifacts(tmp_path) / f"document-view-{width}x{height}.png"
    chromium(f"--window-size={width},{height}", f"--screenshot={shot}", page.as_uri())
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (width, height)
        dark = sum(image.convert("L").histogram()[:128])  # pixels darker than mid-grey
    assert dark > width * height // 200, "the screenshot is (nearly) blank"


def test_fonts_with_vietnamese_letters_are_installed() -> None:
    """The page names fonts with Vietnamese letters; the machine that renders it must have one."""
    if not CHROMIUM.exists() or shutil.which("fc-list") is None:
        if IN_CI:
            pytest.fail("CI needs Chromium and fontconfig (apt-get install chromium fonts-dejavu-core)")
        pytest.skip("Chromium or fontconfig is not installed")
    families = subprocess.run(["fc-list", ":lang=vi", "family"], capture_output=True, text=True, check=True).stdout
    assert families.strip(), "no font covers Vietnamese: apt-get install fonts-dejavu-core"
