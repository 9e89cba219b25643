"""Database settings from the environment, session limits on PostgreSQL, waiting for the schema."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.core.db import Database, Migration, PoolSettings
from tests.conftest import need_backing, postgres_test_url

SCHEMA = [Migration(1, "a", ("CREATE TABLE a (id TEXT PRIMARY KEY)",)), Migration(2, "b", ("CREATE TABLE b (x TEXT)",))]


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert PoolSettings.from_env() == PoolSettings()
    monkeypatch.setenv("DB_POOL_SIZE", "4")
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT", "2.5")
    monkeypatch.setenv("DB_PGBOUNCER", "true")
    found = PoolSettings.from_env()
    assert (found.pool_size, found.max_overflow, found.statement_timeout, found.pgbouncer) == (4, 4, 2.5, True)
    assert "-c statement_timeout=2500" in found.session_options()
    monkeypatch.setenv("DB_LOCK_TIMEOUT", "soon")
    with pytest.raises(SystemExit, match="DB_LOCK_TIMEOUT"):
        PoolSettings.from_env()


@pytest.mark.postgres
def test_session_limits_reach_the_server() -> None:
    url = postgres_test_url(need_backing("SOTAY_TEST_DATABASE_URL")).replace("postgresql://", "postgresql+psycopg://")
    db = Database(url, settings=PoolSettings(statement_timeout=0.2, lock_timeout=7))
    try:
        with db.read() as conn:
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar_one() == "7s"
            with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
                conn.exec_driver_sql("SELECT pg_sleep(2)")
        with db.write() as conn:  # the writers' pool too
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "200ms"
    finally:
        db.dispose()


def test_a_process_waits_for_the_schema_another_applies(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    assert db.pending(SCHEMA) == [1, 2]
    with pytest.raises(SystemExit, match=r"migrations \[1, 2\] not applied"):
        db.wait_for_schema("x", SCHEMA, timeout=0)
    job = threading.Timer(0.5, lambda: Database(f"sqlite:///{tmp_path / 'x.db'}").migrate("x", SCHEMA))
    job.start()
    began = time.monotonic()
    db.wait_for_schema("x", SCHEMA, timeout=30)
    assert db.pending(SCHEMA) == [] and time.monotonic() - began >= 0.4
    job.join()
    db.dispose()
