"""A PostgreSQL server of the test's own (scripts/backing-services on another folder and port), for
tests that stop, restart or destroy it: the shared backing server is never touched."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "backing-services"
DATABASES = ("identity", "documents", "meetings", "notifications", "reports")


@dataclass
class OwnPostgres:
    folder: Path
    port: int

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, SOTAY_BACKING_DIR=str(self.folder), SOTAY_PG_PORT=str(self.port))

    def url(self, database: str) -> str:
        return f"postgresql://sotay:sotay@127.0.0.1:{self.port}/{database}"

    @property
    def template(self) -> str:
        """DATABASE_URL for every service: `{service}` becomes its name."""
        return self.url("{service}")

    def _script(self, *args: str) -> None:
        done = subprocess.run([sys.executable, str(SCRIPT), *args], env=self.env, capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, f"backing-services {' '.join(args)}:\n{done.stdout}\n{done.stderr}"

    def start(self) -> None:
        self._script("up", "postgres")
        self._script("createdb", *DATABASES)

    def stop(self) -> None:
        self._script("down", "postgres")

    def restart(self) -> float:
        """Stop (fast shutdown: clients are cut) and start again; returns the seconds it was down."""
        began = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - began

    def recreate_databases(self) -> None:
        """Drop every service's database and create it empty (a lost server)."""
        admin = sa.create_engine(self.url("postgres").replace("postgresql://", "postgresql+psycopg://"),
                                 isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in DATABASES:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()


@contextmanager
def own_postgres(folder: Path) -> Iterator[OwnPostgres]:
    folder.mkdir(parents=True, exist_ok=True)
    server = OwnPostgres(folder.resolve(), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        # as root the cluster may live in /var/tmp (scripts/backing-services, Postgres.data_dir)
        digest = hashlib.sha256(str(server.folder).encode()).hexdigest()[:12]
        shutil.rmtree(Path("/var/tmp") / f"sotay-backing-{digest}", ignore_errors=True)
        shutil.rmtree(server.folder, ignore_errors=True)
