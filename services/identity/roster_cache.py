"""Pages of a unit's own roster, kept in memory while the roster stays the same.

A cell's roster is read far more often than it changes (members open it at every meeting). A
page is kept under the unit's `roster_version`, which triggers in the database move on with every
change to a roster column of a member of the unit or to who has an account (migration 4). Why a
kept page is never older than the database:
  - the version is read in the same statement as the caller's permission (access.require), before
    the page, so a page computed after it is at least as new as the version it is kept under;
  - the triggers run inside the writer's transaction, whoever the writer is (another replica, an
    import, SQL by hand), so no change can commit without moving the version on.
Permission is checked on every call, before the cache is looked at. Subtree pages (many units)
and name searches are not kept. Each process keeps its own pages, up to a number of roster
entries in all (least recently used go first). Versions start again from where a restored backup
left them: restart the service after restoring its database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from prometheus_client import Counter

from services.core.config import env_int

M = TypeVar("M")

LOOKUPS = Counter("identity_roster_cache_total", "Roster page lookups in the cache, by result", ["result"])
_HIT, _MISS = LOOKUPS.labels("hit"), LOOKUPS.labels("miss")


class RosterCache:
    def __init__(self, entries: int | None = None) -> None:
        self.entries = env_int("IDENTITY_ROSTER_CACHE_ENTRIES", 50_000) if entries is None else entries
        self._kept: OrderedDict[Hashable, tuple[int, Any, int]] = OrderedDict()  # version, page, size
        self._held = 0
        self._lock = threading.Lock()

    def page(self, key: Hashable, version: int, compute: Callable[[], tuple[M, int]]) -> M:
        """The page kept under `key` at `version`, or the one `compute()` returns with its number of
        entries, kept from now on. A kept page is shared by every caller: it must not be changed."""
        if self.entries <= 0:
            return compute()[0]
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] == version:
                self._kept.move_to_end(key)
            else:
                kept = None
        if kept is not None:
            _HIT.inc()
            page: M = kept[1]
            return page
        _MISS.inc()
        page, size = compute()
        size += 1  # the page itself
        if size > self.entries:
            return page
        with self._lock:
            kept = self._kept.pop(key, None)
            if kept is not None and kept[0] > version:  # a slower caller never puts back an older page
                self._kept[key] = kept
                return page
            self._held += size - (kept[2] if kept else 0)
            self._kept[key] = (version, page, size)
            while self._held > self.entries:
                self._held -= self._kept.popitem(last=False)[1][2]
        return page
