"""Units moved in identity: the publisher chains of their documents follow (worker `units`, merges.py).

A document's publisher chain is its publishing unit and that unit's ancestors: the managers of
any of them manage the document (store.Doc.publisher_chain, the index's `publisher_chain`). When
identity moves a subtree (`UnitMoved`, e.g. the cells of merged communes), every
document published in the subtree swaps the moved unit's old ancestors for its new ones, in one
transaction with the event's mark, and is re-indexed (an `IndexRefresh` event).
Audiences name units by id: a member's view follows the ancestors in the member's token.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.documents.events import emit_refresh
from sotay.events.v1.identity_events_pb2 import UnitMoved


def unit_moved(conn: Connection, moved: UnitMoved) -> int:
    """Rewrite the chains of the documents published in the moved subtree; how many there are."""
    unit_id, old, new = moved.unit_id, list(moved.old_ancestor_ids), list(moved.ancestor_ids)
    docs = [
        r.document_id
        for r in conn.execute(
            sa.text("SELECT document_id FROM document_units WHERE unit_id = :u AND rel = 'p'"), {"u": unit_id}
        )
    ]
    if not docs:
        return 0
    in_subtree = "SELECT document_id FROM document_units WHERE unit_id = :u AND rel = 'p'"
    if old:
        marks = ", ".join(f":o{i}" for i in range(len(old)))
        conn.execute(
            sa.text(
                f"DELETE FROM document_units WHERE rel = 'p' AND unit_id IN ({marks}) "
                f"AND document_id IN ({in_subtree})"
            ),
            {"u": unit_id, **{f"o{i}": o for i, o in enumerate(old)}},
        )
    for ancestor in new:
        conn.execute(
            sa.text(
                f"INSERT INTO document_units (document_id, unit_id, rel) SELECT document_id, :a, 'p' "
                f"FROM ({in_subtree}) moved WHERE NOT EXISTS (SELECT 1 FROM document_units x "
                "WHERE x.document_id = moved.document_id AND x.unit_id = :a AND x.rel = 'p')"
            ),
            {"u": unit_id, "a": ancestor},
        )
    conn.execute(
        sa.text(
            f"UPDATE documents SET change_seq = change_seq + 1, updated_at = :t WHERE id IN ({in_subtree})"
        ),
        {"u": unit_id, "t": time.time()},
    )
    for doc_id in docs:
        emit_refresh(conn, doc_id)
    return len(docs)
