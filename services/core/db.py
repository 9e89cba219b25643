"""Database access for one service: SQLite by default, PostgreSQL through DATABASE_URL.

Migrations are ordered lists of portable SQL statements. `{path}` in a statement stands for a
text column compared byte-wise (COLLATE "C" on PostgreSQL, SQLite's default BINARY), which
prefix range scans on materialised paths rely on. Where the dialects part (triggers), a
migration gives PostgreSQL its own statements.
"""

from __future__ import annotations

import contextlib
import logging
import re
import select
import time
import zlib
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from services.core.config import database_url, env, env_float, env_int

log = logging.getLogger("sotay.db")


@dataclass(frozen=True)
class PoolSettings:
    """PostgreSQL connections of one process (README, "Databases"; docs/operations.md)."""

    pool_size: int = 10  # per engine: a process has two (writes, autocommit reads)
    max_overflow: int = 10
    pool_timeout: float = 30.0  # waiting for a free connection
    recycle: float = 300.0
    connect_timeout: float = 5.0
    connect_retry: float = 10.0  # a new connection is retried this long while the server is down
    statement_timeout: float = 600.0  # 0: none
    lock_timeout: float = 30.0
    idle_in_transaction_timeout: float = 300.0
    pgbouncer: bool = False  # transaction pooling: no prepared statements, no startup options

    @classmethod
    def from_env(cls, pool_size: int | None = None) -> PoolSettings:
        size = env_int("DB_POOL_SIZE", pool_size or 10)
        return cls(
            pool_size=size,
            max_overflow=env_int("DB_MAX_OVERFLOW", size),
            pool_timeout=env_float("DB_POOL_TIMEOUT", 30.0),
            recycle=env_float("DB_POOL_RECYCLE", 300.0),
            connect_timeout=env_float("DB_CONNECT_TIMEOUT", 5.0),
            connect_retry=env_float("DB_CONNECT_RETRY_SECONDS", 10.0),
            statement_timeout=env_float("DB_STATEMENT_TIMEOUT", 600.0),
            lock_timeout=env_float("DB_LOCK_TIMEOUT", 30.0),
            idle_in_transaction_timeout=env_float("DB_IDLE_IN_TRANSACTION_TIMEOUT", 300.0),
            pgbouncer=env("DB_PGBOUNCER", "false").lower() in ("1", "true", "yes"),
        )

    def session_options(self) -> str:
        """Session settings sent at connect (`options`); through PgBouncer set them on the role."""
        settings = {
            "statement_timeout": self.statement_timeout,
            "lock_timeout": self.lock_timeout,
            "idle_in_transaction_session_timeout": self.idle_in_transaction_timeout,
        }
        return " ".join(f"-c {name}={int(seconds * 1000)}" for name, seconds in settings.items())


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: Sequence[str]
    postgres: Sequence[str] | None = None  # instead of `statements` on PostgreSQL, when given

    def statements_for(self, postgres: bool) -> Sequence[str]:
        return self.postgres if postgres and self.postgres is not None else self.statements


class Database:
    def __init__(self, url: str, pool_size: int = 10, settings: PoolSettings | None = None) -> None:
        self.url = url
        self.reader: Engine | None = None  # PostgreSQL: connections that stay in autocommit
        self.settings = settings or PoolSettings.from_env(pool_size)
        if url.startswith("sqlite"):
            # A connection per thread that may hold one, kept open (connecting runs the PRAGMAs).
            self.engine: Engine = sa.create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=pool_size, max_overflow=4 * pool_size,
            )
            _sqlite_setup(self.engine)
        else:
            # No ping per checkout (a round trip per call): a checkout looks whether the server
            # closed the connection (its socket readable, no round trip) and reconnects then, so a
            # restarted server costs no errors once it is back; connections are recycled too.
            conf = self.settings
            pool: dict[str, Any] = {
                "pool_size": conf.pool_size, "max_overflow": conf.max_overflow,
                "pool_timeout": conf.pool_timeout, "pool_recycle": conf.recycle,
            }
            if conf.pgbouncer:  # server-side prepared statements do not survive transaction pooling
                pool["connect_args"] = {"prepare_threshold": None}
            self.engine = sa.create_engine(url, **pool)
            # Reads get a pool of their own, so no read switches a pooled connection to autocommit
            # and back (client CPU per read: bench/gateway_throughput.py --postgres). Connections
            # are opened as threads need them.
            self.reader = sa.create_engine(url, isolation_level="AUTOCOMMIT", **pool)
            for engine in (self.engine, self.reader):
                _postgres_setup(engine, conf)

    service = ""  # whose database (for_service): names it as a reader of other services' logs

    @classmethod
    def for_service(cls, service: str) -> Database:
        db = cls(database_url(service))
        db.service = service
        return db

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that will write (SQLite takes the write lock up front)."""
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self, streaming: bool = False) -> Iterator[Connection]:
        """Reads only. PostgreSQL's READ COMMITTED takes a snapshot per statement even inside a
        transaction, so reads run in autocommit: the same view, without BEGIN/ROLLBACK round trips.
        `streaming` (server-side cursors, `yield_per`) needs a real transaction there."""
        if self.reader is not None and not streaming:
            with self.reader.connect() as conn:
                yield conn
            return
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def lock(self, conn: Connection, name: str) -> None:
        """Serialise writers on `name` until the transaction ends (PostgreSQL advisory lock)."""
        lock(conn, name)

    def migrate(self, service: str, migrations: Sequence[Migration]) -> list[int]:
        """Apply pending migrations in one transaction; safe to run from several replicas."""
        path_type = 'TEXT COLLATE "C"' if self.is_postgres else "TEXT"
        with self.write() as conn:
            self.lock(conn, f"migrate:{service}")
            conn.execute(
                sa.text(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
                )
            )
            done = set(conn.execute(sa.text("SELECT version FROM schema_migrations")).scalars())
            applied = []
            for migration in sorted(migrations, key=lambda m: m.version):
                if migration.version in done:
                    continue
                for statement in migration.statements_for(self.is_postgres):
                    conn.exec_driver_sql(statement.replace("{path}", path_type))
                conn.execute(
                    sa.text("INSERT INTO schema_migrations VALUES (:v, :n, :t)"),
                    {"v": migration.version, "n": migration.name, "t": time.time()},
                )
                applied.append(migration.version)
            return applied

    def pending(self, migrations: Sequence[Migration]) -> list[int]:
        """Versions of `migrations` not applied yet (all of them on an empty database)."""
        with self.read() as conn:
            try:
                done = set(conn.execute(sa.text("SELECT version FROM schema_migrations")).scalars())
            except sa.exc.ProgrammingError:  # PostgreSQL: no table yet
                return sorted(m.version for m in migrations)
            except sa.exc.OperationalError as exc:  # SQLite: no table yet
                if "no such table" not in str(exc):
                    raise
                return sorted(m.version for m in migrations)
        return sorted(m.version for m in migrations if m.version not in done)

    def wait_for_schema(self, service: str, migrations: Sequence[Migration], timeout: float) -> None:
        """Wait until another process (the release's migration Job) has applied every migration;
        SystemExit after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while missing := self.pending(migrations):
            if time.monotonic() > deadline:
                raise SystemExit(f"{service}: migrations {missing} not applied after {timeout:.0f} s: "
                                 f"run `python -m services.{service} migrate` (the migration Job)")
            log.info("waiting for migrations %s of %s (the migration Job applies them)", missing, service)
            time.sleep(2.0)

    def dispose(self) -> None:
        self.engine.dispose()
        if self.reader is not None:
            self.reader.dispose()


def _postgres_setup(engine: Engine, conf: PoolSettings) -> None:
    @event.listens_for(engine, "do_connect")
    def connect(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        cparams.setdefault("connect_timeout", max(1, int(conf.connect_timeout)))
        cparams.setdefault("keepalives_idle", 30)  # a peer gone without a FIN is noticed
        if not conf.pgbouncer:
            cparams["options"] = f"{cparams.get('options', '')} {conf.session_options()}".strip()
        deadline = time.monotonic() + conf.connect_retry
        delay = 0.1
        while True:
            try:
                return dialect.connect(*cargs, **cparams)
            except dialect.loaded_dbapi.OperationalError:
                if time.monotonic() + delay > deadline:
                    raise
                log.info("database not reachable, retrying in %.1f s", delay)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    @event.listens_for(engine, "checkout")
    def checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if closed_by_server(dbapi_conn):
            raise sa.exc.DisconnectionError("the server closed this connection")  # the pool reconnects


def closed_by_server(dbapi_conn: Any) -> bool:
    """Whether an idle connection has something to read — the server's goodbye (a restart, an
    idle timeout) or its end of file — or is broken: then it is no use. No round trip."""
    if getattr(dbapi_conn, "broken", False) or getattr(dbapi_conn, "closed", False):
        return True
    try:
        poller = select.poll()
        poller.register(dbapi_conn.pgconn.socket, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return True


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_write")
        # Straight to the driver: this runs for every transaction.
        _on_driver(conn, "BEGIN IMMEDIATE" if immediate else "BEGIN", {}, lambda c: None)


def lock(conn: Connection, name: str) -> None:
    """Database.lock for code that holds only the connection: a PostgreSQL advisory lock until the
    transaction ends (SQLite's write transactions are serialised already)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(name.encode())})


def rows(result: sa.CursorResult[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in result.mappings()]


# ---------- the hot-path reads ----------

_NAMED_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_pyformat: dict[str, str] = {}
_row_types: dict[tuple[str, ...], Any] = {}


def _row_type(description: Sequence[Any]) -> Any:
    names = tuple(d[0] for d in description)
    found = _row_types.get(names)
    if found is None:
        found = _row_types[names] = namedtuple("Row", names, rename=True)  # type: ignore[misc]
    return found


def _driver_sql(conn: Connection, sql: str) -> str:
    """`:name` parameters as the driver takes them (psycopg: %(name)s, sqlite3: as written)."""
    if conn.dialect.name != "postgresql":
        return sql
    converted = _pyformat.get(sql)
    if converted is None:
        if len(_pyformat) >= 2000:  # bounded: statements built per call (multi-row VALUES) vary
            _pyformat.clear()
        converted = _pyformat[sql] = _NAMED_PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))
    return converted


def fetch(conn: Connection, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
    """Rows of one statement, run by the driver on `conn`'s own transaction, as named tuples
    (`row.id`, `row[0]`, `row._asdict()`); `:name` parameters as in `sa.text()`.

    For small reads on hot paths: there SQLAlchemy's per-statement work (text clause, cache key,
    result metadata, row proxies) costs several times the query itself."""
    found, make = _on_driver(conn, _driver_sql(conn, sql), params or {},
                             lambda c: (c.fetchall(), _row_type(c.description)._make))
    return [make(r) for r in found]


def execute(conn: Connection, sql: str, params: Mapping[str, Any] | None = None) -> int:
    """One statement without rows (an INSERT, UPDATE...), run by the driver on `conn`'s own
    transaction as `fetch` runs a query; returns the row count. For the writes of hot paths."""
    return int(_on_driver(conn, _driver_sql(conn, sql), params or {}, lambda c: c.rowcount))


def _on_driver(conn: Connection, sql: str, params: Mapping[str, Any], read: Callable[[Any], Any]) -> Any:
    """Run `sql` on the driver's connection; its errors become SQLAlchemy's (DBAPIError
    subclasses: OperationalError is what callers map to UNAVAILABLE, IntegrityError a conflict),
    and a connection found dead is invalidated, as SQLAlchemy's own execution does."""
    dbapi = conn.connection.dbapi_connection
    cursor = dbapi.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return read(cursor)
    except conn.dialect.loaded_dbapi.Error as exc:
        if conn.dialect.is_disconnect(exc, dbapi, cursor):
            conn.invalidate(exc)
        raise sa.exc.DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error) from exc
    finally:
        with contextlib.suppress(Exception):  # the statement's error, if any, is what counts
            cursor.close()


def fetch_one(conn: Connection, sql: str, params: Mapping[str, Any] | None = None) -> Any | None:
    """The first row of `fetch`, or None."""
    found = fetch(conn, sql, params)
    return found[0] if found else None
