"""Worker loops report each round; a loop that stops completing rounds fails the process's health.

A loop (`LOOPS.loop(service, name, interval)`) calls `done()` after every round: `ok=False` for
a round that met a failure it retries (a database or a source down). A round counts either way:
liveness asks "is the loop turning", and a restart would not bring a database back. A loop
without a round for `stall_after` seconds — WORKER_STALL_INTERVALS × its interval, at least
WORKER_STALL_MIN_SECONDS, or more for loops whose one round is long (OCR) — is stalled: hung in
a call, deadlocked, or its thread died. Then `/healthz` of the process's metrics port answers 503
and Kubernetes' liveness probe restarts the pod. `sotay_worker_last_success_timestamp_seconds`
tells the successful rounds apart (the alerts use it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import Metric

from services.core.config import env_float
from services.core.metrics import LOOP_LAST_SUCCESS, LOOP_ROUNDS, LOOP_STALL_AFTER, gauge, register_collector

log = logging.getLogger("sotay.liveness")


def stall_after(interval: float, minimum: float = 0.0) -> float:
    return max(env_float("WORKER_STALL_INTERVALS", 5.0) * interval,
               env_float("WORKER_STALL_MIN_SECONDS", 120.0), minimum)


class Loop:
    def __init__(self, service: str, name: str, stall: float, clock: Any = time.monotonic) -> None:
        self.service, self.name, self.stall_after, self.clock = service, name, stall, clock
        self.last_round = clock()  # a new loop has stall_after seconds for its first round
        self.rounds = 0
        LOOP_STALL_AFTER.labels(service, name).set(stall)

    def done(self, ok: bool = True) -> None:
        self.last_round = self.clock()
        self.rounds += 1
        LOOP_ROUNDS.labels(self.service, self.name, "ok" if ok else "error").inc()
        if ok:
            LOOP_LAST_SUCCESS.labels(self.service, self.name).set(time.time())

    def since_round(self) -> float:
        return float(self.clock() - self.last_round)

    def stalled(self) -> bool:
        return self.since_round() > self.stall_after


class Loops:
    """The loops of this process."""

    def __init__(self) -> None:
        self._loops: dict[tuple[str, str], Loop] = {}
        self._lock = threading.Lock()
        self._reported: set[tuple[str, str]] = set()

    def loop(self, service: str, name: str, interval: float, minimum: float = 0.0,
             clock: Any = time.monotonic) -> Loop:
        """A loop named `name` that turns about every `interval` seconds when idle."""
        found = Loop(service, name, stall_after(interval, minimum), clock)
        with self._lock:
            if not self._loops:
                register_collector("worker loops", self.measure)
            self._loops[(service, name)] = found
        return found

    def remove(self, loop: Loop) -> None:
        with self._lock:
            if self._loops.get((loop.service, loop.name)) is loop:
                del self._loops[(loop.service, loop.name)]

    def check(self) -> tuple[bool, dict[str, Any]]:
        """(every loop turns, what each loop did); a loop seen stalled is logged once."""
        with self._lock:
            loops = list(self._loops.values())
        detail: dict[str, Any] = {}
        healthy = True
        for loop in loops:
            key = (loop.service, loop.name)
            stalled = loop.stalled()
            detail[loop.name] = {"seconds_since_round": round(loop.since_round(), 3),
                                 "stall_after": loop.stall_after, "rounds": loop.rounds, "stalled": stalled}
            if stalled:
                healthy = False
                if key not in self._reported:
                    log.error("worker loop stalled: no round for %.0f s (limit %.0f s)", loop.since_round(),
                              loop.stall_after, extra={"fields": {"loop": loop.name}})
                    self._reported.add(key)
            else:
                self._reported.discard(key)
        return healthy, {"loops": detail}

    def measure(self) -> Iterator[Metric]:
        with self._lock:
            loops = list(self._loops.values())
        yield gauge("sotay_worker_loop_up", "1 while the loop completes rounds in time, 0 when stalled",
                    ["service", "loop"], (([lp.service, lp.name], 0.0 if lp.stalled() else 1.0) for lp in loops))
        yield gauge("sotay_worker_seconds_since_round", "Seconds since the loop last completed a round",
                    ["service", "loop"], (([lp.service, lp.name], lp.since_round()) for lp in loops))


LOOPS = Loops()
