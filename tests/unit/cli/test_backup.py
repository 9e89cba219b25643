"""`sotay backup` and `sotay restore` on the embedded backends (SQLite, the file folder, SQLite FTS):
what the backup held comes back, what came after is gone, the event logs start a new epoch."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from services import cli
from services.core import backup
from services.core.config import database_url
from services.core.db import Database


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("SOTAY_DATA_DIR", str(folder))
    for name in ("DATABASE_URL", "DATABASE_URL_FILE", "ELASTICSEARCH_URL", "S3_ENDPOINT", "DOCUMENTS_FILES_DIR",
                 "DOCUMENTS_SEARCH_DB"):
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


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The backups' UTC time: each call the next night at 02:00."""
    nights = [datetime(2026, 12, day, 2, 0, tzinfo=UTC) for day in range(1, 29)]
    used: list[datetime] = []

    def now() -> datetime:
        used.append(nights[len(used)])
        return used[-1]

    monkeypatch.setattr(backup, "utc_now", now)
    return used


def test_dated_backups_keep_the_newest_n_and_restore_from_one(
    data: Path, tmp_path: Path, clock: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.main(["migrate"]) == 0
    assert cli.main(["create-admin", "--username", "first", "--password", "Mat-khau-dai-1"]) == 0
    root = tmp_path / "backups"
    (root / "lost+found").mkdir(parents=True)
    assert cli.main(["backup", "--keep", "2", str(root)]) == 0
    assert sorted(p.name for p in root.iterdir()) == ["20261201T020000Z", "lost+found"]
    assert cli.main(["create-admin", "--username", "second", "--password", "Mat-khau-dai-2"]) == 0
    assert cli.main(["backup", "--keep", "2", str(root)]) == 0

    # A run that fails half-way stays `.partial`: not counted, not removed, not restored from.
    def broken(service: str, *args: object, **kwargs: object) -> dict[str, object]:
        if service == "meetings":
            raise OSError("volume full")
        return real(service, *args, **kwargs)

    real = cli.backup_service
    monkeypatch.setattr(cli, "backup_service", broken)
    with pytest.raises(OSError, match="volume full"):
        cli.main(["backup", "--keep", "2", str(root)])
    monkeypatch.setattr(cli, "backup_service", real)
    assert cli.main(["create-admin", "--username", "third", "--password", "Mat-khau-dai-3"]) == 0
    assert cli.main(["backup", "--keep", "2", str(root)]) == 0
    assert sorted(p.name for p in root.iterdir()) == [
        "20261202T020000Z", "20261203T020000Z.partial", "20261204T020000Z", "lost+found"]
    newest = root / "20261204T020000Z"
    summary = json.loads((newest / "backup.json").read_text())
    assert set(summary["services"]) == set(cli.SERVICES)
    assert (newest / "backup.json").stat().st_mode & 0o077 == 0

    assert cli.main(["create-admin", "--username", "after", "--password", "Mat-khau-dai-4"]) == 0
    assert cli.main(["restore", str(root / "20261202T020000Z"), "--service", "identity"]) == 0
    assert usernames() == ["first", "second"]
    (root / "20261209T020000Z.partial").mkdir()  # newer, but not complete: never restored from
    assert cli.main(["restore", "--latest", str(root), "--service", "identity"]) == 0
    assert usernames() == ["first", "second", "third"]
    assert (newest / "restore.json").exists()


def test_restore_latest_needs_a_complete_dated_backup(data: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "backups" / "20261201T020000Z.partial" / "identity").mkdir(parents=True)
    assert cli.main(["restore", "--latest", str(tmp_path / "backups")]) == 1
    assert "no complete dated backup" in capsys.readouterr().err


def test_keep_takes_a_positive_number_and_every_service(data: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("0", "-1", "seven"):
        with pytest.raises(SystemExit) as stopped:
            cli.main(["backup", "--keep", bad, str(tmp_path / "b")])
        assert stopped.value.code == 2
    assert "must be 1 or more" in capsys.readouterr().err
    assert cli.main(["backup", "--keep", "3", "--service", "identity", str(tmp_path / "b")]) == 2
    assert "leave out --service" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_database_url_file_gives_each_service_its_own_database(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the backup CronJob does: every service's Secret mounted as a file, one process."""
    urls = tmp_path / "database-urls"
    urls.mkdir()
    for service in cli.SERVICES:
        (urls / service).write_text(f"sqlite:///{tmp_path / ('own-' + service + '.db')}\n")
    monkeypatch.setenv("DATABASE_URL_FILE", str(urls / "{service}"))
    assert database_url("meetings") == f"sqlite:///{tmp_path / 'own-meetings.db'}"
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@h/{service}")  # the variable itself wins
    assert database_url("meetings") == "postgresql+psycopg://u:p@h/meetings"
    monkeypatch.delenv("DATABASE_URL")
    (urls / "reports").write_text("\n")
    with pytest.raises(SystemExit, match="reports is empty"):
        database_url("reports")
    (urls / "reports").unlink()
    with pytest.raises(SystemExit, match=r"cannot read .*reports"):
        database_url("reports")
