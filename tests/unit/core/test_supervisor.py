"""The supervisor `sotay up` runs its processes with, on real child processes: a crash is
restarted after a doubling delay and logged, a crash loop is reported, stop() ends everything."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from services.supervisor import Backoff, Supervisor


def poll_until(supervisor: Supervisor, done: object, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        supervisor.poll()
        time.sleep(0.02)


def test_delays_double_up_to_the_cap() -> None:
    backoff = Backoff(base=1, max_delay=30)
    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_crashing_process_is_restarted_with_growing_delays_then_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sotay.supervisor")
    supervisor = Supervisor(Backoff(base=0.1, max_delay=0.4, crash_loop=4))
    child = supervisor.add("crasher", [sys.executable, "-c", "import sys; sys.exit(3)"], dict(os.environ))
    poll_until(supervisor, lambda: len(child.exit_codes) >= 5)
    supervisor.stop()
    assert child.exit_codes[:5] == [3] * 5
    exits = [r for r in caplog.records if r.getMessage() in ("process exited; restarting", "process keeps crashing")]
    fields = [r.fields for r in exits]  # type: ignore[attr-defined]
    assert [f["restart_in_seconds"] for f in fields[:5]] == [0.1, 0.2, 0.4, 0.4, 0.4]
    assert all(f["process"] == "crasher" and f["exit_code"] == 3 for f in fields)
    assert [r.getMessage() for r in exits[:5]] == ["process exited; restarting"] * 3 + ["process keeps crashing"] * 2
    assert exits[3].levelno == logging.ERROR
    assert supervisor.crash_looping() == ["crasher"]
    assert child.restarts >= 4


def test_a_killed_process_comes_back_and_stop_ends_every_child() -> None:
    supervisor = Supervisor(Backoff(base=0.1))
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    a = supervisor.add("a", sleeper, dict(os.environ))
    b = supervisor.add("b", sleeper, dict(os.environ))
    first_pid = a.pid
    psutil.Process(first_pid).kill()
    poll_until(supervisor, lambda: a.pid != first_pid and a.running)
    assert a.exit_codes == [-9] and b.running and b.exit_codes == []
    pids = [a.pid, b.pid]
    supervisor.stop(timeout=5)
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    supervisor.poll()  # stopping: nothing is restarted
    assert not a.running and not b.running


def test_children_end_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "up.py"
    script.write_text(
        "import os, sys, time\n"
        "from services.supervisor import Supervisor\n"
        "s = Supervisor()\n"
        "c = s.add('sleeper', [sys.executable, '-c', 'import time; time.sleep(60)'], dict(os.environ))\n"
        "print(c.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    up = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=Path.cwd())
    assert up.stdout is not None
    child = psutil.Process(int(up.stdout.readline()))
    up.kill()
    up.wait()
    child.wait(timeout=10)  # ended by the kernel's SIGTERM, not left behind
