"""Documents' schema. Times are epoch seconds, dates ISO strings, ids UUIDs; lists of unit ids
are rows of `document_units` (rel 'a' audience, 'p' publisher chain) for filtering in SQL."""

import logging

import sqlalchemy as sa

from services.core.db import Database, Migration
from services.core.outbox import OUTBOX_MIGRATIONS, OUTBOX_STATEMENTS

log = logging.getLogger("sotay.documents.migrations")


def _register(find: str) -> tuple[str, ...]:
    """Migration 4 (`find`: the dialect's position-of-substring function). A register row per
    (issuing unit, folded number); `series` is the folded "type/issuer" numbers run in."""
    return (
        "CREATE TABLE document_numbers (unit_id TEXT NOT NULL, number_key TEXT NOT NULL, series TEXT NOT NULL, "
        "seq INTEGER NOT NULL, doc_type TEXT NOT NULL, issuer_code TEXT NOT NULL, document_id TEXT NOT NULL, "
        "registered_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (unit_id, number_key))",
        "CREATE INDEX document_numbers_series ON document_numbers (unit_id, series, seq)",
        "CREATE INDEX document_numbers_document ON document_numbers (document_id)",
        # Documents stored before the register: the first one of each number holds it.
        "INSERT INTO document_numbers (unit_id, number_key, series, seq, doc_type, issuer_code, document_id, "
        f"registered_at) SELECT unit_id, number_key, substr(number_key, {find}(number_key, '-') + 1), "
        "MIN(number_seq), MIN(doc_type), MIN(issuer_code), MIN(id), MIN(created_at) FROM documents "
        "WHERE status <> 'withdrawn' OR published_at IS NOT NULL GROUP BY unit_id, number_key",
        "ALTER TABLE documents ADD COLUMN review_note TEXT NOT NULL DEFAULT ''",
    )


MIGRATIONS = [
    *OUTBOX_MIGRATIONS,  # the event log's own (versions 1001+), applied after the first
    Migration(
        1,
        "documents, versions, audience, uploads, study marks",
        (
            *OUTBOX_STATEMENTS,
            "CREATE TABLE documents (id TEXT PRIMARY KEY, title TEXT NOT NULL, number TEXT NOT NULL, "
            "number_key TEXT NOT NULL, number_seq INTEGER NOT NULL, doc_type TEXT NOT NULL, "
            "issuer_code TEXT NOT NULL, "
            "category TEXT NOT NULL, issued_on TEXT, issuing_body TEXT NOT NULL, signer TEXT NOT NULL, "
            "summary TEXT NOT NULL, status TEXT NOT NULL, unit_id TEXT NOT NULL, "
            "current_version INTEGER NOT NULL, "
            "change_seq BIGINT NOT NULL, created_by TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
            "updated_at DOUBLE PRECISION NOT NULL, published_at DOUBLE PRECISION, "
            "withdrawn_at DOUBLE PRECISION, "
            "withdrawn_reason TEXT)",
            "CREATE INDEX documents_unit ON documents (unit_id, status, published_at)",
            "CREATE INDEX documents_number ON documents (number_key)",
            "CREATE INDEX documents_updated ON documents (updated_at)",
            "CREATE TABLE document_units (document_id TEXT NOT NULL REFERENCES documents(id), "
            "unit_id TEXT NOT NULL, rel TEXT NOT NULL, PRIMARY KEY (document_id, rel, unit_id))",
            "CREATE INDEX document_units_unit ON document_units (unit_id, rel)",
            "CREATE TABLE document_versions (document_id TEXT NOT NULL REFERENCES documents(id), "
            "version INTEGER NOT NULL, blob_key TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, "
            "size BIGINT NOT NULL, "
            "kind TEXT NOT NULL, content_type TEXT NOT NULL, filename TEXT NOT NULL, note TEXT NOT NULL, "
            "extraction_state TEXT NOT NULL, extraction_error TEXT NOT NULL, text_source TEXT NOT NULL, "
            "text TEXT NOT NULL, ocr_attempts INTEGER NOT NULL, ocr_claimed_at DOUBLE PRECISION, "
            "created_by TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (document_id, "
            "version))",
            "CREATE INDEX document_versions_state ON document_versions (extraction_state, created_at)",
            "CREATE TABLE upload_requests (account_id TEXT NOT NULL, idempotency_key TEXT NOT NULL, "
            "document_id TEXT NOT NULL, version INTEGER NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
            "PRIMARY KEY (account_id, idempotency_key))",
            "CREATE TABLE study_marks (document_id TEXT NOT NULL REFERENCES documents(id), "
            "member_id TEXT NOT NULL, "
            "account_id TEXT NOT NULL, unit_id TEXT NOT NULL, studied_at DOUBLE PRECISION NOT NULL, "
            "PRIMARY KEY (document_id, member_id))",
            "CREATE TABLE service_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        ),
    ),
    Migration(
        2,
        "publication held until a scan's text is checked",
        ("ALTER TABLE documents ADD COLUMN publish_pending BOOLEAN NOT NULL DEFAULT FALSE",),
    ),
    Migration(
        3,
        "a scanned new version of a published document waits for its text check",
        ("ALTER TABLE documents ADD COLUMN pending_version INTEGER NOT NULL DEFAULT 0",),
    ),
    Migration(
        4,
        "number register per issuing unit; review state's note",
        _register("instr"),
        postgres=_register("strpos"),
    ),
    Migration(
        5,
        "idempotency keys in the shared table (services.core.idempotency); upload_requests copied",
        (
            "CREATE TABLE idempotency_keys (scope TEXT NOT NULL, key TEXT NOT NULL, result_id TEXT NOT NULL, "
            "created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (scope, key))",
            # The scope of an upload's key: its account (UploadDocument and AddDocumentVersion share it).
            "INSERT INTO idempotency_keys (scope, key, result_id, created_at) "
            "SELECT 'upload:' || account_id, idempotency_key, document_id, created_at FROM upload_requests",
        ),
    ),
]


def tune_postgres(db: Database) -> None:
    """PostgreSQL 14+: compress version texts with lz4 rather than the default pglz, several times
    slower on every write (bench/documents.py indexing and upload). Not a migration, since migrations
    are portable SQL and SQLite has no such setting; harmless to repeat, skipped when done, and
    left alone (pglz stays) when the server lacks lz4 or the table is busy."""
    if not db.is_postgres:
        return
    try:
        with db.write() as conn:
            current = conn.execute(
                sa.text(
                    "SELECT attcompression FROM pg_attribute "
                    "WHERE attrelid = 'document_versions'::regclass AND attname = 'text'"
                )
            ).scalar()
            if current == "l":
                return
            conn.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
            conn.execute(sa.text("ALTER TABLE document_versions ALTER COLUMN text SET COMPRESSION lz4"))
    except sa.exc.DBAPIError as exc:
        log.info("document texts keep the default compression: %s", str(exc).splitlines()[0])
