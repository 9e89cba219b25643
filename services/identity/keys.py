"""The token signing key: from IDENTITY_SIGNING_KEY_FILE, else generated once and kept in the
database (never in the repository). Public keys of every active key are served to verifiers."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.core.config import env
from services.core.db import Database


def _public_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _kid(public_pem: str) -> str:
    return hashlib.sha256(public_pem.encode()).hexdigest()[:16]


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._signing: tuple[str, Ed25519PrivateKey] | None = None

    def signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        with self._lock:
            if self._signing is None:
                self._signing = self._load()
            return self._signing

    def _load(self) -> tuple[str, Ed25519PrivateKey]:
        key_file = env("IDENTITY_SIGNING_KEY_FILE")
        if key_file:
            key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise SystemExit("IDENTITY_SIGNING_KEY_FILE must hold an Ed25519 private key")
            return _kid(_public_pem(key)), key
        with self.db.write() as conn:
            self.db.lock(conn, "signing-key")
            row = conn.execute(
                sa.text("SELECT kid, private_pem FROM signing_keys WHERE active ORDER BY created_at DESC LIMIT 1")
            ).first()
            if row is not None:
                loaded = serialization.load_pem_private_key(row.private_pem.encode(), password=None)
                assert isinstance(loaded, Ed25519PrivateKey)
                return row.kid, loaded
            key = Ed25519PrivateKey.generate()
            public = _public_pem(key)
            private = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            kid = _kid(public)
            conn.execute(
                sa.text("INSERT INTO signing_keys VALUES (:k, :priv, :pub, :t, TRUE)"),
                {"k": kid, "priv": private, "pub": public, "t": time.time()},
            )
            return kid, key

    def public_keys(self) -> dict[str, str]:
        kid, key = self.signing_key()
        keys = {kid: _public_pem(key)}
        with self.db.read() as conn:
            for row in conn.execute(sa.text("SELECT kid, public_pem FROM signing_keys WHERE active")):
                keys[row.kid] = row.public_pem
        return keys
