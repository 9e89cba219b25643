"""Web Push (RFC 8030) with VAPID (RFC 8292); payloads encrypted as aes128gcm (RFC 8291) by pywebpush."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush

from services.core.config import env

GONE = (404, 410)  # the subscription no longer exists: forget it


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    gone: bool = False
    error: str = ""


def send(
    vapid: Vapid02, endpoint: str, p256dh: str, auth: str, payload: dict[str, Any], ttl: int = 86400
) -> Outcome:
    info = {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
    try:
        webpush(
            info,
            data=json.dumps(payload, ensure_ascii=False),
            vapid_private_key=vapid,
            vapid_claims={"sub": env("VAPID_SUBJECT", "mailto:no-reply@sotay.local")},
            content_encoding="aes128gcm",
            ttl=ttl,
            timeout=float(env("WEBPUSH_TIMEOUT", "10")),
        )
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else 0
        return Outcome(False, gone=status in GONE, error=f"push service answered {status}")
    except (requests.RequestException, ValueError, TypeError) as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {str(exc)[:200]}")
    return Outcome(True)
