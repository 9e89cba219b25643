"""Counted slots for long-lived calls (live streams): at most `total` at once, `per_key` per key.

The gateway (gateway.streams) and the notifications service (WatchInbox) each keep their streams
below their thread pools with one of these, so ordinary calls always find a thread.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable


class SlotsFull(Exception):
    def __init__(self, scope: str, limit: int) -> None:
        super().__init__(f"{scope} limit {limit} reached")
        self.scope = scope  # "total" or "key"
        self.limit = limit


class Slot:
    """One admitted call; `release()` may be called more than once."""

    def __init__(self, slots: Slots, key: str) -> None:
        self._slots, self._key = slots, key
        self._released = False

    def release(self) -> None:
        self._slots._release(self)

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Slots:
    def __init__(self, total: int, per_key: int, on_change: Callable[[int], None] | None = None) -> None:
        """`on_change(+1 | -1)` is told of each slot taken and given back (e.g. a gauge)."""
        self.total, self.per_key = total, per_key
        self._on_change = on_change
        self._lock = threading.Lock()
        self.open = 0
        self._per_key: Counter[str] = Counter()

    def acquire(self, key: str) -> Slot:
        """A slot for `key`, or SlotsFull (scope "total" before "key")."""
        with self._lock:
            if self.open >= self.total:
                raise SlotsFull("total", self.total)
            if self._per_key[key] >= self.per_key:
                raise SlotsFull("key", self.per_key)
            self.open += 1
            self._per_key[key] += 1
            if self._on_change:
                self._on_change(1)
        return Slot(self, key)

    def _release(self, slot: Slot) -> None:
        with self._lock:
            if slot._released:
                return
            slot._released = True
            self.open -= 1
            if self._on_change:
                self._on_change(-1)
            self._per_key[slot._key] -= 1
            if self._per_key[slot._key] <= 0:
                del self._per_key[slot._key]


def cap_below(name: str, threads: int, threads_name: str) -> int:
    """The integer variable `name` (default: half of `threads`), refused unless below `threads`."""
    from services.core.config import env_int

    cap = env_int(name, threads // 2)
    if not 0 <= cap < threads:
        raise SystemExit(f"{name} must be below {threads_name} ({threads}), got {cap}")
    return cap
