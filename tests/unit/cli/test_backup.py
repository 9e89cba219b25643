"""`sotay backup` and `sotay restore` on the embedded backends (SQLite, the file folder, SQLite FTS):
what the backup held comes back, what came after is gone, the event logs start a new epoch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from services import cli
from services.core.db import Database


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("SOTAY_DATA_DIR", str(folder))
    for name in ("DATABASE_URL", "ELASTICSEARCH_URL", "S3_ENDPOINT", "DOCUMENTS_FILES_DIR", "DOCUMENTS_SEARCH_DB"):
        monkeypatch.delenv(name, raising=False)
    for service in cli.SERVICES:  # nothing answers at the services' addresses
        monkeypatch.setenv(f"{service.upper()}_ADDR", "127.0.0.1:9")
    return folder


def usernames() -> list[str]:
    db = Database.for_service("identity")
    with db.read() as conn:
        found = sorted(conn.execute(sa.text("SELECT username FROM accounts")).scalars())
    db.dispose()
    return found


def epochs(service: str) -> int:
    db = Database.for_service(service)
    with db.read() as conn:
        count = int(conn.execute(sa.text("SELECT count(*) FROM event_log_epochs")).scalar_one())
    db.dispose()
    return count


def test_backup_then_restore_brings_back_what_the_backup_held(data: Path, tmp_path: Path) -> None:
    assert cli.main(["migrate"]) == 0
    assert cli.main(["create-admin", "--username", "before", "--password", "Mat-khau-dai-1"]) == 0
    backup = tmp_path / "backup"
    assert cli.main(["backup", str(backup)]) == 0
    summary = json.loads((backup / "backup.json").read_text())
    assert set(summary["services"]) == set(cli.SERVICES)
    assert (backup / "identity" / "database.sqlite").stat().st_mode & 0o077 == 0  # keys and hashes inside
    assert cli.main(["create-admin", "--username", "after", "--password", "Mat-khau-dai-2"]) == 0
    assert usernames() == ["after", "before"]

    assert cli.main(["restore", str(backup), "--service", "identity"]) == 0
    assert usernames() == ["before"]
    assert epochs("identity") == 2  # the log's new epoch: consumers go back to the restore point
    assert epochs("meetings") == 1  # not restored
    report = json.loads((backup / "restore.json").read_text())
    assert report["services"]["identity"]["epoch"]["base_seq"] >= 0

    assert cli.main(["restore", str(backup)]) == 0  # everything, documents' search rebuilt
    assert json.loads((backup / "restore.json").read_text())["services"]["documents"]["search"]["documents"] == 0


def test_restore_refuses_a_folder_without_a_backup(data: Path, tmp_path: Path) -> None:
    assert cli.main(["migrate"]) == 0
    with pytest.raises(SystemExit, match=r"no manifest\.json"):
        cli.main(["restore", str(tmp_path / "nothing"), "--service", "identity"])
