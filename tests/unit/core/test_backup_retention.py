"""Dated backups and their retention (services.core.backup): which folders `sotay backup --keep N`
removes, and which it never touches."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.core import backup
from services.core.db import Database
from services.documents.backup import save_files


def dated(root: Path, name: str, complete: bool = True) -> Path:
    folder = root / name
    (folder / "identity").mkdir(parents=True)
    if complete:
        (folder / backup.SUMMARY).write_text("{}")
    return folder


def names(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_the_newest_complete_backups_are_kept_and_the_older_ones_removed(tmp_path: Path) -> None:
    for day in range(1, 6):
        dated(tmp_path, f"202612{day:02d}T020000Z")
    pruned = backup.prune(tmp_path, 3, tmp_path / "20261205T020000Z")
    assert names(tmp_path) == ["20261203T020000Z", "20261204T020000Z", "20261205T020000Z"]
    assert pruned.kept == ["20261205T020000Z", "20261204T020000Z", "20261203T020000Z"]
    assert sorted(pruned.removed) == ["20261201T020000Z", "20261202T020000Z"]


def test_incomplete_backups_are_never_removed_and_do_not_count(tmp_path: Path) -> None:
    dated(tmp_path, "20261201T020000Z")
    dated(tmp_path, "20261202T020000Z.partial", complete=False)  # failed run, renamed never
    dated(tmp_path, "20261203T020000Z", complete=False)  # its summary never written
    dated(tmp_path, "20261204T020000Z")
    dated(tmp_path, "20261206T020000Z.partial", complete=False)  # still running (newer)
    dated(tmp_path, "20261205T020000Z")
    pruned = backup.prune(tmp_path, 2, tmp_path / "20261205T020000Z")
    assert names(tmp_path) == ["20261202T020000Z.partial", "20261203T020000Z", "20261204T020000Z",
                               "20261205T020000Z", "20261206T020000Z.partial"]
    assert pruned.removed == ["20261201T020000Z"]
    assert sorted(pruned.incomplete) == ["20261202T020000Z.partial", "20261203T020000Z", "20261206T020000Z.partial"]


def test_the_backup_just_written_is_kept_even_when_its_name_sorts_oldest(tmp_path: Path) -> None:
    """A clock set back: the new backup's name is older than those before it."""
    dated(tmp_path, "20261204T020000Z")
    dated(tmp_path, "20261205T020000Z")
    written = dated(tmp_path, "20261101T020000Z")
    pruned = backup.prune(tmp_path, 2, written)
    assert names(tmp_path) == ["20261101T020000Z", "20261205T020000Z"]
    assert pruned.removed == ["20261204T020000Z"]
    assert backup.prune(tmp_path, 1, written).removed == ["20261205T020000Z"]
    assert names(tmp_path) == ["20261101T020000Z"]


def test_what_is_not_a_dated_backup_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "lost+found").mkdir()  # a fresh ext4 volume's root
    (tmp_path / "manual").mkdir()
    (tmp_path / "manual" / backup.SUMMARY).write_text("{}")
    (tmp_path / "20261201T020000Z.tar").write_text("not a folder")
    (tmp_path / "2026-12-01").mkdir()
    written = dated(tmp_path, "20261205T020000Z")
    dated(tmp_path, "20261204T020000Z")
    assert backup.prune(tmp_path, 1, written).removed == ["20261204T020000Z"]
    assert names(tmp_path) == ["2026-12-01", "20261201T020000Z.tar", "20261205T020000Z", "lost+found", "manual"]


def test_keep_must_be_at_least_one(tmp_path: Path) -> None:
    written = dated(tmp_path, "20261205T020000Z")
    with pytest.raises(ValueError):
        backup.prune(tmp_path, 0, written)
    assert names(tmp_path) == ["20261205T020000Z"]


def test_a_dated_backup_is_written_as_partial_then_renamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backup, "utc_now", lambda: datetime(2026, 12, 5, 2, 15, 7, tzinfo=UTC))
    root = tmp_path / "backups"
    partial = backup.start_dated(root)
    assert partial == root / "20261205T021507Z.partial"
    assert partial.stat().st_mode & 0o077 == 0
    assert backup.latest_complete(root) is None
    with pytest.raises(ValueError, match="not complete"):
        backup.finish_dated(partial)
    with pytest.raises(SystemExit, match="exists already"):
        backup.start_dated(root)  # the same second
    (partial / backup.SUMMARY).write_text("{}")
    done = backup.finish_dated(partial)
    assert done == root / "20261205T021507Z" and not partial.exists()
    assert backup.latest_complete(root) == done
    with pytest.raises(SystemExit, match="exists already"):
        backup.start_dated(root)


def test_unchanged_files_are_hard_linked_from_the_previous_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dated backups share a document's file instead of holding a copy each."""
    store = tmp_path / "store"
    monkeypatch.setenv("DOCUMENTS_FILES_DIR", str(store))
    monkeypatch.delenv("S3_ENDPOINT", raising=False)
    db = Database(f"sqlite:///{tmp_path / 'documents.db'}")
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE document_versions (blob_key TEXT, sha256 TEXT, size INTEGER, "
                             "content_type TEXT)")
        for key, body in (("ab/old", b"kept since last night"), ("cd/new", b"uploaded today")):
            conn.execute(sa.text("INSERT INTO document_versions VALUES (:k, '-', :s, 'text/plain')"),
                         {"k": key, "s": len(body)})
            (store / key).parent.mkdir(parents=True, exist_ok=True)
            (store / key).write_bytes(body)
    previous = tmp_path / "20261204T020000Z" / "documents"
    (previous / "files" / "ab").mkdir(parents=True)
    (previous / "files" / "ab" / "old").write_bytes(b"kept since last night")
    (previous / "files" / "ab" / "gone").write_bytes(b"a file no version names any more")
    target = tmp_path / "20261205T020000Z" / "documents"
    report = save_files(db, target, previous)
    db.dispose()
    assert report == {"files": 2, "copied": 1, "kept": 0, "linked": 1}
    assert os.path.samefile(target / "files" / "ab" / "old", previous / "files" / "ab" / "old")
    assert (target / "files" / "cd" / "new").read_bytes() == b"uploaded today"
    assert not (target / "files" / "ab" / "gone").exists()
    assert [e["key"] for e in json.loads((target / "files.json").read_text())] == ["ab/old", "cd/new"]
