"""Signed, expiring download tokens for the local file backend (served through the gateway).

A token names one document version and its expiry, signed with HMAC-SHA256 under a secret
kept in the service's database (shared by every replica). It is a capability: the permission
check happened when it was issued (GetDownloadUrl), so FetchFile needs no access token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

import sqlalchemy as sa

from services.core.config import env
from services.core.db import Database
from services.core.errors import PermissionDenied

FILES_PATH = "/api/v1/files/"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._secret: bytes | None = None

    def secret(self) -> bytes:
        if self._secret is None:
            configured = env("DOCUMENTS_URL_SECRET")
            if configured:
                self._secret = configured.encode()
            else:
                with self.db.write() as conn:
                    self.db.lock(conn, "documents-url-secret")
                    value = conn.execute(
                        sa.text("SELECT value FROM service_secrets WHERE name = 'download-url'")
                    ).scalar()
                    if value is None:
                        value = secrets.token_urlsafe(32)
                        conn.execute(
                            sa.text("INSERT INTO service_secrets (name, value) VALUES ('download-url', :v)"),
                            {"v": value},
                        )
                self._secret = str(value).encode()
        return self._secret

    def sign(self, document_id: str, version: int, ttl_seconds: int) -> tuple[str, float]:
        expires = time.time() + ttl_seconds
        payload = _b64(json.dumps({"d": document_id, "v": version, "e": int(expires)}).encode())
        mac = _b64(hmac.new(self.secret(), payload.encode(), hashlib.sha256).digest())
        return f"{payload}.{mac}", float(int(expires))

    def verify(self, token: str) -> tuple[str, int]:
        try:
            payload, mac = token.split(".", 1)
            expected = _b64(hmac.new(self.secret(), payload.encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(expected, mac):
                raise ValueError("signature")
            claims = json.loads(_unb64(payload))
            if float(claims["e"]) < time.time():
                raise PermissionDenied("link_expired", "this download link has expired; ask for a new one")
            return str(claims["d"]), int(claims["v"])
        except PermissionDenied:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise PermissionDenied("link_invalid", "this download link is not valid") from exc
