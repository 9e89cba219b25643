"""Configuration from environment variables only; every default runs on one machine."""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("sotay.config")

SERVICE_PORTS = {"identity": 50051, "documents": 50052, "meetings": 50053, "notifications": 50054, "reports": 50055}
METRICS_PORTS = {"identity": 9101, "documents": 9102, "meetings": 9103, "notifications": 9104, "reports": 9105}
# RPC threads per server unless GRPC_WORKERS says otherwise. Identity's calls are short and
# CPU-bound: fewer threads, fewer GIL handoffs per member page (CPU per request guarded by
# bench/gateway_throughput.py). Uploads and streams want more.
GRPC_WORKERS_DEFAULT = {"identity": 4}


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from exc


# Files of the data directory that hold keys or passwords: the services' SQLite databases (the
# token signing key, password hashes, the URL and VAPID secrets …), their WAL files, the ballot
# key and the demo accounts. Each is the owner's alone (0600), the directory too (0700).
PRIVATE_FILE_PATTERNS = ("*.db", "*.db-wal", "*.db-shm", "*.key", "demo-accounts.txt")
_secured: set[Path] = set()


def restrict(path: Path, mode: int) -> None:
    """Take away from `path` every permission `mode` lacks; a looser mode found is logged."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not current & ~mode:
        return
    try:
        path.chmod(current & mode)
    except OSError as exc:  # e.g. a volume root owned by someone else
        log.warning("cannot restrict mode", extra={"fields": {"path": str(path), "mode": oct(current),
                                                             "error": str(exc)}})
        return
    log.warning("mode restricted", extra={"fields": {"path": str(path), "from": oct(current),
                                                    "to": oct(current & mode)}})


def private_file(path: Path) -> Path:
    """Create `path` if missing (0600) and make sure nobody but its owner can read it."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    restrict(path, 0o600)
    return path


def write_private(path: Path, text: str) -> None:
    private_file(path).write_text(text, encoding="utf-8")


def secure_data_files(path: Path) -> None:
    """Restrict the mode of every file of `path` that holds a key or a password (see above)."""
    for pattern in PRIVATE_FILE_PATTERNS:
        for found in sorted(path.glob(pattern)):
            restrict(found, 0o600)


def data_dir() -> Path:
    """SOTAY_DATA_DIR, else $XDG_DATA_HOME/sotay, else ~/.local/share/sotay; created 0700."""
    raw = env("SOTAY_DATA_DIR")
    if raw:
        path = Path(raw)
    else:
        base = Path(env("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        path = base / "sotay"
    if path not in _secured:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        restrict(path, 0o700)
        _secured.add(path)
    return path


def service_addr(service: str) -> str:
    """Where `service` is: `host:port`, or several (`ip:port,ip:port`: replicas, balanced)."""
    return env(f"{service.upper()}_ADDR", f"127.0.0.1:{SERVICE_PORTS[service]}")


@dataclass(frozen=True)
class ServerConfig:
    service: str
    host: str
    port: int
    metrics_port: int
    workers: int
    grace_seconds: float
    # Clients reconnect (and re-resolve) after this, so new replicas get traffic; calls open
    # then have max_connection_age_grace to finish, never less than the longest deadline.
    max_connection_age: float = 300.0
    max_connection_age_grace: float = 600.0

    @classmethod
    def from_env(cls, service: str) -> ServerConfig:
        return cls(
            service=service,
            host=env("GRPC_HOST", "127.0.0.1"),
            # GRPC_PORT, else the port of <SERVICE>_ADDR, so one variable tells servers and clients.
            port=env_int("GRPC_PORT", int(service_addr(service).split(",")[0].rsplit(":", 1)[1])),
            metrics_port=env_int("METRICS_PORT", METRICS_PORTS[service]),
            workers=env_int("GRPC_WORKERS", GRPC_WORKERS_DEFAULT.get(service, 8)),
            grace_seconds=float(env("GRPC_GRACE_SECONDS", "10")),
            max_connection_age=env_float("GRPC_MAX_CONNECTION_AGE", 300.0),
            max_connection_age_grace=connection_age_grace(),
        )


def longest_rpc_seconds() -> float:
    """The longest deadline an RPC gets: the gateway's long calls (member import and export,
    file transfers) and the live inbox stream."""
    return max(
        env_float("GATEWAY_RPC_TIMEOUT", 10.0),
        env_float("GATEWAY_LONG_RPC_TIMEOUT", 600.0),
        env_float("INBOX_WATCH_MAX_SECONDS", 300.0),
    )


def connection_age_grace() -> float:
    """GRPC_MAX_CONNECTION_AGE_GRACE, raised to the longest deadline: an aged connection is cut
    only after every call on it has had its whole deadline."""
    longest = longest_rpc_seconds()
    grace = env_float("GRPC_MAX_CONNECTION_AGE_GRACE", longest)
    if grace < longest:
        log.warning("GRPC_MAX_CONNECTION_AGE_GRACE is below the longest deadline; using that",
                    extra={"fields": {"configured": grace, "used": longest}})
    return max(grace, longest)


def _url_from_file(path: Path) -> str:
    try:
        url = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SystemExit(f"DATABASE_URL_FILE: cannot read {path}: {exc.strerror}") from exc
    if not url:
        raise SystemExit(f"DATABASE_URL_FILE: {path} is empty")
    return url


def database_url(service: str) -> str:
    """DATABASE_URL (PostgreSQL in production; `{service}` in it becomes the service's name, so one
    value serves every process of `sotay up`), else the content of the file DATABASE_URL_FILE
    names (`{service}` replaced the same way: one process reaching each service's database, e.g.
    the backup Job with every service's Secret mounted), else a SQLite file in the data directory."""
    url = env("DATABASE_URL").replace("{service}", service)
    if not url and env("DATABASE_URL_FILE"):
        url = _url_from_file(Path(env("DATABASE_URL_FILE").replace("{service}", service)))
    if url:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    path = data_dir() / f"{service}.db"
    private_file(path)  # SQLite gives its WAL files the database's mode
    for side in (f"{service}.db-wal", f"{service}.db-shm"):
        restrict(path.with_name(side), 0o600)
    return f"sqlite:///{path}"
