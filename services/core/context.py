"""Per-call context: the request id and the authenticated principal of the current RPC."""

from __future__ import annotations

import contextvars
import secrets

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def new_request_id() -> str:
    """32 random hex digits: also the trace id (tracing.py), whose ratio sampling reads its last 16
    digits, all random here (a UUIDv4 fixes two of those bits)."""
    return secrets.token_hex(16)


def current_request_id() -> str:
    return request_id_var.get()
