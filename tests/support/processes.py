"""Run `sotay` as a user would: real processes on free loopback ports with their own data dir."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import requests

from services.cli import SERVICES

SOTAY = str(Path(sys.executable).with_name("sotay"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class System:
    base_url: str
    env: dict[str, str]
    process: subprocess.Popen[str]
    log: Path

    def url(self, path: str) -> str:
        return self.base_url + path

    def api(self, method: str, path: str, auth: dict[str, str], **kwargs: Any) -> Any:
        """A call to /api/v1 that must succeed: its JSON (None when empty)."""
        reply = requests.request(method, self.url("/api/v1" + path), headers=auth, timeout=60, **kwargs)
        reply.raise_for_status()
        return reply.json() if reply.content else None

    def sotay(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SOTAY, *args], env=self.env, capture_output=True, text=True, check=False)


def system_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ, SOTAY_DATA_DIR=str(data_dir), METRICS_PORT="0", LOG_FORMAT="json",
               GATEWAY_BIND=f"127.0.0.1:{free_port()}", GATEWAY_WORKERS="2")
    for name in SERVICES:
        env[f"{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    for key in ("DATABASE_URL", "ELASTICSEARCH_URL", "S3_ENDPOINT", "SMTP_HOST"):
        env.pop(key, None)
    return env


@contextmanager
def running_system(
    data_dir: Path, timeout: float = 90, extra_env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[System]:
    """`sotay up [args]` in the background until it answers /healthz; stopped with SIGTERM afterwards."""
    env = {**system_env(data_dir), **(extra_env or {})}
    log = data_dir / "sotay-up.log"
    out = log.open("w")
    process = subprocess.Popen([SOTAY, "up", *args], env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    system = System("http://" + env["GATEWAY_BIND"], env, process, log)
    try:
        deadline = time.monotonic() + timeout
        while "is running" not in log.read_text(encoding="utf-8"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"sotay up did not start:\n{log.read_text(encoding='utf-8')[-5000:]}")
            time.sleep(0.3)
        yield system
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        out.close()


def login(system: System, username: str, password: str) -> dict[str, str]:
    reply = requests.post(system.url("/api/v1/auth/login"), json={"username": username, "password": password},
                          timeout=10)
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def stops_cleanly(system: System) -> None:
    """SIGTERM to `sotay up` ends it with 0 and leaves none of its processes behind."""
    children = psutil.Process(system.process.pid).children(recursive=True)
    assert len(children) >= len(SERVICES) + 1
    system.process.send_signal(signal.SIGTERM)
    assert system.process.wait(timeout=30) == 0
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left running: {alive}"
