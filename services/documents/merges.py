"""Communes merged in identity (`UnitMerged`): their documents follow (worker `units`).

The documents the source commune issued are the target's from now on (issuing unit and publisher
chain), documents addressed to the source are addressed to the target, and study marks filed
under the source count for the target, in one transaction with the event's mark; each changed
document is re-indexed. The source's child units arrive as ordinary moves (hierarchy.py), which
this worker applies in the same order identity emitted them.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy.engine import Connection

from services.core.db import Database, execute, fetch
from services.core.events import On, Subscriptions
from services.core.outbox import run_consumers
from services.documents import hierarchy
from services.documents.events import emit_refresh
from sotay.events.v1.identity_events_pb2 import UnitMerged, UnitMoved


def unit_merged(conn: Connection, merged: UnitMerged) -> int:
    """Re-point what named the source to the target; how many documents changed."""
    source, target = merged.source_unit_id, merged.target_unit_id
    if not source or not target:
        raise ValueError("a merge names its source and target units")
    chain = [*merged.target_ancestor_ids, target]
    docs = sorted({
        r.id for r in fetch(
            conn,
            "SELECT id FROM documents WHERE unit_id = :s UNION "
            "SELECT document_id AS id FROM document_units WHERE unit_id = :s AND rel = 'a'",
            {"s": source},
        )
    })
    issued = {r.id for r in fetch(conn, "SELECT id FROM documents WHERE unit_id = :s", {"s": source})}
    for doc_id in issued:  # the publisher chain becomes the target's
        execute(conn, "DELETE FROM document_units WHERE document_id = :d AND rel = 'p'", {"d": doc_id})
        for unit_id in chain:
            execute(conn, "INSERT INTO document_units (document_id, unit_id, rel) VALUES (:d, :u, 'p')",
                    {"d": doc_id, "u": unit_id})
    execute(conn, "UPDATE documents SET unit_id = :t WHERE unit_id = :s", {"t": target, "s": source})
    # Audiences: the target replaces the source (once, when a document already reaches both).
    execute(conn, "DELETE FROM document_units WHERE rel = 'a' AND unit_id = :s AND document_id IN "
                  "(SELECT document_id FROM document_units WHERE rel = 'a' AND unit_id = :t)",
            {"s": source, "t": target})
    execute(conn, "UPDATE document_units SET unit_id = :t WHERE rel = 'a' AND unit_id = :s",
            {"s": source, "t": target})
    execute(conn, "UPDATE study_marks SET unit_id = :t WHERE unit_id = :s", {"s": source, "t": target})
    now = time.time()
    for doc_id in docs:
        execute(conn, "UPDATE documents SET change_seq = change_seq + 1, updated_at = :now WHERE id = :d",
                {"now": now, "d": doc_id})
        emit_refresh(conn, doc_id)
    return len(docs)


# Moves as hierarchy.py applies them, merges as above: one consumer of identity's log keeps its
# one cursor and the order of the two.
handle = Subscriptions("documents units", On(UnitMoved, hierarchy.unit_moved), On(UnitMerged, unit_merged))


def run(db: Database, stop: threading.Event) -> None:
    """Worker `units`: applies identity's unit moves and merges, each once."""
    run_consumers(db, stop, handle.sources(), handle)
