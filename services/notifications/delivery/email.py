"""E-mail: SMTP when SMTP_HOST is set (one connection reused for a batch), else each message is
written as a .eml file to <data dir>/mail-outbox (the embedded default).

Both senders keep one contract (tests/contract/notifications/test_mail_contract.py): a recipient
that is not a user@domain address, or one the server refuses, raises PermanentFailure before
anything is sent; a sender that cannot deliver now (SMTP down, outbox not writable) raises
OSError or smtplib.SMTPException, which the delivery worker retries."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from services.core.config import data_dir, env, env_int


class PermanentFailure(Exception):
    """The message can never be delivered (e.g. the address is refused)."""


def message(to: str, subject: str, text: str, html: str = "") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = env("SMTP_FROM", "Sổ tay Đảng viên <no-reply@sotay.local>")
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="sotay.local")
    msg.set_content(text or subject)
    if html:
        msg.add_alternative(f"<!doctype html><html><body>{html}</body></html>", subtype="html")
    return msg


class Mailer:
    """Sends messages; use as a context manager around a batch."""

    def __init__(self) -> None:
        self.host = env("SMTP_HOST")
        self.port = env_int("SMTP_PORT", 25)
        self.user = env("SMTP_USER")
        self.password = env("SMTP_PASSWORD")
        self.starttls = env("SMTP_STARTTLS", "false").lower() == "true"
        self.timeout = float(env("SMTP_TIMEOUT", "10"))
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *_: object) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._smtp = None

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password)
            self._smtp = smtp
        return self._smtp

    def send(self, msg: EmailMessage) -> None:
        recipients = _recipients(msg)
        if not self.host:
            folder = data_dir() / "mail-outbox"
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
            (Path(folder) / name).write_bytes(bytes(msg))
            return
        try:
            self._connect().send_message(msg, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure(f"recipient refused: {exc.recipients}") from exc
        except (smtplib.SMTPException, OSError):
            self.__exit__()  # a broken connection is reopened on the next message
            raise


def _recipients(msg: EmailMessage) -> list[str]:
    header: Any = msg["To"]  # an AddressHeader (EmailMessage's default policy) or None
    addresses = header.addresses if header is not None else ()
    if not addresses or header.defects or not all(a.username and a.domain for a in addresses):
        raise PermanentFailure(f"not an e-mail address: {str(header or '')[:200]!r}")
    return [a.addr_spec for a in addresses]
