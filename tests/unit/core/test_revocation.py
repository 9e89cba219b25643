"""The verifier's revocation logic: TokenVerifier with a RevocationWatcher fed from an in-memory
event log (what identity's ListTokenRevocations and ListEvents return)."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.core.auth import Principal, TokenVerifier, issue_access_token
from services.core.errors import Unauthenticated, Unavailable
from services.core.outbox import Event
from services.core.revocation import REVOKED_SESSION, TOPICS, RevocationWatcher

KEY = Ed25519PrivateKey.generate()
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class Log:
    """Identity's side as the watcher sees it: a snapshot and numbered events."""

    def __init__(self, snapshot: dict[str, int] | None = None) -> None:
        self.snapshot_floors = dict(snapshot or {})
        self.events: list[Event] = []
        self.down = False

    def revoke(self, subject: str, version: int) -> None:
        seq = len(self.events) + 1
        self.events.append(Event(f"e{seq}", seq, TOPICS[0], "acct", {"subject": subject, "min_version": version}))

    def snapshot(self) -> tuple[dict[str, int], int]:
        if self.down:
            raise ConnectionError("identity is down")
        return dict(self.snapshot_floors), len(self.events)

    def fetch(self, after: int) -> tuple[list[Event], int]:
        if self.down:
            raise ConnectionError("identity is down")
        found = [e for e in self.events if e.seq > after][:2]  # small pages: the watcher must page on
        return found, found[-1].seq if found else after


def token(account: str, version: int = 0, session: str = "s1") -> str:
    principal = Principal(account, "", "", (), token_version=version, session_id=session)
    return issue_access_token(KEY, "k1", principal, 900)


def verifier(log: Log, max_staleness: float = 30.0) -> tuple[TokenVerifier, RevocationWatcher]:
    watcher = RevocationWatcher(log.snapshot, log.fetch, poll_seconds=0.01, max_staleness=max_staleness)
    return TokenVerifier(lambda: {"k1": PEM.decode()}, revocations=watcher), watcher


def refused(v: TokenVerifier, raw: str) -> str:
    try:
        v.verify(raw)
    except (Unauthenticated, Unavailable) as exc:
        return exc.reason
    return ""


def test_a_token_below_its_accounts_version_is_refused_and_a_newer_one_is_not() -> None:
    log = Log({"a1": 2})
    v, watcher = verifier(log)
    assert refused(v, token("a1")) == "revocations_stale"  # never synced: nothing can be vouched for
    watcher.sync_once()
    assert refused(v, token("a1", 1)) == "token_revoked"
    assert refused(v, token("a1", 2)) == ""
    assert refused(v, token("a2", 0)) == ""


def test_the_verified_token_cache_does_not_skip_the_check() -> None:
    log = Log()
    v, watcher = verifier(log)
    watcher.sync_once()
    raw = token("a1", 0)
    assert v.verify(raw).account_id == "a1"  # now cached
    log.revoke("a1", 1)
    assert refused(v, raw) == ""  # not yet learnt
    watcher.sync_once()
    assert refused(v, raw) == "token_revoked"


def test_a_revoked_login_ends_only_that_login() -> None:
    log = Log()
    v, watcher = verifier(log)
    watcher.sync_once()
    log.revoke("s-phone", REVOKED_SESSION)
    watcher.sync_once()
    assert refused(v, token("a1", 5, session="s-phone")) == "token_revoked"
    assert refused(v, token("a1", 5, session="s-laptop")) == ""


def test_events_are_followed_page_by_page_and_never_lower_a_version() -> None:
    log = Log()
    v, watcher = verifier(log)
    watcher.sync_once()
    for version in (1, 2, 3, 4, 5):
        log.revoke("a1", version)
    log.revoke("a1", 2)  # a replayed, older event
    assert watcher.sync_once() == 6
    assert refused(v, token("a1", 4)) == "token_revoked"
    assert refused(v, token("a1", 5)) == ""


def test_identity_unreachable_keeps_the_list_then_fails_closed_past_the_bound() -> None:
    log = Log({"a1": 1})
    v, watcher = verifier(log, max_staleness=0.2)
    watcher.sync_once()
    log.down = True
    with pytest.raises(ConnectionError):
        watcher.sync_once()
    assert refused(v, token("a1", 0)) == "token_revoked"  # what was learnt still holds
    assert refused(v, token("a2", 0)) == ""
    time.sleep(0.25)
    assert refused(v, token("a2", 0)) == "revocations_stale"
    assert watcher.sync_age() > 0.2
    log.down = False
    watcher.sync_once()
    assert refused(v, token("a2", 0)) == ""


def test_the_watcher_thread_syncs_in_the_background() -> None:
    log = Log()
    v, watcher = verifier(log)
    watcher.start(first_sync_timeout=5)
    try:
        raw = token("a1", 0)
        assert refused(v, raw) == ""
        log.revoke("a1", 1)
        deadline = time.monotonic() + 2
        while not refused(v, raw) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert refused(v, raw) == "token_revoked"
    finally:
        watcher.stop()
