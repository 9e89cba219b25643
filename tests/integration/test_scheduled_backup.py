"""The nightly backup as the CronJob `backup` runs it (k8s/base/backup.yaml), on the real
PostgreSQL: each service's URL from its own file (DATABASE_URL_FILE), `sotay backup --keep N ROOT`
night after night (pg_dump), the oldest removed, then `sotay restore --latest ROOT` (pg_restore)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.cli import SERVICES
from tests.conftest import need_backing
from tests.support.processes import SOTAY

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def urls(tmp_path: Path) -> Iterator[Path]:
    """A database of this test's own per service, each URL in a file of its own (as the Secrets
    are mounted), dropped afterwards."""
    base = need_backing("SOTAY_TEST_DATABASE_URL").rstrip("/")
    prefix = "sotay_nightly_" + uuid.uuid4().hex[:8]
    server = sa.create_engine(f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/postgres",
                              isolation_level="AUTOCOMMIT")
    folder = tmp_path / "database-url"
    folder.mkdir()
    with server.connect() as conn:
        for service in SERVICES:
            conn.execute(sa.text(f'CREATE DATABASE "{prefix}_{service}"'))
            (folder / service).write_text(f"{base}/{prefix}_{service}\n")
    try:
        yield folder
    finally:
        with server.connect() as conn:
            for service in SERVICES:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{prefix}_{service}" WITH (FORCE)'))
        server.dispose()


def sotay(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([SOTAY, *args], env=env, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def accounts(url_file: Path) -> list[str]:
    engine = sa.create_engine(url_file.read_text().strip().replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        names = sorted(conn.execute(sa.text("SELECT username FROM accounts")).scalars())
    engine.dispose()
    return names


@pytest.mark.timeout(600)
def test_nightly_backups_on_postgres_keep_the_newest_and_restore_the_latest(tmp_path: Path, urls: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "S3_ENDPOINT", "ELASTICSEARCH_URL", "DOCUMENTS_FILES_DIR")}
    env.update(DATABASE_URL_FILE=str(urls / "{service}"), SOTAY_DATA_DIR=str(tmp_path / "data"), METRICS_PORT="0",
               **{f"{s.upper()}_ADDR": "127.0.0.1:9" for s in SERVICES})  # nothing serves: restore may go on
    root = tmp_path / "backups"
    sotay(env, "migrate")
    nights = []
    for night, user in enumerate(("dem-mot", "dem-hai", "dem-ba")):
        sotay(env, "create-admin", "--username", user, "--password", f"Mat-khau-dai-{night}")
        out = sotay(env, "backup", "--keep", "2", str(root))
        nights.append(out.split("backup in ", 1)[1].split(" ", 1)[0])
        time.sleep(1.1)  # one backup a second at most: the folder is named by the second
    kept = sorted(p.name for p in root.iterdir())
    assert kept == sorted(Path(n).name for n in nights[1:]), (kept, nights)
    newest = Path(nights[-1])
    summary = json.loads((newest / "backup.json").read_text())
    assert set(summary["services"]) == set(SERVICES)
    for service in SERVICES:
        dump = newest / service / "database.dump"
        assert dump.stat().st_size > 0 and dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
        assert dump.stat().st_mode & 0o077 == 0

    sotay(env, "create-admin", "--username", "sau-sao-luu", "--password", "Mat-khau-dai-9")
    out = sotay(env, "restore", "--latest", str(root), "--service", "identity")
    assert f"restoring {newest}" in out
    assert accounts(urls / "identity") == ["dem-ba", "dem-hai", "dem-mot"]
