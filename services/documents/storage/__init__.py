"""Where document files live: one `BlobStore` interface, a local folder or S3 (minio SDK).

Keys are made by the service (`docs/<document id>/v<version>-<sha256 prefix>`), one per file
version, so an object is never overwritten; the client's file name is never part of a path.
Configuration: S3_ENDPOINT set -> S3 (S3_ACCESS_KEY, S3_SECRET_KEY, S3_SECURE, S3_BUCKET,
S3_REGION, S3_PUBLIC_ENDPOINT for presigned URLs); otherwise DOCUMENTS_FILES_DIR (default
<data dir>/documents-files).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

from services.core.config import data_dir, env


class BlobStore(Protocol):
    kind: str  # "local" | "s3"

    def ensure(self) -> None:
        """Create the bucket/folder when missing (idempotent)."""

    def put(self, key: str, spool: IO[bytes], size: int, sha256: str, content_type: str) -> None:
        """Store a new object and verify it against `size` and `sha256` (the hash computed while
        the file was received); UNAVAILABLE (reason storage_unavailable) when the store is down,
        (storage_checksum) when what it holds differs."""

    def chunks(self, key: str, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        """The object's bytes."""

    def to_path(self, key: str, path: Path) -> None:
        """Copy the object into a local file (for OCR)."""

    def delete(self, key: str) -> None:
        """Remove an object (used only to undo a failed upload or drop a refused file)."""

    def exists(self, key: str) -> bool: ...

    def presigned_url(self, key: str, filename: str, content_type: str, ttl_seconds: int) -> str:
        """A direct, expiring download URL, or "" when the store has none (local folder)."""


def blob_key(document_id: str, version: int, sha256: str) -> str:
    return f"docs/{document_id}/v{version}-{sha256[:16]}"


def make_blob_store() -> BlobStore:
    endpoint = env("S3_ENDPOINT")
    if endpoint:
        from services.documents.storage.s3 import S3BlobStore

        return S3BlobStore.from_env()
    from services.documents.storage.local import LocalBlobStore

    return LocalBlobStore(Path(env("DOCUMENTS_FILES_DIR") or data_dir() / "documents-files"))
