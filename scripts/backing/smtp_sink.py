"""A local SMTP sink for tests: every message received is saved as a .eml file.

Run by scripts/backing-services (needs aiosmtpd):
    python smtp_sink.py --host 127.0.0.1 --port 52525 --dir .backing/smtp

Each file is the message as sent, preceded by two headers that record the
envelope: X-Envelope-From and X-Envelope-To (comma-separated; Bcc recipients
show up only here). Files are named <nanoseconds>-<random>.eml, so sorting
names sorts by arrival, and appear atomically (written aside, then renamed).
AUTH is optional and any credentials are accepted, over plain TCP.
"""

import argparse
import asyncio
import os
import signal
import time
import uuid
from pathlib import Path

from aiosmtpd.smtp import SMTP, AuthResult


class SaveToFolder:
    """aiosmtpd handler that writes each message to a folder."""

    def __init__(self, folder: Path):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):
        body = envelope.original_content or envelope.content
        if isinstance(body, str):
            body = body.encode("utf-8")
        head = (
            f"X-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.folder / f".{name}.part"
        tmp.write_bytes(head + body)
        os.replace(tmp, self.folder / name)
        return "250 Message accepted for delivery"


def accept_any_login(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=True)


async def serve(host: str, port: int, folder: Path) -> None:
    loop = asyncio.get_running_loop()
    handler = SaveToFolder(folder)
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            enable_SMTPUTF8=True,
            authenticator=accept_any_login,
            auth_require_tls=False,
        ),
        host,
        port,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"smtp sink listening on {host}:{port}, saving to {folder}", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()
    print("smtp sink stopped", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=52525)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, args.dir.resolve()))


if __name__ == "__main__":
    main()
