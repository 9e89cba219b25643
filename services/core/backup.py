"""Backup and restore of a service's database (docs/operations.md, "Backup and restore").

PostgreSQL: `pg_dump --format=custom` and `pg_restore` (Debian's postgresql-client) into the emptied
schema; SQLite: the online backup API. A restore then migrates (a backup may predate the code)
and starts a new epoch of the service's event log, so consumers that read past the backup go
back to it (services.core.outbox). Services are stopped while their database is restored.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from services.core.db import Database, Migration
from services.core.outbox import ensure_epoch

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Part:
    """What a service backs up besides its database (documents: its files, its search index)."""

    name: str
    save: Callable[[Database, Path], dict[str, Any]]
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


def backup_service(service: str, db: Database, folder: Path, parts: Sequence[Part] = ()) -> dict[str, Any]:
    """The service's database, then its other parts, into `folder`; the manifest says what and
    how long each step took."""
    manifest: dict[str, Any] = {"service": service, "started_at": time.time(), "steps": {}}
    started = time.monotonic()
    manifest["database"] = dump_database(db, folder)
    manifest["steps"]["database"] = round(time.monotonic() - started, 3)
    for part in parts:
        began = time.monotonic()
        manifest[part.name] = part.save(db, folder)
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
