"""Secret ballots: one member, one vote, and no way to tie a choice to a voter.

Threat model
============

Protected: which choice a member made in a SECRET poll. Not protected (public by design): who
was eligible, who voted (the voter list: one member, one vote must be checkable), how many voted,
and the totals once the poll is closed. Open (named) polls are not secret at all.

Adversaries and what they get:

1. Other members, the secretary, committees, admins using the API. They see the voter list and,
   only once the poll is closed, the totals. While a secret poll is open, no API (GetPoll,
   GetLiveState, ListPolls) shows counts per choice, only `votes_cast`; so watching the counts
   move while a member votes tells nothing. CastVote's answer does not echo the choice.
   A replayed CastVote (same idempotency key) answers "recorded" without reading any ballot.

2. A database reader (a DBA, a backup, a read replica, a leaked dump), during or after the poll.
   - `poll_voters` holds (poll, member, idempotency key): no choice, no time, no sequence.
   - While the poll is open each ballot is a row of `sealed_ballots`: AES-256-GCM of a fixed-size
     plaintext (1 choice byte + 15 random bytes, so every ciphertext has the same length) with a
     random nonce and the poll id as associated data, under a key that is NOT in the database
     (MEETINGS_BALLOT_KEY, or a key file in the data directory). PostgreSQL's xmin, the physical
     row order and SQLite's rowid do tie a sealed row to the voter row written in the same
     transaction, which is exactly why the row is sealed: without the key it is noise.
   - Closing the poll decrypts the sealed rows, counts them, writes the plaintext choices to
     `ballots` in a cryptographically shuffled order with random 62-bit ids, all in the closing
     transaction (one xmin for all; SQLite rowids follow the shuffled order), and deletes the
     sealed rows. `ballots` has no voter, no time, no sequence; `polls` keeps only the totals.
   - No per-choice counter exists while the poll is open (a counter row updated by each vote
     would carry the voter's transaction id and its history in dead tuples).

3. Logs and metrics. The gRPC interceptor logs method, status, latency and request id only; no
   module here logs a member id or a choice for a vote; no event is emitted per vote (only when a
   poll opens or closes). Errors name no choice.

4. Timing. Ballots carry no timestamps; votes_cast rises by one per vote whatever the choice.
   The only time a choice becomes readable (closing) is one transaction for all ballots.

Residual risks, accepted and documented:
- Someone holding BOTH the ballot key and read access to the database WHILE a poll is open can
  decrypt sealed rows and match them to voter rows by xmin/rowid. The key belongs to the
  service's runtime secret (a Kubernetes Secret), not to the database's operators; keep them
  apart. After close the link is gone (sealed rows deleted; VACUUM clears PostgreSQL's dead
  tuples, which are also only ciphertext).
- Whoever controls the running service process (code, memory, a debugger) sees each choice as
  it is cast; that is true of any server-side tally. Likewise the gateway process.
- Tiny electorates: with 2 voters and totals 1-1 each voter knows the other's choice. The
  Charter requires the totals to be published; nothing can hide that.
- The in-room show of hands is public in the room by its nature and is stored only as counts.

Key handling: the key id (a hash of the key) is stored with the poll when it opens, and the poll's
ballots are sealed and opened with that key to the end; a process without it refuses votes and
closing (UNAVAILABLE, `ballot_key_mismatch`) instead of corrupting the poll. All replicas share
MEETINGS_BALLOT_KEY (base64 of 32 bytes). Rotation: make the new key MEETINGS_BALLOT_KEY and put
the old one in MEETINGS_BALLOT_KEYS_PREVIOUS (comma-separated) - new polls open with the new key,
polls already open finish with the old - and drop the old key once those polls are closed.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection

from services.core.config import data_dir, env, restrict
from services.core.errors import FailedPrecondition, Unavailable
from services.meetings.charter import CHOICES

log = logging.getLogger("sotay.meetings.ballots")

KEY_FILE = "meetings-ballot.key"
_PAD = 15


def _key(raw: str, name: str) -> bytes:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except ValueError as exc:
        raise SystemExit(f"{name} must be base64") from exc
    if len(key) != 32:
        raise SystemExit(f"{name} must be 32 bytes (base64 of 32 random bytes)")
    return key


def load_previous_keys() -> tuple[bytes, ...]:
    """MEETINGS_BALLOT_KEYS_PREVIOUS: keys of polls opened before a rotation (comma-separated)."""
    raw = env("MEETINGS_BALLOT_KEYS_PREVIOUS")
    return tuple(_key(k, "MEETINGS_BALLOT_KEYS_PREVIOUS") for k in raw.split(",") if k.strip())


def load_key() -> bytes:
    """MEETINGS_BALLOT_KEY (base64, 32 bytes), else a key file in the data directory (made once)."""
    raw = env("MEETINGS_BALLOT_KEY")
    if raw:
        return _key(raw, "MEETINGS_BALLOT_KEY")
    path = Path(data_dir()) / KEY_FILE
    if not path.exists():
        if env("DATABASE_URL"):
            log.warning("MEETINGS_BALLOT_KEY is not set: every replica needs the same key; using %s", path)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(base64.b64encode(secrets.token_bytes(32)))
    restrict(path, 0o600)  # a key file made by hand, or before modes were checked
    key = base64.b64decode(path.read_bytes().strip())
    if len(key) != 32:
        raise SystemExit(f"{path} does not hold a 32-byte base64 key")
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"sotay-ballot-key:" + key).hexdigest()[:16]


@dataclass(frozen=True)
class BallotBox:
    key: bytes  # new polls open with it
    previous: tuple[bytes, ...] = ()  # polls opened before a rotation still finish with theirs

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    def _key_for(self, poll_key_id: str) -> bytes:
        for key in (self.key, *self.previous):
            if key_id(key) == poll_key_id:
                return key
        raise Unavailable("ballot_key_mismatch", "this server does not hold the ballot key the poll opened with")

    def check_key(self, poll_key_id: str) -> None:
        self._key_for(poll_key_id)

    def seal(self, poll_id: str, choice: str, poll_key_id: str) -> str:
        plain = bytes([CHOICES.index(choice)]) + secrets.token_bytes(_PAD)
        nonce = secrets.token_bytes(12)
        key = self._key_for(poll_key_id)
        return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plain, poll_id.encode())).decode()

    def unseal(self, poll_id: str, sealed: str, poll_key_id: str) -> str:
        blob = base64.b64decode(sealed)
        try:
            plain = AESGCM(self._key_for(poll_key_id)).decrypt(blob[:12], blob[12:], poll_id.encode())
        except InvalidTag:
            raise Unavailable("ballot_key_mismatch", "a sealed ballot does not open with the poll's key") from None
        return CHOICES[plain[0]]

    def drop(self, conn: Connection, poll_id: str, choice: str, poll_key_id: str) -> None:
        """Put one secret ballot in the box (in the voter's transaction; no voter, no time)."""
        conn.execute(
            sa.text("INSERT INTO sealed_ballots (id, poll_id, sealed) VALUES (:id, :p, :s)"),
            {"id": secrets.randbits(62), "p": poll_id, "s": self.seal(poll_id, choice, poll_key_id)},
        )

    def open_and_shuffle(self, conn: Connection, poll_id: str, expected: int, poll_key_id: str) -> list[str]:
        """At close: unseal, check the count, store the choices shuffled, delete the sealed rows."""
        sealed = list(
            conn.execute(sa.text("SELECT sealed FROM sealed_ballots WHERE poll_id = :p"), {"p": poll_id}).scalars()
        )
        if len(sealed) != expected:
            log.error("ballot count mismatch", extra={"fields": {"poll_id": poll_id}})
            raise FailedPrecondition("ballot_count_mismatch", "the ballot box does not match the voter list")
        choices = [self.unseal(poll_id, s, poll_key_id) for s in sealed]
        secrets.SystemRandom().shuffle(choices)
        if choices:
            conn.execute(
                sa.text("INSERT INTO ballots (id, poll_id, choice) VALUES (:id, :p, :c)"),
                [{"id": secrets.randbits(62), "p": poll_id, "c": c} for c in choices],
            )
        conn.execute(sa.text("DELETE FROM sealed_ballots WHERE poll_id = :p"), {"p": poll_id})
        return choices
