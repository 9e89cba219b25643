"""Test fixtures shared by every suite.

Backing servers (PostgreSQL, Elasticsearch, S3, SMTP) come from scripts/backing-services, started
once per session (or reused when already running). Where a server cannot be provided, its suites
are skipped with the reason — except in CI (CI=true), where that fails the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.core.db import Database

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
_backing: dict[str, object] = {}


def backing_env() -> dict[str, str]:
    """Start (or reuse) the backing servers once; their connection settings, or {} with a reason."""
    if "env" not in _backing:
        script = ROOT / "scripts" / "backing-services"
        if os.environ.get("SOTAY_TEST_BACKING", "1") == "0":
            _backing.update(env={}, reason="SOTAY_TEST_BACKING=0")
        else:
            up = subprocess.run([sys.executable, str(script), "up"], capture_output=True, text=True, check=False)
            if up.returncode != 0:
                _backing.update(env={}, reason=f"scripts/backing-services up failed:\n{up.stdout}\n{up.stderr}")
            else:
                out = subprocess.run(
                    [sys.executable, str(script), "env", "--json"], capture_output=True, text=True, check=True
                )
                _backing.update(env=json.loads(out.stdout), reason="")
    return _backing["env"]  # type: ignore[return-value]


def need_backing(key: str) -> str:
    """A backing server setting: from the environment when set there, else from backing-services."""
    value = os.environ.get(key) or backing_env().get(key, "")
    if not value:
        reason = str(_backing.get("reason") or f"{key} not provided by scripts/backing-services")
        if IN_CI:
            pytest.fail(f"CI needs the real backing server for {key}: {reason}")
        pytest.skip(reason)
    return value


def _pg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def postgres_test_url(base_url: str) -> str:
    """The `sotay_test` database on the test server, created on first use."""
    if "pg_url" not in _backing:
        server = sa.create_engine(_pg(base_url.rstrip("/") + "/postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = 'sotay_test'")).first():
                conn.execute(sa.text("CREATE DATABASE sotay_test"))
        server.dispose()
        _backing["pg_url"] = base_url.rstrip("/") + "/sotay_test"
    return str(_backing["pg_url"])


def _postgres_schema_db(base_url: str) -> Iterator[Database]:
    """A fresh schema per test, so tests never see each other's rows."""
    schema = "t_" + uuid.uuid4().hex[:12]
    url = _pg(postgres_test_url(base_url))
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    db = Database(f"{url}?options=-csearch_path%3D{schema}")
    try:
        yield db
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Each test using a database runs on both backends."""
    return str(request.param)


@pytest.fixture
def make_database(backend: str, tmp_path: Path) -> Iterator[Callable[[], Database]]:
    """Makes empty databases on the test's backend (one per service under test)."""
    opened: list[Iterator[Database]] = []

    def make() -> Database:
        if backend == "sqlite":
            gen: Iterator[Database] = _sqlite_db(tmp_path / f"db{len(opened)}.sqlite")
        else:
            gen = _postgres_schema_db(need_backing("SOTAY_TEST_DATABASE_URL"))
        opened.append(gen)
        return next(gen)

    yield make
    for gen in opened:
        for _ in gen:  # runs each generator's clean-up
            pass


def _sqlite_db(path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{path}")
    yield db
    db.dispose()


@pytest.fixture
def database(make_database: Callable[[], Database]) -> Database:
    """An empty database on each backend; the same tests run on both."""
    return make_database()
