"""Caps on long-lived responses (the live inbox, Server-Sent Events) in one gateway worker.

A stream holds one of the worker's request threads for its whole life, so a worker admits at
most `GATEWAY_MAX_STREAMS` at once (below `GATEWAY_THREADS`: ordinary requests always find a
thread) and a member at most `GATEWAY_MAX_STREAMS_PER_MEMBER`. A request beyond either cap is
answered at once: 503 `streams_full` (retry later, another worker may have room) or 429
`too_many_streams` (the member's other tabs hold them).
"""

from __future__ import annotations

import base64
import binascii
import json

from gateway.errors import ApiError
from services.core.slots import Slot, Slots, SlotsFull


class StreamLimiter(Slots):
    def __init__(self, total: int, per_key: int) -> None:
        from gateway.metrics import STREAMS_OPEN

        super().__init__(total, per_key, on_change=STREAMS_OPEN.inc)

    def admit(self, member: str) -> Slot:
        try:
            return self.acquire(member)
        except SlotsFull as full:
            if full.scope == "total":
                raise ApiError(503, "streams_full", "too many live streams are open on this server, try again shortly",
                               {"limit": full.limit}, headers={"Retry-After": "5"}) from None
            raise ApiError(429, "too_many_streams", "you have too many live streams open; close one first",
                           {"limit": full.limit}, headers={"Retry-After": "30"}) from None


def token_subject(token: str) -> str:
    """The `sub` claim of a JWT, read without verifying it (the service does): only a key for
    counting streams. A token that does not parse counts under ""."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        return ""
    return str(claims.get("sub", "")) if isinstance(claims, dict) else ""
