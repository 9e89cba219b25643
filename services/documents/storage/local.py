"""Files in a local folder (the embedded backend). Objects are written once, never replaced."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from services.core.errors import Unavailable


class LocalBlobStore:
    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or ".." in key.split("/"):
            raise ValueError(f"bad blob key {key!r}")
        return path

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def put(self, key: str, spool: IO[bytes], size: int, sha256: str, content_type: str) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            written = 0
            with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".upload-", delete=False) as out:
                try:
                    while block := spool.read(1024 * 1024):
                        digest.update(block)
                        written += len(block)
                        out.write(block)
                    out.flush()
                    os.fsync(out.fileno())
                    if written != size or digest.hexdigest() != sha256:
                        raise Unavailable("storage_checksum", "the stored file does not match what was received")
                    try:
                        os.link(out.name, target)  # fails if the key exists: never overwrite
                    except FileExistsError as exc:
                        raise Unavailable("storage_conflict", "a file with this key is already stored") from exc
                finally:
                    os.unlink(out.name)
        except OSError as exc:
            raise Unavailable("storage_unavailable", f"the file store cannot write: {exc.strerror}") from exc

    def chunks(self, key: str, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        try:
            with self._path(key).open("rb") as stream:
                while block := stream.read(chunk_size):
                    yield block
        except OSError as exc:
            raise Unavailable("storage_unavailable", "the file cannot be read from the store") from exc

    def to_path(self, key: str, path: Path) -> None:
        try:
            shutil.copyfile(self._path(key), path)
        except OSError as exc:
            raise Unavailable("storage_unavailable", "the file cannot be read from the store") from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def presigned_url(self, key: str, filename: str, content_type: str, ttl_seconds: int) -> str:
        return ""
