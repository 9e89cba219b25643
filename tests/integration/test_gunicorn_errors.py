"""Requests that gunicorn itself refuses, or that break while the app reads them, against the real
gunicorn with the gateway's configuration: each answer is the gateway's JSON error shape with a
reason, never gunicorn's HTML page or a 500, and nothing logs a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.processes import free_port

pytestmark = pytest.mark.integration

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """The gateway under gunicorn (one worker); the backends' ports are closed, which none of
    these requests reaches."""
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gateway.log"
    env = dict(os.environ, GATEWAY_BIND=f"127.0.0.1:{port}", GATEWAY_WORKERS="1", LOG_FORMAT="json")
    for name in ("IDENTITY", "DOCUMENTS", "MEETINGS", "NOTIFICATIONS"):
        env[f"{name}_ADDR"] = f"127.0.0.1:{free_port()}"
    with log.open("w") as out:
        proc = subprocess.Popen([GUNICORN, "-c", "python:gateway.gunicorn_conf", "gateway.app:create_app()"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still loading the app
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield port, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def raw(port: int, data: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Send bytes as they are; the status, headers and JSON body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers.get("content-type", "").startswith("application/json"), received[:500]
    length = int(headers["content-length"])
    return status, headers, json.loads(body[:length])


LOGIN = b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
CHUNKED = LOGIN + b"Transfer-Encoding: chunked\r\n\r\n"
CASES = {
    "garbage request line": (b"GARBAGE\r\n\r\n", 400, "bad_request_line"),
    "bad HTTP version": (b"GET / HTTP/9.x\r\nHost: x\r\n\r\n", 400, "bad_request_line"),
    "URI too long": (b"GET /api/v1/units?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    "header too large": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431,
                         "headers_too_large"),
    "too many headers": (b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(120)) + b"\r\n",
                         431, "headers_too_large"),
    "bad header name": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400, "bad_header"),
    "invalid chunk size": (CHUNKED + b"zz\r\n{}\r\n0\r\n\r\n", 400, "malformed_body"),
    "chunk without terminator": (CHUNKED + b"2\r\n{}XX0\r\n\r\n", 400, "malformed_body"),
    # What arrived of a body cut short is parsed.
    "body cut short": (LOGIN + b"Content-Length: 100\r\n\r\n{\"username\"", 400, "malformed_json"),
    "JSON 1000 deep": (LOGIN + b"Content-Length: 2000\r\n\r\n" + b"[" * 1000 + b"]" * 1000, 400, "malformed_json"),
    "invalid UTF-8": (LOGIN + b'Content-Length: 33\r\n\r\n{"username":"\xff\xfe","password":"x"}', 400,
                      "malformed_json"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_errors_are_json_with_a_reason(gateway: tuple[int, Path], name: str) -> None:
    port, _ = gateway
    data, code, reason = CASES[name]
    status, headers, body = raw(port, data)
    assert (status, body["error"]["code"], body["error"]["reason"]) == (code, code, reason), body
    assert body["error"]["message"] and body["error"]["request_id"] == headers["x-request-id"]
    assert body["error"]["status"] in ("INVALID_ARGUMENT", "UNIMPLEMENTED", "PERMISSION_DENIED")


def test_no_traceback_and_the_worker_still_answers(gateway: tuple[int, Path]) -> None:
    port, log = gateway
    for data, _, _ in CASES.values():
        raw(port, data)
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    text = log.read_text(encoding="utf-8")
    assert "Traceback" not in text and '"level": "error"' not in text, text[-3000:]
