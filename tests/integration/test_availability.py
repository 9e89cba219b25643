"""One crash stops nothing else, streams cannot starve the gateway, secrets at rest are the
owner's alone: `sotay up` on a data directory made with loose modes, under light load.

The gateway runs 2 workers of 4 request threads, each admitting 2 live streams (1 per member).
"""

from __future__ import annotations

import base64
import json
import secrets
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
import requests

from services.cli import grpc_healthy
from tests.support.processes import (
    SERVICES,
    SOTAY,
    System,
    login,
    running_system,
    stops_cleanly,
    system_env,
)

pytestmark = pytest.mark.integration

GATEWAY = {
    "GATEWAY_WORKERS": "2",
    "GATEWAY_THREADS": "4",
    "GATEWAY_MAX_STREAMS": "2",
    "GATEWAY_MAX_STREAMS_PER_MEMBER": "1",
    "SOTAY_RESTART_BACKOFF": "0.5",
}
# One GET per service, answered for the demo province admin.
SERVICE_ROUTES = {
    "identity": "/api/v1/me",
    "documents": "/api/v1/documents?page_size=1",
    "meetings": "/api/v1/meetings/rubric",
    "notifications": "/api/v1/push-subscriptions/config",
    "reports": "/api/v1/reports/status",
}
SECRET_FILES = ("identity.db", "documents.db", "meetings.db", "notifications.db", "reports.db", "meetings-ballot.key",
                "demo-accounts.txt")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@dataclass
class Demo:
    system: System
    data: Path
    accounts: dict[str, str]  # login -> password
    members: list[str] = field(default_factory=list)  # logins of member accounts


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data = tmp_path_factory.mktemp("avail") / "data"
    data.mkdir(mode=0o755)
    env = system_env(data)
    made = subprocess.run([SOTAY, "migrate"], env=env, capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    # Files left with loose modes by an older version (or by hand): start-up fixes them.
    data.chmod(0o755)
    for db in data.glob("*.db"):
        db.chmod(0o644)
    (data / "meetings-ballot.key").write_bytes(base64.b64encode(secrets.token_bytes(32)))
    (data / "meetings-ballot.key").chmod(0o644)
    (data / "demo-accounts.txt").write_text("stale\n", encoding="utf-8")
    (data / "demo-accounts.txt").chmod(0o644)
    with running_system(data, extra_env=GATEWAY) as system:
        lines = (data / "demo-accounts.txt").read_text(encoding="utf-8").splitlines()
        accounts = dict(line.split()[:2] for line in lines)
        members = [name for name in accounts if name.startswith("0")]
        yield Demo(system, data, accounts, members)


def test_secret_files_are_the_owners_alone_and_loose_modes_are_fixed_and_logged(demo: Demo) -> None:
    assert mode(demo.data) == 0o700
    for name in SECRET_FILES:
        assert mode(demo.data / name) == 0o600, name
    for wal in demo.data.glob("*.db-*"):
        assert mode(wal) == 0o600, wal.name
    log = demo.system.log.read_text(encoding="utf-8")
    fixed = {json.loads(line)["path"] for line in log.splitlines() if '"mode restricted"' in line}
    assert {str(demo.data), *(str(demo.data / name) for name in SECRET_FILES[:5])} <= fixed


def test_create_admin_makes_an_owner_only_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    made = subprocess.run([SOTAY, "create-admin", "--username", "quan-tri", "--password", "mat-khau-manh-2026"],
                          env=system_env(data), capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    assert mode(data) == 0o700 and mode(data / "identity.db") == 0o600


def timed_get(url: str, **kwargs: object) -> tuple[float, requests.Response]:
    started = time.monotonic()
    reply = requests.get(url, timeout=5, **kwargs)  # type: ignore[arg-type]
    return time.monotonic() - started, reply


def test_streams_beyond_the_threads_are_refused_and_health_still_answers(demo: Demo) -> None:
    system = demo.system
    tokens = {name: login(system, name, demo.accounts[name]) for name in demo.members}
    admin = login(system, "admin", demo.accounts["admin"])
    opened, refused = [], []
    try:
        for i in range(10):  # more than a worker's 4 threads, more than both workers' 8
            headers = tokens[demo.members[i % len(demo.members)]]
            took, reply = timed_get(system.url("/api/v1/inbox/events?max_seconds=60"), headers=headers, stream=True)
            if reply.status_code == 200:
                opened.append(reply)
            else:
                refused.append((took, reply.status_code, reply.json()["error"]["reason"]))
        # Per worker 2 streams (1 per member), so at most 4 in all; the rest are refused at once.
        assert 1 <= len(opened) <= 4 and len(opened) + len(refused) == 10
        assert {(code, reason) for _, code, reason in refused} <= {(503, "streams_full"), (429, "too_many_streams")}
        assert max(took for took, _, _ in refused) < 1
        health = [timed_get(system.url("/healthz")) for _ in range(20)]
        assert all(reply.status_code == 200 for _, reply in health)
        print(f"\nhealthz with {len(opened)} streams open: max {max(t for t, _ in health) * 1000:.1f} ms")
        assert max(t for t, _ in health) < 1
        for route in SERVICE_ROUTES.values():
            assert requests.get(system.url(route), headers=admin, timeout=5).status_code == 200, route
    finally:
        for reply in opened:
            reply.close()



def test_health_answers_while_every_request_thread_is_held(demo: Demo) -> None:
    """Slow request bodies hold all 8 request threads; /healthz is answered on threads of its own."""
    system = demo.system
    host, port = urlsplit(system.base_url).hostname, urlsplit(system.base_url).port
    held = []
    try:
        for _ in range(24):  # spread over both workers by the kernel: each gets more than 4
            sock = socket.create_connection((host, port), timeout=5)
            sock.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n{")
            held.append(sock)
        time.sleep(1)
        with pytest.raises(requests.exceptions.ReadTimeout):  # the request threads are indeed all busy
            requests.get(system.url("/api/v1/openapi.json"), timeout=2)
        health = [timed_get(system.url(path)) for path in ("/healthz", "/readyz") * 5]
        print(f"\nhealthz/readyz with every request thread held: max {max(t for t, _ in health) * 1000:.1f} ms")
        assert all(reply.status_code == 200 for _, reply in health)
        assert max(t for t, _ in health) < 1
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while requests.get(system.url("/api/v1/openapi.json"), timeout=5).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)


class Load(threading.Thread):
    """Light load: each route in turn, a new connection each time; (time, route, status) recorded."""

    def __init__(self, system: System, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.system, self.headers = system, headers
        self.stopping = threading.Event()
        self.results: list[tuple[float, str, int | str]] = []

    def run(self) -> None:
        routes = ["/healthz", *SERVICE_ROUTES.values()]
        while not self.stopping.is_set():
            for route in routes:
                try:
                    reply = requests.get(self.system.url(route), headers=self.headers, timeout=5)
                    status: int | str = reply.status_code
                except requests.RequestException as exc:
                    status = type(exc).__name__
                self.results.append((time.monotonic(), route, status))
            time.sleep(0.05)

    def between(self, start: float, end: float, route: str) -> list[int | str]:
        return [status for t, r, status in self.results if start <= t <= end and r == route]


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def children(system: System, *words: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.Process(system.process.pid).children():
        try:
            cmdline = proc.cmdline()
        except psutil.Error:  # gone, or a zombie not yet reaped
            continue
        if all(word in cmdline for word in words):
            found.append(proc)
    return found


def wait_until(check: object, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - started < timeout, f"timed out: {what}"
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_killed_process_comes_back_while_the_others_keep_answering(demo: Demo) -> None:
    system = demo.system
    admin = login(system, "admin", demo.accounts["admin"])
    for route in SERVICE_ROUTES.values():  # steady state: each service has seen a token (and its key)
        assert requests.get(system.url(route), headers=admin, timeout=10).status_code == 200
    load = Load(system, admin)
    load.start()
    outages: dict[str, tuple[float, float]] = {}
    try:
        for service in SERVICES:
            (victim,) = children(system, f"services.{service}", "serve")
            target, route = system.env[f"{service.upper()}_ADDR"], SERVICE_ROUTES[service]
            killed = time.monotonic()
            victim.kill()
            victim.wait(timeout=5)
            for other in SERVICES:
                if other != service:
                    other_addr = system.env[f"{other.upper()}_ADDR"]
                    assert grpc_healthy(other_addr, timeout=5), f"{other} while {service} is down"

            def back(service: str = service, target: str = target, route: str = route) -> bool:
                return grpc_healthy(target, timeout=0.5) and requests.get(
                    system.url(route), headers=admin, timeout=5).status_code == 200

            wait_until(back, 30, f"{service} back")
            outages[service] = (killed, time.monotonic())
            time.sleep(3)  # the other gateway worker reconnects too (at most 2 s between attempts)
            assert children(system, f"services.{service}", "serve")[0].pid != victim.pid
        # A background worker (no health check): a new process replaces it.
        (relay,) = children(system, "services.notifications", "relay")
        relay.kill()
        relays = lambda: [p.pid for p in children(system, "services.notifications", "relay")]  # noqa: E731
        wait_until(lambda: relays() not in ([], [relay.pid]), 15, "relay back")
        # A gateway worker: gunicorn starts another; the other worker answers meanwhile.
        (master,) = children(system, "gateway.app:create_app()")
        workers = master.children()
        assert len(workers) == 2
        killed = time.monotonic()
        workers[0].kill()
        wait_until(lambda: len(master.children()) == 2 and workers[0].pid not in [p.pid for p in master.children()],
                   30, "gateway worker back")
        outages["gateway worker"] = (killed, time.monotonic())
        wait_until(lambda: len(load.between(killed + 1, time.monotonic(), "/healthz")) >= 5, 15, "load after")
        # The gunicorn master itself: `sotay up` starts a new one (its orphaned workers leave).
        started = time.monotonic()
        master.kill()
        wait_until(lambda: [p.pid for p in children(system, "gateway.app:create_app()")] not in ([], [master.pid])
                   and answers(system.url("/healthz")), 30, "gateway back")
        wait_until(lambda: not any(psutil.pid_exists(w.pid) for w in workers[1:]), 15, "orphaned workers gone")
        outages["gateway master"] = (started, time.monotonic())
    finally:
        load.stopping.set()
        load.join(timeout=10)
    print("\nback after SIGKILL: " + ", ".join(f"{name} {end - start:.1f} s" for name, (start, end) in outages.items()))
    for service in SERVICES:
        start, end = outages[service]
        for other, route in SERVICE_ROUTES.items():
            statuses = load.between(start, end, route)
            if other == service:  # unavailable, said so in JSON, until it is back
                assert set(statuses) <= {503, 200}, (service, statuses)
            else:
                assert statuses and set(statuses) == {200}, (service, other, statuses)
    # Logged: which process, its exit code, the next delay.
    restarts = [json.loads(line) for line in system.log.read_text(encoding="utf-8").splitlines()
                if '"process exited; restarting"' in line]
    logged = {(r["process"], r["exit_code"]) for r in restarts}
    assert {(s, -signal.SIGKILL) for s in SERVICES} | {("notifications-relay", -signal.SIGKILL)} <= logged
    assert all(r["restart_in_seconds"] == 0.5 for r in restarts)
    # The gateway kept answering: apart from the killed worker's own connections, every call is 200.
    start, _ = outages["gateway worker"]
    assert set(load.between(start + 1, outages["gateway master"][0], "/healthz")) == {200}
    stops_cleanly(system)
