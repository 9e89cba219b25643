"""What a backup of documents holds besides its database: the files every version points to
(from S3 or the local folder, through the blob store) and — not copied — the search index,
rebuilt from the database on restore (services.core.backup)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from services.core.backup import Part
from services.core.db import Database
from services.documents.indexer import reindex_all
from services.documents.search import make_search_index
from services.documents.storage import make_blob_store

FILES = "files"


def save_files(db: Database, folder: Path, previous: Path | None = None) -> dict[str, Any]:
    """Every version's file into `folder/files/<key>`. Keys never change content, so a file already
    there (a folder reused from a former backup) is kept, and one in `previous` (the latest
    complete dated backup) is hard-linked: dated backups share their unchanged files. Run after the
    database's dump: each file the dump names exists then."""
    store = make_blob_store()
    with db.read() as conn:
        versions = conn.execute(sa.text("SELECT blob_key, sha256, size, content_type FROM document_versions")).all()
    copied = kept = linked = 0
    entries = []
    for v in versions:
        path = folder / FILES / v.blob_key
        entries.append({"key": v.blob_key, "sha256": v.sha256, "size": v.size, "content_type": v.content_type})
        if path.exists() and path.stat().st_size == v.size:
            kept += 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if previous is not None and _link(previous / FILES / v.blob_key, path, v.size):
            linked += 1
            continue
        store.to_path(v.blob_key, path)
        os.chmod(path, 0o600)
        copied += 1
    (folder / "files.json").write_text(json.dumps(entries), encoding="utf-8")
    return {"files": len(entries), "copied": copied, "kept": kept, "linked": linked}


def _link(source: Path, target: Path, size: int) -> bool:
    """Hard-link `source` (when it has the expected size) to `target`; False when it cannot."""
    try:
        if source.stat().st_size != size:
            return False
        target.unlink(missing_ok=True)
        os.link(source, target)
    except OSError:  # missing, another file system, or links not supported: copy instead
        return False
    return True


def load_files(_db: Database, folder: Path) -> dict[str, Any]:
    """Put back each saved file the store lacks (checked against its SHA-256)."""
    store = make_blob_store()
    store.ensure()
    entries = json.loads((folder / "files.json").read_text(encoding="utf-8"))
    restored = present = 0
    for entry in entries:
        if store.exists(entry["key"]):
            present += 1
            continue
        path = folder / FILES / entry["key"]
        digest = hashlib.sha256()
        with path.open("rb") as saved:
            for block in iter(lambda: saved.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != entry["sha256"]:
            raise SystemExit(f"backup file {path} does not match its SHA-256: the backup is damaged")
        with path.open("rb") as spool:
            store.put(entry["key"], spool, entry["size"], entry["sha256"], entry["content_type"])
        restored += 1
    return {"files": len(entries), "restored": restored, "present": present}


def save_search(_db: Database, _folder: Path, _previous: Path | None = None) -> dict[str, Any]:
    return {"rebuilt_on_restore": True}


def rebuild_search(db: Database, _folder: Path) -> dict[str, Any]:
    name, count = reindex_all(db, make_search_index())
    return {"index": name, "documents": count}


PARTS = (Part(FILES, save_files, load_files), Part("search", save_search, rebuild_search))
