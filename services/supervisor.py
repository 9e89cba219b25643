"""Keep a set of child processes running: what `sotay up` runs its services and gateway with.

A child that exits while the supervisor is not stopping is started again after a delay that
doubles with each crash in a row (`base`, 2×, 4× … up to `max_delay`); a child that stayed up
for `stable_after` seconds starts again from `base`. Every restart is logged with the process,
its exit code and the delay; from `crash_loop` crashes in a row on, the child is reported as
crash-looping (an error, once per crash) and still retried at the longest delay.

Children run in their own process group, so a Ctrl-C in the terminal reaches only the
supervisor, which then stops them all (SIGTERM, then SIGKILL after `timeout`); if the
supervisor itself is killed, each child gets SIGTERM from the kernel (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

log = logging.getLogger("sotay.supervisor")
PR_SET_PDEATHSIG = 1


# Run before the child's own program (Linux): SIGTERM when the supervisor dies, even by SIGKILL, so no
# process is left holding its port. prctl survives exec; a supervisor already gone by then ends it
# at once. A small exec wrapper rather than Popen's preexec_fn, which forks a process that may hold
# other threads (gRPC's) and could abort the child (a sleeping test child died of SIGABRT once in a full test run).
_END_WITH_PARENT = (
    f"import ctypes, os, signal, sys; ctypes.CDLL(None).prctl({PR_SET_PDEATHSIG}, signal.SIGTERM); "
    "os.getppid() == int(sys.argv[1]) or sys.exit(143); os.execvp(sys.argv[2], sys.argv[2:])"
)


def _ending_with_parent(argv: Sequence[str]) -> list[str]:
    if sys.platform != "linux":
        return list(argv)
    return [sys.executable, "-c", _END_WITH_PARENT, str(os.getpid()), *argv]


@dataclass(frozen=True)
class Backoff:
    base: float = 1.0
    max_delay: float = 30.0
    stable_after: float = 60.0
    crash_loop: int = 5

    def delay(self, crashes: int) -> float:
        """Delay before the restart that follows `crashes` crashes in a row (1, 2, …)."""
        return float(min(self.max_delay, self.base * 2 ** max(0, crashes - 1)))


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    crashes: int = 0  # in a row, reset once the child has stayed up for Backoff.stable_after
    restarts: int = 0
    restart_at: float | None = None  # set while waiting to restart
    exit_codes: list[int] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None


class Supervisor:
    def __init__(self, backoff: Backoff | None = None) -> None:
        self.backoff = backoff or Backoff()
        self.children: dict[str, Child] = {}
        self.stopping = False

    def add(self, name: str, argv: Sequence[str], env: dict[str, str]) -> Child:
        child = self.children[name] = Child(name, list(argv), env)
        self._spawn(child)
        return child

    def _spawn(self, child: Child) -> None:
        # Own process group: a terminal's Ctrl-C goes to the supervisor only (see stop()).
        child.popen = subprocess.Popen(_ending_with_parent(child.argv), env=child.env, process_group=0)
        child.started_at = time.monotonic()
        child.restart_at = None

    def poll(self) -> None:
        """Notice exited children and restart those whose delay has passed; call it often."""
        if self.stopping:
            return
        now = time.monotonic()
        for child in self.children.values():
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self._spawn(child)
                    log.info("process restarted", extra={"fields": {
                        "process": child.name, "pid": child.pid, "restarts": child.restarts}})
                continue
            if child.popen is None or child.popen.poll() is None:
                continue
            code = child.popen.returncode
            child.exit_codes.append(code)
            if now - child.started_at >= self.backoff.stable_after:
                child.crashes = 0
            child.crashes += 1
            delay = self.backoff.delay(child.crashes)
            child.restart_at = now + delay
            fields = {"process": child.name, "exit_code": code, "crashes_in_a_row": child.crashes,
                      "restart_in_seconds": delay}
            if child.crashes >= self.backoff.crash_loop:
                log.error("process keeps crashing", extra={"fields": fields})
            else:
                log.warning("process exited; restarting", extra={"fields": fields})

    def crash_looping(self) -> list[str]:
        return sorted(c.name for c in self.children.values() if c.crashes >= self.backoff.crash_loop)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every running child, wait up to `timeout` in all, SIGKILL what is left."""
        self.stopping = True
        running = [c.popen for c in self.children.values() if c.popen is not None and c.popen.poll() is None]
        for popen in running:
            popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for popen in running:
            try:
                popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("process did not stop in time; killing it", extra={"fields": {"pid": popen.pid}})
                popen.kill()
                popen.wait()
