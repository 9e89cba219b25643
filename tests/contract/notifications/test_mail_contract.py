"""One contract for every e-mail sender: .eml files in the data directory (embedded) and SMTP
(the real SMTP server of scripts/backing-services, which keeps each message it receives).

What the delivery worker relies on (services/notifications/delivery/email.py): a message arrives
once with its headers, the Vietnamese subject, sender name and body intact and the headers 7-bit
(RFC 2047); a recipient that is not an address is a PermanentFailure and nothing is sent; a
sender that cannot deliver now raises an error the worker retries (not PermanentFailure).
"""

from __future__ import annotations

import email
import email.policy
import smtplib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from services.notifications.delivery.email import Mailer, PermanentFailure, message
from tests.conftest import need_backing

SUBJECT = "Thông báo: Nghị quyết số 05-NQ/TU về xây dựng Đảng — học tập tháng 12"
TEXT = "Kính gửi đồng chí,\nChi bộ sinh hoạt thường kỳ lúc 19 giờ, thứ Năm.\nTrân trọng."
HTML = "<p>Chi bộ sinh hoạt <b>thường kỳ</b> lúc 19 giờ.</p>"


@dataclass
class Outbox:
    kind: str
    folder: Path

    def received(self, address: str) -> list[EmailMessage]:
        """The messages addressed to `address`, in arrival order, as bytes-parsed messages."""
        found = []
        for path in sorted(self.folder.glob("*.eml")):
            raw = path.read_bytes()
            if address.encode() in raw:
                found.append(email.message_from_bytes(raw, policy=email.policy.default))
        return found  # type: ignore[return-value]


@pytest.fixture(params=["file", "smtp"])
def outbox(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Outbox]:
    monkeypatch.setenv("SOTAY_DATA_DIR", str(tmp_path / "data"))
    if request.param == "file":
        monkeypatch.delenv("SMTP_HOST", raising=False)
        yield Outbox("file", tmp_path / "data" / "mail-outbox")
        return
    monkeypatch.setenv("SMTP_HOST", need_backing("SMTP_HOST"))
    monkeypatch.setenv("SMTP_PORT", need_backing("SMTP_PORT"))
    yield Outbox("smtp", Path(need_backing("SMTP_SINK_DIR")))


def address() -> str:
    return f"dang-vien-{uuid.uuid4().hex[:12]}@example.test"


def header_lines(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]


def test_a_message_arrives_once_with_its_headers_and_vietnamese_text(outbox: Outbox) -> None:
    to = address()
    sent = message(to, SUBJECT, TEXT, HTML)
    with Mailer() as mailer:
        mailer.send(sent)
    [got] = outbox.received(to)
    assert got["To"] == to
    assert got["Subject"] == SUBJECT
    assert got["From"].addresses[0].display_name == "Sổ tay Đảng viên"
    assert got["Message-ID"] == sent["Message-ID"] and got["Date"] == sent["Date"]
    assert got.get_body(("plain",)).get_content().splitlines() == TEXT.splitlines()  # type: ignore[union-attr]
    assert HTML in got.get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_headers_travel_7_bit_encoded(outbox: Outbox) -> None:
    to = address()
    with Mailer() as mailer:
        mailer.send(message(to, SUBJECT, TEXT))
    [path] = [p for p in outbox.folder.glob("*.eml") if to.encode() in p.read_bytes()]
    head = header_lines(path.read_bytes())
    head.decode("ascii")  # no raw UTF-8 in a header: every reader decodes it
    assert b"=?utf-8?" in head.lower()


def test_a_batch_on_one_sender_delivers_every_message(outbox: Outbox) -> None:
    first, second = address(), address()
    with Mailer() as mailer:
        mailer.send(message(first, "Thư 1", "Một"))
        mailer.send(message(second, "Thư 2", "Hai"))
        mailer.send(message(first, "Thư 3", "Ba"))
    assert [m["Subject"] for m in outbox.received(first)] == ["Thư 1", "Thư 3"]
    assert [m["Subject"] for m in outbox.received(second)] == ["Thư 2"]


@pytest.mark.parametrize("bad", ["a@@b.test", "@example.test", "khong co a cong", ""])
def test_a_recipient_that_is_not_an_address_is_a_permanent_failure(outbox: Outbox, bad: str) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    with Mailer() as mailer, pytest.raises(PermanentFailure):
        mailer.send(message(bad, SUBJECT, marker))
    assert outbox.received(marker) == []


def test_a_sender_that_cannot_deliver_now_raises_a_retryable_error(
    outbox: Outbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if outbox.kind == "file":
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "data" / "mail-outbox").write_bytes(b"a file where the folder should be")
    else:
        monkeypatch.setenv("SMTP_PORT", "9")  # nobody listens there
    with Mailer() as mailer, pytest.raises((OSError, smtplib.SMTPException)) as failed:
        mailer.send(message(address(), SUBJECT, TEXT))
    assert not isinstance(failed.value, PermanentFailure)
