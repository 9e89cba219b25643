"""Backup and restore of a service's database (docs/operations.md, "Backup and restore").

PostgreSQL: `pg_dump --format=custom` and `pg_restore` (Debian's postgresql-client) into the emptied
schema; SQLite: the online backup API. A restore then migrates (a backup may predate the code)
and starts a new epoch of the service's event log, so consumers that read past the backup go
back to it (services.core.outbox). Services are stopped while their database is restored.

Scheduled backups (`sotay backup --keep N ROOT`) go to dated folders ROOT/<UTC time>: written as
ROOT/<time>.partial, renamed once complete (its backup.json written), then all but the newest N
complete ones are removed. A partial folder (a run that failed or still runs) is never removed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from services.core.db import Database, Migration
from services.core.outbox import ensure_epoch

MANIFEST = "manifest.json"
SUMMARY = "backup.json"  # written last: a backup folder holding it is complete
STAMP = "%Y%m%dT%H%M%SZ"  # a dated backup's folder name, UTC (20261205T021500Z)
PARTIAL = ".partial"
_DATED = re.compile(r"\d{8}T\d{6}Z")


@dataclass(frozen=True)
class Part:
    """What a service backs up besides its database (documents: its files, its search index).
    `save` gets the folder and the same service's folder of the latest complete backup, if any
    (files that never change may be hard-linked from there instead of copied)."""

    name: str
    save: Callable[[Database, Path, Path | None], dict[str, Any]]
    load: Callable[[Database, Path], dict[str, Any]]


def libpq_url(db: Database) -> str:
    """The database's URL as libpq takes it (no SQLAlchemy driver suffix)."""
    url = sa.make_url(db.url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def sqlite_path(db: Database) -> Path:
    return Path(str(sa.make_url(db.url).database))


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return found


def dump_database(db: Database, folder: Path) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if db.is_postgres:
        target = folder / "database.dump"
        subprocess.run(
            [_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={target}",
             f"--dbname={libpq_url(db)}"],
            check=True,
        )
    else:
        target = folder / "database.sqlite"
        target.unlink(missing_ok=True)
        with sqlite3.connect(sqlite_path(db)) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
    os.chmod(target, 0o600)  # password hashes, and the keys a deployment keeps in its database
    return {"file": target.name, "bytes": target.stat().st_size}


def load_database(db: Database, folder: Path) -> dict[str, Any]:
    """Replace the database's content by the dump in `folder` (the services are stopped)."""
    db.dispose()
    if db.is_postgres:
        source = folder / "database.dump"
        with db.write() as conn:  # everything the dump does not hold goes too (newer tables)
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        db.dispose()
        subprocess.run(
            [_pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
             f"--dbname={libpq_url(db)}", str(source)],
            check=True,
        )
    else:
        source = folder / "database.sqlite"
        with sqlite3.connect(source) as dump, sqlite3.connect(sqlite_path(db)) as live:
            dump.backup(live)
    return {"file": source.name}


def backup_service(
    service: str, db: Database, folder: Path, parts: Sequence[Part] = (), previous: Path | None = None
) -> dict[str, Any]:
    """The service's database, then its other parts, into `folder`; the manifest says what and
    how long each step took. `previous`: the service's folder in the latest complete backup."""
    manifest: dict[str, Any] = {"service": service, "started_at": time.time(), "steps": {}}
    started = time.monotonic()
    manifest["database"] = dump_database(db, folder)
    manifest["steps"]["database"] = round(time.monotonic() - started, 3)
    for part in parts:
        began = time.monotonic()
        manifest[part.name] = part.save(db, folder, previous)
        manifest["steps"][part.name] = round(time.monotonic() - began, 3)
    manifest["seconds"] = round(time.monotonic() - started, 3)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def restore_service(
    service: str, db: Database, folder: Path, migrations: Sequence[Migration], parts: Sequence[Part] = ()
) -> dict[str, Any]:
    """Put back what `backup_service` saved; then migrate and start the event log's new epoch."""
    if not (folder / MANIFEST).exists():
        raise SystemExit(f"{folder} holds no backup of {service} (no {MANIFEST})")
    report: dict[str, Any] = {"service": service, "steps": {}}
    started = time.monotonic()
    load_database(db, folder)
    report["steps"]["database"] = round(time.monotonic() - started, 3)
    began = time.monotonic()
    report["migrations_applied"] = db.migrate(service, migrations)
    epoch = ensure_epoch(db, service, restored=True)
    report["epoch"] = {"id": epoch.id, "base_seq": epoch.base_seq}
    report["steps"]["migrate_and_epoch"] = round(time.monotonic() - began, 3)
    for part in parts:
        began = time.monotonic()
        report[part.name] = part.load(db, folder)
        report["steps"][part.name] = round(time.monotonic() - began, 3)
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


# --- dated backups and their retention ------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


def start_dated(root: Path) -> Path:
    """A new folder ROOT/<UTC time>.partial for a backup to write into."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = utc_now().strftime(STAMP)
    if (root / name).exists() or (root / (name + PARTIAL)).exists():
        raise SystemExit(f"{root / name} exists already: one backup a second at most")
    folder = root / (name + PARTIAL)
    folder.mkdir(mode=0o700)
    return folder


def finish_dated(partial: Path) -> Path:
    """The complete backup (its summary written) takes its final name ROOT/<UTC time>."""
    if not (partial / SUMMARY).is_file():
        raise ValueError(f"{partial} is not complete (no {SUMMARY})")
    done = partial.with_name(partial.name.removesuffix(PARTIAL))
    partial.rename(done)
    return done


def is_complete(folder: Path) -> bool:
    return folder.is_dir() and _DATED.fullmatch(folder.name) is not None and (folder / SUMMARY).is_file()


def dated_backups(root: Path) -> tuple[list[Path], list[Path]]:
    """(complete, incomplete) dated backups of ROOT, newest first. Incomplete: a `.partial`
    folder, or a dated one without its summary. Anything else in ROOT (lost+found) is not ours."""
    complete: list[Path] = []
    incomplete: list[Path] = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name, reverse=True) if root.is_dir() else []:
        if not entry.is_dir() or _DATED.fullmatch(entry.name.removesuffix(PARTIAL)) is None:
            continue
        (complete if is_complete(entry) else incomplete).append(entry)
    return complete, incomplete


def latest_complete(root: Path) -> Path | None:
    complete, _ = dated_backups(root)
    return complete[0] if complete else None


@dataclass
class Pruned:
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)


def prune(root: Path, keep: int, written: Path) -> Pruned:
    """Remove the complete dated backups of ROOT beyond the newest `keep`, never `written` (the one
    just made, whatever its name sorts as) nor an incomplete one (failed, or still running)."""
    if keep < 1:
        raise ValueError("keep at least one backup")
    complete, incomplete = dated_backups(root)
    written = written.resolve()
    kept = [p for p in complete if p.resolve() == written]
    for folder in complete:
        if folder in kept:
            continue
        if len(kept) < keep:
            kept.append(folder)
    report = Pruned(kept=sorted((p.name for p in kept), reverse=True), incomplete=[p.name for p in incomplete])
    for folder in complete:
        if folder not in kept:
            shutil.rmtree(folder)
            report.removed.append(folder.name)
    return report
