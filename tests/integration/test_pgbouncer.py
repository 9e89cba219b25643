"""Through PgBouncer in transaction pooling (Debian's pgbouncer, in front of the shared test
server): migrations, the outbox and its relay, and the same statements again and again from more
threads than PgBouncer has server connections (DB_PGBOUNCER=true)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.core.db import Database, PoolSettings
from services.core.events import topic_of
from services.core.outbox import emit, ensure_epoch, read_events, relay_once
from services.identity.migrations import MIGRATIONS
from sotay.events.v1.identity_events_pb2 import UnitRenamed
from tests.conftest import IN_CI, need_backing
from tests.support.processes import free_port

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def bouncer() -> Iterator[str]:
    """A database of its own on the test server, and PgBouncer in front: its URL through PgBouncer."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.path.exists(binary):
        if IN_CI:
            pytest.fail("CI needs Debian's pgbouncer")
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    server = sa.make_url(need_backing("SOTAY_TEST_DATABASE_URL").rstrip("/") + "/postgres")
    name = "pgb_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(server.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    folder = Path(tempfile.mkdtemp(prefix="sotay-pgbouncer-"))
    folder.chmod(0o755)  # PgBouncer refuses to run as root: it runs as `postgres` when we are root
    port = free_port()
    (folder / "users.txt").write_text(f'"{server.username}" "{server.password}"\n')
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\n* = host={server.host} port={server.port}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = plain\nauth_file = {folder / 'users.txt'}\npool_mode = transaction\n"
        "default_pool_size = 4\nmax_client_conn = 200\n"
        f"logfile = {folder / 'pgbouncer.log'}\n"
    )
    for f in folder.iterdir():
        f.chmod(0o644)
    user = {"user": "postgres"} if os.geteuid() == 0 else {}
    if user:
        shutil.chown(folder, "postgres")  # its log goes there
    process = subprocess.Popen([binary, str(folder / "pgbouncer.ini")], **user)  # type: ignore[call-overload]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with sa.create_engine(f"postgresql+psycopg://{server.username}:{server.password}@127.0.0.1:{port}/{name}",
                                      poolclass=sa.pool.NullPool).connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
                break
            except sa.exc.OperationalError:
                assert time.monotonic() < deadline, (folder / "pgbouncer.log").read_text()
                time.sleep(0.2)
        yield f"postgresql+psycopg://{server.username}:{server.password}@127.0.0.1:{port}/{name}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def test_the_services_database_code_works_in_transaction_pooling(bouncer: str) -> None:
    db = Database(bouncer, settings=PoolSettings(pgbouncer=True, pool_size=8, max_overflow=8))
    try:
        assert db.migrate("identity", MIGRATIONS)  # advisory transaction locks, DDL
        assert db.migrate("identity", MIGRATIONS) == []
        ensure_epoch(db, "identity")
        errors: list[str] = []

        def client(n: int) -> None:
            for i in range(25):  # the same statements far beyond psycopg's preparing threshold (5)
                try:
                    with db.write() as conn:
                        db.lock(conn, "test")
                        emit(conn, f"{n}-{i}", UnitRenamed(unit_id=f"{n}-{i}", name="test"))
                    with db.read() as conn:
                        key = {"k": f"{n}-{i}"}
                        conn.execute(sa.text("SELECT count(*) FROM outbox WHERE key = :k"), key).scalar_one()
                except sa.exc.DBAPIError as exc:
                    errors.append(str(exc).splitlines()[0])

        threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]  # 12 clients, 4 server connections
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        while relay_once(db, "identity", batch=100):
            pass
        with db.read(streaming=True) as conn:  # a server-side cursor inside its transaction
            seen = [r[0] for r in conn.execution_options(yield_per=50).execute(sa.text("SELECT seq FROM outbox"))]
        assert sorted(seen) == list(range(1, 12 * 25 + 1))
        with db.read() as conn:
            assert len(read_events(conn, 0, 1000, [topic_of(UnitRenamed)])[0]) == 300
    finally:
        db.dispose()


def test_without_the_setting_pgbouncer_refuses_the_session_options(bouncer: str) -> None:
    db = Database(bouncer, settings=PoolSettings(pgbouncer=False, connect_retry=0))
    try:
        with pytest.raises(sa.exc.OperationalError, match="options"), db.read() as conn:
            conn.exec_driver_sql("SELECT 1")
    finally:
        db.dispose()
