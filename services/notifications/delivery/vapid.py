"""The VAPID key pair that signs Web Push requests (RFC 8292).

VAPID_PRIVATE_KEY_FILE (PEM) when set — e.g. a Kubernetes secret, shared by every replica;
otherwise a key generated once and kept in this service's database (never in the repository).
"""

from __future__ import annotations

import base64
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from services.core.config import env
from services.core.db import Database

SETTING = "vapid_private_pem"


def _generate_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def private_pem(db: Database) -> str:
    path = env("VAPID_PRIVATE_KEY_FILE")
    if path:
        file = Path(path)
        if not file.is_file():
            raise SystemExit(f"VAPID_PRIVATE_KEY_FILE {path} does not exist")
        return file.read_text(encoding="utf-8")
    with db.read() as conn:
        stored = conn.execute(sa.text("SELECT value FROM settings WHERE name = :n"), {"n": SETTING}).scalar()
    if stored:
        return str(stored)
    with db.write() as conn:
        db.lock(conn, "vapid-key")
        conn.execute(
            sa.text("INSERT INTO settings (name, value) VALUES (:n, :v) ON CONFLICT DO NOTHING"),
            {"n": SETTING, "v": _generate_pem()},
        )
        return str(
            conn.execute(sa.text("SELECT value FROM settings WHERE name = :n"), {"n": SETTING}).scalar_one()
        )


def load(db: Database) -> Vapid02:
    return Vapid02.from_pem(private_pem(db).encode())


def application_server_key(vapid: Vapid02) -> str:
    """The public key as browsers want it: uncompressed P-256 point, base64url without padding."""
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
