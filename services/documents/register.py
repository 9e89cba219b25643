"""The number register of each issuing unit (sổ đăng ký văn bản đi).

A Party document's number runs per type and issuer for the issuing committee (HD 36-HD/VPTW):
`28-QC/TU` is the 28th Quy chế the Tỉnh ủy registered. Each document takes its number in the
register of the unit publishing it (`document_numbers`, one row per (unit, type, issuer, seq)),
in the transaction that stores it, under a lock on the unit's register: a number already taken
is refused (ALREADY_EXISTS, reason `number_taken`, with the next free number). A draft's number
is freed when the draft changes it or is withdrawn unpublished; once published it stays taken
(withdrawn or not), as in the paper register.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from services.core.db import execute, fetch_one, lock
from services.core.errors import AlreadyExists
from services.documents.numbers import DocNumber, number_key


@dataclass(frozen=True)
class Entry:
    """A numbering series of a unit: one type and issuer (`QĐ`, `ĐU`)."""

    unit_id: str
    doc_type: str
    issuer: str

    @property
    def series(self) -> str:
        return series_of(self.doc_type, self.issuer)


def series_of(doc_type: str, issuer: str) -> str:
    """Folded "type/issuer", as numbers' keys end (`123-qd/du` -> `qd/du`)."""
    return number_key(1, doc_type, issuer).split("-", 1)[1]


def _lock(conn: Connection, unit_id: str) -> None:
    lock(conn, f"document-numbers:{unit_id}")


def holder(conn: Connection, unit_id: str, number: DocNumber) -> str:
    """The document holding `number` in the unit's register ("" when free). Numbers typed with or
    without accents are one (`12-QĐ/ĐU` = `12-qd/du`)."""
    row = fetch_one(
        conn,
        "SELECT document_id FROM document_numbers WHERE unit_id = :u AND number_key = :k",
        {"u": unit_id, "k": number.key},
    )
    return str(row.document_id) if row else ""


def _last(conn: Connection, entry: Entry) -> Any | None:
    return fetch_one(
        conn,
        "SELECT seq, doc_type, issuer_code FROM document_numbers WHERE unit_id = :u AND series = :s "
        "ORDER BY seq DESC LIMIT 1",
        {"u": entry.unit_id, "s": entry.series},
    )


def last_seq(conn: Connection, entry: Entry) -> int:
    row = _last(conn, entry)
    return int(row.seq) if row else 0


def next_number(conn: Connection, entry: Entry) -> str:
    """The series' next number, spelt as the register spells it (`13-QĐ/ĐU` after `12-QĐ/ĐU`)."""
    if not entry.issuer:
        return ""
    row = _last(conn, entry)
    if row is None:
        return f"01-{entry.doc_type}/{entry.issuer}"
    return f"{int(row.seq) + 1:02d}-{row.doc_type}/{row.issuer_code}"


def last_issuer(conn: Connection, unit_id: str) -> str:
    """The issuer code the unit registered most recently ("" when it has none)."""
    row = fetch_one(
        conn,
        "SELECT issuer_code FROM document_numbers WHERE unit_id = :u ORDER BY registered_at DESC LIMIT 1",
        {"u": unit_id},
    )
    return str(row.issuer_code) if row else ""


def refuse(conn: Connection, unit_id: str, number: DocNumber, document_id: str) -> AlreadyExists:
    proposed = next_number(conn, Entry(unit_id, number.doc_type, number.issuer))
    return AlreadyExists(
        "number_taken",
        f"number {number.text} is already registered by this unit; the next free one is {proposed}",
        field="number",
        number=number.text,
        next_number=proposed,
        document_id=document_id,
    )


def check_free(conn: Connection, unit_id: str, number: DocNumber, document_id: str = "") -> None:
    """ALREADY_EXISTS unless `number` is free in the unit's register (or held by `document_id`)."""
    found = holder(conn, unit_id, number)
    if found and found != document_id:
        raise refuse(conn, unit_id, number, found)


def take(conn: Connection, unit_id: str, number: DocNumber, document_id: str, at: float) -> None:
    """Register `number` for the document, in the caller's write transaction (serialised per unit)."""
    _lock(conn, unit_id)
    found = holder(conn, unit_id, number)
    if found == document_id:
        return
    if found:
        raise refuse(conn, unit_id, number, found)
    execute(
        conn,
        "INSERT INTO document_numbers (unit_id, number_key, series, seq, doc_type, issuer_code, document_id, "
        "registered_at) VALUES (:u, :k, :s, :n, :t, :i, :d, :at)",
        {
            "u": unit_id,
            "k": number.key,
            "s": series_of(number.doc_type, number.issuer),
            "n": number.seq,
            "t": number.doc_type,
            "i": number.issuer,
            "d": document_id,
            "at": at,
        },
    )


def release(conn: Connection, document_id: str) -> None:
    """Free the numbers a document holds (a draft renumbered or withdrawn unpublished)."""
    execute(conn, "DELETE FROM document_numbers WHERE document_id = :d", {"d": document_id})


def renumber(conn: Connection, unit_id: str, number: DocNumber, document_id: str, at: float) -> None:
    """A draft's number changed: its old entry is freed and the new one taken."""
    _lock(conn, unit_id)
    check_free(conn, unit_id, number, document_id)
    release(conn, document_id)
    take(conn, unit_id, number, document_id, at)
