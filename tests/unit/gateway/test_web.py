"""The web app's own behaviour, with no backend behind it: pages that need no RPC, the CSRF
check, the session cookie's sealing, HTML error pages beside the API's JSON ones, the catalogues."""

from __future__ import annotations

import collections
import io
import re
import stat
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask.testing import FlaskClient

from gateway.web import i18n, session
from gateway.web.base import STATIC_VERSION, safe_next
from gateway.web.session import Sealer

WEB = Path(i18n.__file__).parent
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}


@pytest.fixture(autouse=True)
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("SOTAY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GATEWAY_SECRET_KEY", raising=False)
    return tmp_path


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_login_page_is_vietnamese_html_with_a_csrf_field(client: FlaskClient, data_dir: Path) -> None:
    page = client.get("/login")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '<html lang="vi">' in html and "Đăng nhập" in html
    assert csrf_of(html)
    assert page.headers["Cache-Control"] == "no-store"
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    # The key was generated once into the data directory, readable by its owner only.
    key = data_dir / session.SECRET_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_cookie_is_secure_over_https(client: FlaskClient) -> None:
    page = client.get("/login", base_url="https://sotay.example")
    assert "Secure" in page.headers["Set-Cookie"]


def test_a_page_needing_sign_in_sends_the_browser_to_login(client: FlaskClient) -> None:
    reply = client.get("/inbox?show=all")
    assert reply.status_code == 303
    assert reply.headers["Location"] == "/login?next=/inbox?show%3Dall"


def test_post_without_the_csrf_token_is_refused_before_any_rpc(client: FlaskClient) -> None:
    client.get("/login")
    refused = client.post("/login", data={"username": "a", "password": "b"})
    assert refused.status_code == 400
    assert "Biểu mẫu đã hết hạn" in refused.get_data(as_text=True)
    forged = client.post("/login", data={"username": "a", "password": "b", "csrf_token": "x" * 32})
    assert forged.status_code == 400
    # Another site's form is refused even with a token.
    token = csrf_of(client.get("/login").get_data(as_text=True))
    cross = client.post("/login", data={"csrf_token": token}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403


def test_backend_down_is_a_vietnamese_page_not_a_stack_trace(client: FlaskClient) -> None:
    token = csrf_of(client.get("/login").get_data(as_text=True))
    reply = client.post("/login", data={"username": "a", "password": "b", "csrf_token": token})
    assert reply.status_code == 503
    assert "Hệ thống đang bận" in reply.get_data(as_text=True)


def test_errors_are_html_for_pages_and_json_for_the_api(client: FlaskClient) -> None:
    page = client.get("/khong-co-trang-nay")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "Không tìm thấy trang" in page.get_data(as_text=True)
    api = client.get("/api/v1/khong-co")
    assert api.status_code == 404 and api.get_json()["error"]["reason"] == "route_not_found"
    wrong = client.delete("/login")
    assert wrong.status_code == 405 and wrong.mimetype == "text/html"


def test_english_is_a_second_catalogue(client: FlaskClient) -> None:
    chosen = client.get("/language/en?next=/login")
    assert chosen.status_code == 303 and chosen.headers["Location"] == "/login"
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in html and "Sign in" in html and "Đăng nhập" not in html
    assert client.get("/language/xx?next=https://evil.example/").headers["Location"] == "/"


def test_static_files_are_cached_by_version(client: FlaskClient) -> None:
    css = client.get(f"/static/site.css?v={STATIC_VERSION}")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "max-age=31536000" in css.headers["Cache-Control"]
    assert "max-age=300" in client.get("/static/site.css?v=old").headers["Cache-Control"]
    # Old phone browsers ignore custom properties and flex gap: the stylesheet uses neither.
    text = css.get_data(as_text=True)
    assert "var(" not in text and not re.search(r"display:flex[^}]*;gap:", text)


@pytest.mark.parametrize(
    ("given", "kept"),
    [("/inbox", "/inbox"), ("/bulletins/x?y=1", "/bulletins/x?y=1"), ("//evil.example/", "/"),
     ("https://evil.example/", "/"), ("/\\evil.example", "/"), ("", "/"), (None, "/"), ("/api/v1/me", "/")],
)
def test_safe_next_stays_on_this_site(app: object, given: str | None, kept: str) -> None:
    with app.test_request_context():  # type: ignore[attr-defined]
        assert safe_next(given) == kept


def test_sealed_cookie_cannot_be_read_or_altered_without_the_key() -> None:
    sealer = Sealer(b"k" * 32)
    value = sealer.seal({"v": session.VERSION, "r": "refresh-token"})
    assert "refresh-token" not in value
    assert sealer.open(value) == {"v": session.VERSION, "r": "refresh-token"}
    flipped = value[:20] + ("A" if value[20] != "A" else "B") + value[21:]
    assert sealer.open(flipped) is None
    assert Sealer(b"o" * 32).open(value) is None
    assert sealer.open("not base64 !!") is None
    assert sealer.open(sealer.seal({"v": 0})) is None  # an older layout is dropped, not misread


def test_the_vietnamese_catalogue_translates_every_message_of_the_code() -> None:
    used = {m[2] if isinstance(m[2], str) else m[2][0]
            for m in extract_from_dir(str(WEB), method_map=[("**.py", "python"), ("templates/**.html", "jinja2")],
                                      options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
                                      keywords=KEYWORDS)}
    for locale in i18n.LOCALES:
        po = (i18n.TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").read_bytes()
        catalog = read_po(io.BytesIO(po), locale=locale)
        ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
        assert used - ids == set(), f"{locale}: not in the catalogue (run scripts/i18n)"
        assert ids - used == set(), f"{locale}: no longer used"
        untranslated = [m.id for m in catalog if m.id and not (m.string if isinstance(m.string, str) else m.string[0])]
        assert untranslated == [], locale
        assert not [m.id for m in catalog if m.id and m.fuzzy], locale
        # Templates %-format every text (Jinja's new-style gettext): a lone "%" would fail the page.
        for m in catalog:
            for text in ([m.string] if isinstance(m.string, str) else list(m.string)):
                if m.id and text:
                    assert isinstance(text % collections.defaultdict(int), str), m.id  # raises on a stray %


def test_manifest_service_worker_and_offline_page(client: FlaskClient) -> None:
    manifest = client.get("/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    body = manifest.get_json(force=True)
    assert body["name"] == "Sổ tay Đảng viên" and body["start_url"] == "/" and body["display"] == "standalone"
    for icon in body["icons"]:
        assert client.get(icon["src"]).status_code == 200, icon
    worker = client.get("/sw.js")
    assert worker.mimetype == "text/javascript" and worker.headers["Cache-Control"] == "no-cache"
    script = worker.get_data(as_text=True)
    assert "'/offline'" in script and STATIC_VERSION in script and "{{" not in script
    offline = client.get("/offline")
    assert offline.status_code == 200 and "Không có kết nối mạng" in offline.get_data(as_text=True)
    assert "Set-Cookie" not in offline.headers  # no session: the worker keeps it for anyone


def test_a_catalogue_never_compiled_is_compiled_from_its_po(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A clean install that skipped `pybabel compile` still speaks Vietnamese."""
    folder = tmp_path / "vi" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_bytes((i18n.TRANSLATIONS / "vi" / "LC_MESSAGES" / "messages.po").read_bytes())
    monkeypatch.setattr(i18n, "TRANSLATIONS", tmp_path)
    assert i18n.load("vi").ugettext("Sign in") == "Đăng nhập"
    assert not (folder / "messages.mo").exists()


def test_iso_dates_read_the_vietnamese_way() -> None:
    from gateway.web.base import day

    assert day("2026-12-01") == "01/12/2026"
    assert day("") == "" and day("2026-12") == "2026-12" and day("x026-12-01") == "x026-12-01"


def test_a_form_time_out_of_range_is_refused_not_a_500() -> None:
    from gateway.web.manage_meetings import parse_local

    assert parse_local("0001-01-01T00:00") is None  # before the first UTC day once moved from UTC+7
    assert parse_local("2026-13-01T19:30") is None and parse_local("") is None
    assert parse_local("2026-03-10T19:30").seconds == 1773145800
