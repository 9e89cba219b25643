"""The bulletins visible to the members of a unit chain, kept in memory per process.

Every member of a cell has the same ancestry (the `anc` claim of their token), so the same
visible bulletins; and the province's bulletins are the same for all 240k members. So the list is
kept per unit (ready protobuf items, without read state) and merged once per ancestry, instead
of joining bulletin_audience and bulletins for every inbox page.

A kept list is exact, not merely recent:
  - every transaction that creates, edits or withdraws a bulletin bumps the one-row counter
    `bulletin_changes` (bulletins.changed), in whichever process or replica it runs, and each
    inbox read reads that counter first: a list built at an older version is rebuilt;
  - a list only holds what was visible when it was built, and is valid until the first scheduled
    publish_at or expires_at among its unit's bulletins passes.
Read state is per member and always read from the database, so a member's own reads show at once.
Memory is bounded: past MAX_LISTS units or chains, that map is emptied and refills on demand.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.notifications.convert import bulletin_item
from sotay.notifications.v1 import notifications_pb2 as pb

MAX_LISTS = 20_000

# Bulletins addressed to some units, withdrawn ones left out; scheduled ones are read too, to
# know until when a list stays valid.
LOAD = sa.text(
    "SELECT a.unit_id, b.id, b.kind, b.title, SUBSTR(b.body_text, 1, 200) AS summary, b.publish_at, "
    "b.expires_at, b.pinned, b.publisher_unit_id, b.attachments, b.updated_at "
    "FROM bulletin_audience a JOIN bulletins b ON b.id = a.bulletin_id "
    "WHERE a.unit_id IN :units AND b.withdrawn_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > :now)"
).bindparams(sa.bindparam("units", expanding=True))
VERSION_SQL = "SELECT version FROM bulletin_changes WHERE id = 1"
VERSION = sa.text(VERSION_SQL)


Key = tuple[int, float, str]


def sort_key(pinned: bool, at: float, item_id: str) -> Key:
    """The inbox order: pinned first, then newest first, then by id."""
    return (0 if pinned else 1, -at, item_id)


@dataclass(frozen=True)
class Entry:
    key: Key
    id: str
    item: pb.InboxItem  # read_at unset; copied into each reply, never changed
    updated_at: float


@dataclass(frozen=True)
class Visible:
    version: int  # bulletin_changes.version this list reflects (or a later one)
    valid_until: float  # epoch seconds: the next scheduled publish or expiry among its bulletins
    entries: tuple[Entry, ...]  # inbox order, each bulletin once

    def fresh(self, version: int, now: float) -> bool:
        return self.version >= version and now < self.valid_until

    @property
    def changed_at(self) -> float:
        return max((e.updated_at for e in self.entries), default=0.0)

    @property
    def newest(self) -> float:
        return max((-e.key[1] for e in self.entries), default=0.0)


def current_version(conn: Connection) -> int:
    return int(conn.execute(VERSION).scalar() or 0)


class VisibleBulletins:
    def __init__(self, max_lists: int = MAX_LISTS) -> None:
        self._units: dict[str, Visible] = {}
        self._chains: dict[tuple[str, ...], Visible] = {}
        self._max = max_lists
        self._lock = threading.Lock()

    def peek(self, chain: Sequence[str]) -> Visible | None:
        """The list kept for `chain`, current or not (to guess which bulletins a page will show)."""
        return self._chains.get(tuple(chain))

    def for_chain(self, conn: Connection, chain: Sequence[str], version: int, now: float) -> Visible:
        """Bulletins visible now to a member whose unit and ancestors are `chain`; `version` is
        current_version() read in this transaction before."""
        key = tuple(chain)
        found = self._chains.get(key)
        if found is not None and found.fresh(version, now):
            return found
        lists = [self._units.get(u) for u in key]
        missing = [u for u, got in zip(key, lists, strict=True) if got is None or not got.fresh(version, now)]
        if missing:
            loaded = self._load(conn, missing, version, now)
            lists = [loaded.get(u) or got for u, got in zip(key, lists, strict=True)]
        merged: dict[str, Entry] = {}
        for got in lists:
            assert got is not None
            for e in got.entries:
                merged[e.id] = e  # addressed to two units of the chain: shown once
        result = Visible(
            min(got.version for got in lists if got is not None),
            min((got.valid_until for got in lists if got is not None), default=math.inf),
            tuple(sorted(merged.values(), key=lambda e: e.key)),
        )
        self._store(self._chains, key, result)
        return result

    def _load(self, conn: Connection, units: Iterable[str], version: int, now: float) -> dict[str, Visible]:
        wanted = list(units)
        per_unit: dict[str, list[Entry]] = {u: [] for u in wanted}
        valid_until = {u: math.inf for u in wanted}
        for row in conn.execute(LOAD, {"units": wanted, "now": now}):
            if row.expires_at is not None:
                valid_until[row.unit_id] = min(valid_until[row.unit_id], row.expires_at)
            if row.publish_at > now:  # scheduled: visible from publish_at
                valid_until[row.unit_id] = min(valid_until[row.unit_id], row.publish_at)
                continue
            item = bulletin_item(row, row.publish_at, row.attachments)
            per_unit[row.unit_id].append(
                Entry(sort_key(bool(row.pinned), row.publish_at, row.id), row.id, item, row.updated_at)
            )
        loaded = {}
        for u in wanted:
            loaded[u] = Visible(version, valid_until[u], tuple(sorted(per_unit[u], key=lambda e: e.key)))
            self._store(self._units, u, loaded[u])
        return loaded

    def _store(self, into: dict[Any, Visible], key: Any, value: Visible) -> None:
        with self._lock:
            if len(into) >= self._max and key not in into:
                into.clear()
            kept = into.get(key)
            if kept is None or kept.version <= value.version:
                into[key] = value
