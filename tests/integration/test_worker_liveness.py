"""A real worker process whose loop hangs fails its /healthz, and passes again once the loop turns:
the relay of a PostgreSQL database waits on its advisory lock, held here by another session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import need_backing
from tests.support.processes import free_port

pytestmark = pytest.mark.integration


def health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def wait_for(port: int, status: int, seconds: float) -> tuple[dict, float]:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        code, body = health(port)
        if code == status and body.get("loops", {}).get("relay", {}).get("rounds", 0) > 0:
            return body, time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"/healthz did not answer {status} within {seconds} s: {health(port)}")


def test_a_relay_hung_on_its_lock_fails_health_until_it_turns_again(tmp_path: Path) -> None:
    base = need_backing("SOTAY_TEST_DATABASE_URL").rstrip("/")
    name = "sotay_liveness_" + uuid.uuid4().hex[:8]  # advisory locks are per database: one of its own
    server = sa.create_engine(f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/postgres",
                              isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"{base}/{name}"
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, METRICS_PORT=str(port - 100), SOTAY_DATA_DIR=str(tmp_path),
               WORKER_STALL_MIN_SECONDS="3", WORKER_STALL_INTERVALS="1", DB_LOCK_TIMEOUT="0", LOG_FORMAT="json")
    log = (tmp_path / "relay.log").open("w")
    worker = subprocess.Popen([sys.executable, "-m", "services.meetings", "relay"], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    holder = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        wait_for(port, 200, 120)  # migrated, relaying
        with holder.begin() as conn:  # the relay's lock, held as a long transaction would
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(b"outbox-relay:meetings")})
            body, took = wait_for(port, 503, 30)
            assert body["status"] == "stalled" and body["loops"]["relay"]["stalled"]
            assert body["loops"]["relay"]["seconds_since_round"] > 3
        wait_for(port, 200, 30)  # the lock released: the round completes, the loop turns
        assert 3 <= took < 30
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
        holder.dispose()
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        server.dispose()
    assert "worker loop stalled" in (tmp_path / "relay.log").read_text(encoding="utf-8")
