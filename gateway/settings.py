"""Gateway settings, read once from environment variables (every default runs on one machine)."""

from __future__ import annotations

from dataclasses import dataclass

from services.core.config import env, env_int
from services.core.slots import cap_below

MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    # Largest JSON (or other) request body; routes may allow more (the member import does).
    max_body_bytes: int = 1 * MIB
    # Largest member import upload (identity refuses files above 200 MiB).
    max_import_bytes: int = 200 * MIB
    # Login attempts per client IP per minute, counted in this process only.
    login_rate_limit: int = 20
    # How many reverse proxies in front of us append to X-Forwarded-For (0: ignore the header).
    trusted_proxies: int = 0
    # Send Strict-Transport-Security (only when the gateway is reached over HTTPS).
    hsts: bool = False
    # Backend services /readyz checks (their addresses come from <NAME>_ADDR).
    backends: tuple[str, ...] = ("identity", "documents", "meetings", "notifications")
    # Deadline of an ordinary gRPC call, and of the long ones (member import and export).
    rpc_timeout: float = 10.0
    long_rpc_timeout: float = 600.0
    # Live streams (SSE) one worker holds at once, in all and per member; always below the
    # worker's threads (GATEWAY_THREADS), so ordinary requests still find one (gateway.streams).
    max_streams: int = 4
    max_streams_per_member: int = 2

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            max_body_bytes=env_int("GATEWAY_MAX_BODY_BYTES", 1 * MIB),
            max_import_bytes=env_int("GATEWAY_MAX_IMPORT_BYTES", 200 * MIB),
            login_rate_limit=env_int("LOGIN_RATE_LIMIT", 20),
            trusted_proxies=env_int("GATEWAY_TRUSTED_PROXIES", 0),
            hsts=env("GATEWAY_HSTS", "0").lower() in ("1", "true", "yes"),
            backends=tuple(
                b.strip()
                for b in env("GATEWAY_BACKENDS", "identity,documents,meetings,notifications").split(",")
                if b.strip()
            ),
            rpc_timeout=float(env_int("GATEWAY_RPC_TIMEOUT", 10)),
            long_rpc_timeout=float(env_int("GATEWAY_LONG_RPC_TIMEOUT", 600)),
            max_streams=max_streams(),
            max_streams_per_member=env_int("GATEWAY_MAX_STREAMS_PER_MEMBER", 2),
        )


def max_streams() -> int:
    """GATEWAY_MAX_STREAMS, by default half the worker's threads; never all of them."""
    return cap_below("GATEWAY_MAX_STREAMS", env_int("GATEWAY_THREADS", 8), "GATEWAY_THREADS")
