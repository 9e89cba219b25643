"""An in-process sliding-window rate limiter (used for login attempts per client IP).

It only slows down one client hammering one gateway process: each worker of each replica counts
on its own. The real, shared protection against password guessing is identity's per-account
failure counting and lockout (services/identity/accounts.py), which every replica goes through.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindowLimiter:
    """At most `limit` events per `window` seconds for each key."""

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> int:
        """Record one event for `key`: 0 when allowed, else the seconds to wait before retrying.

        A refused event is not recorded, so a client that waits as told gets through.
        """
        if self.limit <= 0:
            return 0
        now = self.clock()
        with self._lock:
            events = self._events.get(key)
            if events is None:
                events = self._events[key] = deque()
                while len(self._events) > self.max_keys:  # bound memory: forget the stalest key
                    self._events.popitem(last=False)
            else:
                self._events.move_to_end(key)
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return max(1, math.ceil(events[0] + self.window - now))
            events.append(now)
            return 0
