"""Document uploads through the gateway (gunicorn) as real processes: the file is relayed to the
documents service while it arrives (gateway/multipart.py), in any order of the parts, and a body
that is cut short, malformed or has a field after a complete request leaves no document."""

from __future__ import annotations

import hashlib
import socket
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from tests.integration.test_member_journey import demo_accounts
from tests.support.processes import System, login, running_system

pytestmark = pytest.mark.integration

BOUNDARY = "sotay-test-boundary-7f3a"


def part(name: str, value: bytes | str, filename: str = "", content_type: str = "") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    data = value.encode() if isinstance(value, str) else value
    return head.encode() + b"\r\n" + data + b"\r\n"


def body(*parts: bytes, close: bool = True) -> bytes:
    return b"".join(parts) + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


def post(system: System, auth: dict[str, str], data: bytes) -> requests.Response:
    headers = {**auth, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return requests.post(system.url("/api/v1/documents"), headers=headers, data=data, timeout=60)


def count(system: System, auth: dict[str, str]) -> int:
    reply = requests.get(system.url("/api/v1/documents"), headers=auth, timeout=10)
    assert reply.status_code == 200, reply.text
    return int(reply.json()["total"])


def test_uploads_in_every_order_and_broken_bodies(tmp_path: Path) -> None:
    with running_system(tmp_path) as system:
        admin = login(system, *demo_accounts(tmp_path)["admin"])
        province = requests.get(system.url("/api/v1/me"), headers=admin, timeout=10).json()["unit_id"]
        fields = [part("title", "Nghị quyết về chuyển đổi số"), part("number", "9-NQ/TU"),
                  part("category", "hoc-tap-nghi-quyet"), part("audience_unit_id", province)]
        big = ("Nghị quyết về chuyển đổi số trong công tác Đảng. " * 40000).encode()  # ≈2 MB, many reads
        before = count(system, admin)

        # The fields first (browsers' FormData, curl -F, requests): relayed while it arrives.
        first = post(system, admin, body(*fields, part("file", big, "nghi-quyet.txt", "text/plain")))
        assert first.status_code == 201, first.text
        assert first.json()["version"]["sha256"] == hashlib.sha256(big).hexdigest()
        assert first.json()["title"] == "Nghị quyết về chuyển đổi số"
        # Downloaded back through the gateway (a signed link to the local file store, relayed in chunks).
        link = requests.get(system.url(f"/api/v1/documents/{first.json()['id']}/download"), headers=admin,
                            allow_redirects=False, timeout=10)
        assert link.status_code == 302, link.text
        fetched = requests.get(urllib.parse.urljoin(system.url("/"), link.headers["Location"]), timeout=30)
        assert fetched.status_code == 200 and fetched.content == big

        # The file first: spooled until the fields after it are read.
        file_first = post(system, admin, body(part("file", b"Thong bao so 10", "tb.txt", "text/plain"),
                                              *[p.replace(b"9-NQ/TU", b"10-TB/TU") for p in fields]))
        assert file_first.status_code == 201, file_first.text
        assert file_first.json()["number"] == "10-TB/TU"
        assert count(system, admin) == before + 2

        # A field after the file, when the request was complete without it: refused, nothing stored.
        late = post(system, admin, body(*[p.replace(b"9-NQ/TU", b"11-NQ/TU") for p in fields],
                                        part("file", big, "nq.txt", "text/plain"), part("status", "published")))
        assert late.status_code == 400, late.text
        assert late.json()["error"]["details"] == {"field": "status", "problem": "after_file"}
        # A body cut short (no closing boundary) and one with no boundary at all.
        cut = post(system, admin, body(*fields, part("file", big, "nq.txt", "text/plain"), close=False))
        assert (cut.status_code, cut.json()["error"]["reason"]) == (400, "malformed_multipart")
        headers = {**admin, "Content-Type": "multipart/form-data"}
        nob = requests.post(system.url("/api/v1/documents"), headers=headers, data=b"x", timeout=10)
        assert (nob.status_code, nob.json()["error"]["reason"]) == (400, "malformed_multipart")
        two = post(system, admin, body(*fields, part("file", b"a", "a.txt", "text/plain"),
                                       part("file", b"b", "b.txt", "text/plain")))
        assert two.status_code == 400 and two.json()["error"]["details"]["field"] == "file"
        no_file = post(system, admin, body(*fields))
        assert no_file.status_code == 400 and no_file.json()["error"]["details"]["field"] == "file"
        assert count(system, admin) == before + 2

        # A client that goes away mid-file: no document, and the gateway still answers.
        address = urllib.parse.urlsplit(system.url("/")).netloc
        host, port = address.rsplit(":", 1)
        partial = body(*[p.replace(b"9-NQ/TU", b"12-NQ/TU") for p in fields],
                       part("file", big, "nq.txt", "text/plain"))
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            head = (f"POST /api/v1/documents HTTP/1.1\r\nHost: {address}\r\n"
                    f"Authorization: {admin['Authorization']}\r\n"
                    f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                    f"Content-Length: {len(partial) + 100}\r\n\r\n")
            sock.sendall(head.encode() + partial[: len(partial) // 2])
        # The gateway notices the cut and cancels its call; to the documents service that may look
        # like an ended stream, which only the missing end message tells apart. Give it the time
        # it would need to store the half file.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert count(system, admin) == before + 2
            time.sleep(0.25)

        # A member import through the same gateway (read whole, relayed with its last chunk marked).
        csv = "so_the_dang_vien,ho_ten,ma_don_vi\nCUT000778,Nguyễn Văn Nhập,\n".encode()
        imported = requests.post(system.url(f"/api/v1/units/{province}/members/import"), headers=admin,
                                 files={"file": ("dang-vien.csv", csv, "text/csv")}, data={"dry_run": "true"},
                                 timeout=30)
        assert imported.status_code == 200 and imported.json()["rows"] == 1, imported.text
        # Each broken body was answered, none crashed into the log (gRPC used to log the reader's
        # error as "Exception iterating requests!" with a traceback).
        log = system.log.read_text(encoding="utf-8")
        assert "Traceback" not in log and "Exception iterating requests" not in log, log[-3000:]
