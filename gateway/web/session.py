"""Browser sessions: identity's tokens kept in one encrypted cookie.

The cookie holds the access and refresh tokens, the access token's expiry, the CSRF token and
what every page header shows (the member's name and unit name), as JSON sealed with AES-256-GCM
under a key derived from GATEWAY_SECRET_KEY: the browser can neither read nor alter it. It is
HttpOnly, SameSite=Lax, and Secure when the request came over HTTPS.

An access token about to expire is traded for new tokens with the refresh token before the page
is served. Refresh tokens rotate and a reused one revokes the whole login, so two requests of the
same browser refreshing at once must not both spend the old token: within a process, the new
tokens are remembered for a short while under the old token's hash and handed to the second.
(Across gateway processes the race remains; identity then ends that login and the member signs
in again.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Response, current_app, g, request

from gateway import clients
from services.core.config import data_dir, env
from sotay.identity.v1 import identity_pb2 as ipb

COOKIE = "sotay_session"
VERSION = 1
REFRESH_MARGIN = 30  # seconds before expiry when the access token is renewed
MAX_COOKIE_AGE = 30 * 86400  # the refresh token's default lifetime
SECRET_FILE = "gateway-secret.key"  # noqa: S105 - a file name, not a secret
REFRESH_GRACE = 60.0


def secret_key() -> bytes:
    """GATEWAY_SECRET_KEY, else a key generated once into the data directory (mode 0600)."""
    given = env("GATEWAY_SECRET_KEY")
    if given:
        if len(given) < 32:
            raise SystemExit("GATEWAY_SECRET_KEY must be at least 32 characters")
        return given.encode()
    path = data_dir() / SECRET_FILE
    if not path.exists():
        _create_secret(path)
    return path.read_bytes().strip()


def _create_secret(path: Path) -> None:
    """Written to a private temporary file and linked into place: of processes starting together,
    the first link wins and the others read its key."""
    tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, base64.urlsafe_b64encode(secrets.token_bytes(32)) + b"\n")
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


class Sealer:
    """AES-256-GCM with a key derived from the secret; the cookie name is bound as associated data."""

    def __init__(self, secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sotay web session v1").derive(secret)
        self.aead = AESGCM(key)

    def seal(self, data: dict[str, Any]) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self.aead.encrypt(nonce, orjson.dumps(data), COOKIE.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, value: str) -> dict[str, Any] | None:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            data = orjson.loads(self.aead.decrypt(raw[:12], raw[12:], COOKIE.encode()))
        except (ValueError, InvalidTag, orjson.JSONDecodeError):
            return None
        return data if isinstance(data, dict) and data.get("v") == VERSION else None


@dataclass
class Session:
    csrf: str = ""
    access: str = ""
    refresh: str = ""
    expires_at: float = 0.0
    name: str = ""
    unit_name: str = ""
    unit_id: str = ""
    member_id: str = ""
    changed: bool = False
    cleared: bool = False

    @property
    def signed_in(self) -> bool:
        return bool(self.refresh)

    def to_dict(self) -> dict[str, Any]:
        return {"v": VERSION, "c": self.csrf, "a": self.access, "r": self.refresh, "e": self.expires_at,
                "n": self.name, "u": self.unit_name, "ui": self.unit_id, "m": self.member_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        return cls(csrf=str(data.get("c", "")), access=str(data.get("a", "")), refresh=str(data.get("r", "")),
                   expires_at=float(data.get("e", 0)), name=str(data.get("n", "")), unit_name=str(data.get("u", "")),
                   unit_id=str(data.get("ui", "")), member_id=str(data.get("m", "")))

    def set_tokens(self, access: str, refresh: str, expires_in: int) -> None:
        self.access, self.refresh = access, refresh
        self.expires_at = time.time() + expires_in
        self.changed = True

    def clear(self) -> None:
        """Sign out: a fresh CSRF token too, so a form of the old session cannot be replayed."""
        self.access = self.refresh = self.name = self.unit_name = self.unit_id = self.member_id = ""
        self.expires_at = 0.0
        self.csrf = secrets.token_urlsafe(24)
        self.changed = self.cleared = True

    def csrf_token(self) -> str:
        if not self.csrf:
            self.csrf = secrets.token_urlsafe(24)
            self.changed = True
        return self.csrf

    def csrf_valid(self, given: str) -> bool:
        return bool(self.csrf) and hmac.compare_digest(self.csrf.encode(), given.encode())


def sealer() -> Sealer:
    found = current_app.extensions.get("sotay.web.sealer")
    if found is None:
        found = current_app.extensions["sotay.web.sealer"] = Sealer(secret_key())
    return found  # type: ignore[no-any-return]


def current() -> Session:
    """This request's session (an empty one when the cookie is missing, altered or old)."""
    found: Session | None = g.get("web_session")
    if found is None:
        raw = request.cookies.get(COOKIE, "")
        data = sealer().open(raw) if raw and len(raw) < 8192 else None
        found = Session.from_dict(data) if data else Session()
        g.web_session = found
    return found


def save(response: Response) -> Response:
    """Write the cookie back when the session changed in this request."""
    found: Session | None = g.get("web_session")
    if found is not None and found.changed:
        response.set_cookie(
            COOKIE, sealer().seal(found.to_dict()), max_age=MAX_COOKIE_AGE, path="/", httponly=True,
            secure=request.is_secure, samesite="Lax",
        )
    return response


class _RecentRefreshes:
    """Tokens handed out for a refresh token in the last REFRESH_GRACE seconds, by its hash."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.found: dict[str, tuple[float, ipb.RefreshTokenResponse]] = {}

    def get(self, key: str) -> ipb.RefreshTokenResponse | None:
        now = time.monotonic()
        with self.lock:
            for k in [k for k, (at, _) in self.found.items() if now - at > REFRESH_GRACE]:
                del self.found[k]
            hit = self.found.get(key)
        return hit[1] if hit else None

    def put(self, key: str, reply: ipb.RefreshTokenResponse) -> None:
        with self.lock:
            self.found[key] = (time.monotonic(), reply)


_recent = _RecentRefreshes()
_refresh_locks: dict[str, threading.Lock] = {}
_refresh_locks_lock = threading.Lock()


def fresh_access_token(session: Session) -> str | None:
    """A valid access token for the signed-in session, refreshed when about to expire; None when
    the login has ended (expired, revoked or reused refresh token)."""
    if not session.signed_in:
        return None
    if session.access and session.expires_at - REFRESH_MARGIN > time.time():
        return session.access
    key = hashlib.sha256(session.refresh.encode()).hexdigest()
    with _refresh_locks_lock:
        lock = _refresh_locks.setdefault(key, threading.Lock())
    with lock:
        try:
            reply = _recent.get(key)
            if reply is None:
                reply = clients.identity().RefreshToken(ipb.RefreshTokenRequest(refresh_token=session.refresh))
                _recent.put(key, reply)
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):  # type: ignore[attr-defined]
                session.clear()
                return None
            raise
        finally:
            with _refresh_locks_lock:
                _refresh_locks.pop(key, None)
    session.set_tokens(reply.access_token, reply.refresh_token, reply.expires_in)
    return session.access
