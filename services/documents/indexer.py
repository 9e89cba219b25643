"""The search indexer: reads the service's own outbox and brings the index up to date.

Every event about a document (published, new version, internal refresh: `events.INDEXED`)
means "this document's entry must match the database now": the indexer loads the current row
and upserts it (published) or deletes it (draft, withdrawn), with the row's change counter as
the index version. So replays after a crash cannot duplicate or roll back anything, and the
cursor moves only after the index accepted the whole batch: when the search backend is down,
nothing is lost, the indexer waits and carries on where it stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

from services.core.db import Database
from services.core.events import subscribe
from services.core.liveness import LOOPS
from services.core.metrics import CONSUMER_CURSOR, CONSUMER_LAG
from services.core.outbox import read_events
from services.documents import store
from services.documents.events import INDEXED
from services.documents.search import SearchIndex, SearchUnavailable

log = logging.getLogger("sotay.documents.indexer")
CURSOR = "search-indexer"
LOAD_SLICE = 100  # documents loaded (with their whole texts) and sent together
TOPICS = subscribe("documents search indexer", *INDEXED)


class Indexer:
    def __init__(self, db: Database, index: SearchIndex, batch: int = 500) -> None:
        self.db = db
        self.index = index
        self.batch = batch
        self._ensured = False

    def cursor(self) -> int:
        with self.db.read() as conn:
            seq = conn.execute(sa.text("SELECT seq FROM event_cursors WHERE source = :s"), {"s": CURSOR}).scalar()
        return int(seq or 0)

    def _save(self, seq: int) -> None:
        with self.db.write() as conn:
            updated = conn.execute(
                sa.text("UPDATE event_cursors SET seq = :q WHERE source = :s AND seq < :q"),
                {"s": CURSOR, "q": seq},
            ).rowcount
            if (
                not updated
                and conn.execute(sa.text("SELECT 1 FROM event_cursors WHERE source = :s"), {"s": CURSOR}).first()
                is None
            ):
                conn.execute(
                    sa.text("INSERT INTO event_cursors (source, seq) VALUES (:s, :q)"),
                    {"s": CURSOR, "q": seq},
                )

    def poll_once(self) -> int:
        """Index one batch of events; returns how many events it covered (0 when idle)."""
        if not self._ensured:
            self.index.ensure()
            self._ensured = True
        after = self.cursor()
        with self.db.read() as conn:
            events, last = read_events(conn, after, self.batch, TOPICS)
            head = int(conn.execute(sa.text("SELECT COALESCE(MAX(seq), 0) FROM outbox")).scalar_one())
        self._measured(after, head)
        if last == after:
            return 0
        ids = list(dict.fromkeys(e.key for e in events))
        for start in range(0, len(ids), LOAD_SLICE):  # a slice's texts in memory at a time
            with self.db.read() as conn:
                upserts, deletes = store.index_state(conn, ids[start : start + LOAD_SLICE])
            self.index.upsert(upserts)
            self.index.delete(deletes)
        self._save(last)
        self._measured(last, head)
        return max(len(events), 1)

    @staticmethod
    def _measured(cursor: int, head: int) -> None:
        CONSUMER_CURSOR.labels("documents", CURSOR).set(cursor)
        CONSUMER_LAG.labels("documents", CURSOR).set(max(head - cursor, 0))

    def run(self, stop: threading.Event, idle_sleep: float = 0.2) -> None:
        # A round indexes up to `batch` events' documents with their whole texts: allow it time.
        loop = LOOPS.loop("documents", "indexer", idle_sleep, minimum=600.0)
        while not stop.is_set():
            try:
                covered = self.poll_once()
                loop.done()
                if covered == 0:
                    stop.wait(idle_sleep)
            except SearchUnavailable as exc:
                log.warning("indexer: search backend unavailable, retrying: %s", exc)
                self._ensured = False
                loop.done(ok=False)
                stop.wait(1.0)
            except sa.exc.OperationalError:
                log.warning("indexer: database unavailable, retrying", exc_info=True)
                loop.done(ok=False)
                stop.wait(1.0)


def reindex_all(db: Database, index: SearchIndex, progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Rebuild the index from the database and switch to it atomically; then replay what changed
    meanwhile (versioned writes make the replay safe). Returns the new index's name and size."""
    started = time.time()
    count = [0]

    def counted(done: int) -> None:
        count[0] = done
        if progress:
            progress(done)

    with db.read() as conn:
        name = index.reindex(store.all_published(conn), counted)
    with db.read() as conn:
        changed = store.changed_since(conn, started - 5.0)
    for start in range(0, len(changed), 500):
        with db.read() as conn:
            upserts, deletes = store.index_state(conn, changed[start : start + 500])
        index.upsert(upserts)
        index.delete(deletes)
    return name, count[0]
