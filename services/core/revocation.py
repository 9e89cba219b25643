"""Access-token revocation: a revoked token stops working at the next request, in every service.

Identity keeps a token version per account (the `tv` claim of its access tokens) and moves it on
when the account's access must end now: a role revoked (or lost with a position), the member or
account deactivated or transferred, the password changed or reset. A single login (its refresh
token family, the `sid` claim) is revoked by a logout or a refresh-token replay. Each revocation
is a row of identity's `token_revocations` (subject -> min version), written in the transaction
of the change together with a `TokensRevoked` event (identity.account.tokens_revoked:
subject, account_id, min_version, revoked_at, cause). A revoked login gets REVOKED_SESSION.

A token is refused (UNAUTHENTICATED `token_revoked`) when its account's or its login's min version
is above its `tv`. `TokenVerifier` asks its `revocations` after every verification, cached or not.

- identity reads its own table on every request (services/identity/revocation.py): immediate on
  every replica.
- every other server process runs a `RevocationWatcher`: a snapshot of what identity revoked
  within the last access-token lifetime (ListTokenRevocations, with the event position it is
  current to), then identity's event log pulled every REVOCATION_POLL_SECONDS. Per request it
  costs two dict lookups. A new snapshot every RESNAPSHOT_SECONDS drops expired entries.

Identity unreachable: the watcher keeps its list and retries. After REVOCATION_MAX_STALENESS
seconds without a successful sync it fails closed: every token is refused with UNAVAILABLE
`revocations_stale` (the client retries; it is not told to log in again) until a sync succeeds.
So a revocation is honoured late by at most that bound, whatever fails. Refusing only tokens
issued before the last sync would not bound it: a token issued after the last sync can be revoked
after it too. The price: an identity outage longer than the bound stops authenticated calls in
every service (before, they went on until tokens expired, up to ACCESS_TOKEN_TTL); while identity
is down nobody can log in or refresh anyway, and its supervisor restarts it in seconds. Raise the
bound to ride out longer outages, at the cost of honouring revocations that much later. A server
that has never synced (started while identity is down) refuses tokens the same way. The age of
the last sync is the metric `token_revocations_sync_age_seconds`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

import grpc

from services.core.auth import Principal
from services.core.errors import Unauthenticated, Unavailable
from services.core.events import decode, subscribe
from services.core.metrics import REVOCATION_SYNC_AGE
from services.core.outbox import Event, Fetch, Page
from sotay.events.v1.identity_events_pb2 import TokensRevoked

log = logging.getLogger("sotay.revocation")

TOPICS = subscribe("revocation watcher (every server but identity)", TokensRevoked)
REVOKED_SESSION = 2**62  # min version of a revoked login: above any token version
RESNAPSHOT_SECONDS = 300.0


def refuse_if_revoked(principal: Principal, account_floor: int, session_floor: int) -> None:
    if account_floor > principal.token_version or session_floor > principal.token_version:
        raise Unauthenticated("token_revoked", "access token has been revoked; log in again")


# subject -> min version, and the event log position the snapshot is current to
Snapshot = Callable[[], tuple[dict[str, int], int]]


class RevocationWatcher:
    """The revocations identity made, followed through its event log by a background thread."""

    def __init__(
        self,
        snapshot: Snapshot,
        fetch: Fetch,
        poll_seconds: float = 0.5,
        max_staleness: float = 30.0,
        service: str = "",
    ) -> None:
        self._snapshot = snapshot
        self._fetch = fetch
        self.poll_seconds = poll_seconds
        self.max_staleness = max_staleness
        self._floors: dict[str, int] = {}
        self._cursor: int | None = None  # None: take a snapshot first
        self._epoch: str | None = None  # of identity's event log, as last seen
        self._snapshot_at = -math.inf
        self._synced = -math.inf  # monotonic time of the last successful sync
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if service:
            REVOCATION_SYNC_AGE.labels(service).set_function(self.sync_age)

    # --- the hot path ---

    def check(self, principal: Principal) -> None:
        if time.monotonic() - self._synced > self.max_staleness:
            raise Unavailable("revocations_stale", "cannot tell whether the access token was revoked; try again")
        floors = self._floors
        refuse_if_revoked(principal, floors.get(principal.account_id, 0), floors.get(principal.session_id, 0))

    def sync_age(self) -> float:
        """Seconds since the last successful sync (infinite before the first one)."""
        return time.monotonic() - self._synced

    # --- syncing ---

    def sync_once(self) -> int:
        """Bring the list up to date; returns how many revocations were applied."""
        applied = 0
        if self._cursor is None or time.monotonic() - self._snapshot_at > RESNAPSHOT_SECONDS:
            taken = time.monotonic()
            found, seq = self._snapshot()
            self._floors = dict(found)
            self._cursor, self._snapshot_at = seq, taken
            applied = len(found)
        while True:
            page = self._fetch(self._cursor)
            events, last = page[0], page[1]
            if isinstance(page, Page) and page[2]:
                if self._epoch not in (None, page[2][-1].id):  # identity's database was restored
                    log.warning("identity's event log has a new epoch: taking the revocations again")
                    self._cursor, self._epoch = None, None
                    return applied + self.sync_once()
                self._epoch = page[2][-1].id
            for event in events:
                applied += self._apply(event)
            if last <= self._cursor:
                break
            self._cursor = last
        self._synced = time.monotonic()
        return applied

    def _apply(self, event: Event) -> int:
        try:
            revoked = decode(TokensRevoked, event.payload)
            if not revoked.subject:
                raise ValueError("no subject")
        except ValueError:
            log.warning("revocation event skipped", extra={"fields": {"id": event.id}})
            return 0
        subject, version = revoked.subject, revoked.min_version
        if version > self._floors.get(subject, 0):
            self._floors[subject] = version
        return 1

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.sync_once()
                if self._failing:
                    log.info("revocations in sync again")
                self._failing = False
            except Exception as exc:  # identity down or answering badly: keep the list, retry
                if not self._failing:
                    code = exc.code() if isinstance(exc, grpc.Call) else type(exc).__name__
                    log.warning("cannot sync revocations from identity (%s), retrying", code)
                self._failing = True
            stop.wait(self.poll_seconds)

    def start(self, first_sync_timeout: float = 5.0) -> RevocationWatcher:
        """Sync in a background thread; wait (up to the timeout) for the first sync."""
        self._thread = threading.Thread(target=self.run, args=(self._stop,), name="revocations", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + first_sync_timeout
        while self._synced == -math.inf and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def identity_watcher(service: str, target: str = "") -> RevocationWatcher:
    """A watcher of identity's revocations (address: `target` or IDENTITY_ADDR), configured from
    REVOCATION_POLL_SECONDS and REVOCATION_MAX_STALENESS; not started."""
    from services.core.clients import make_channel
    from services.core.config import env, service_addr
    from services.core.outbox import grpc_fetch
    from sotay.events.v1 import events_pb2
    from sotay.identity.v1 import identity_pb2, identity_pb2_grpc

    descriptor = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"]
    channel = make_channel(
        target or service_addr("identity"),
        [descriptor, events_pb2.DESCRIPTOR.services_by_name["EventLogService"]],
        # Reconnect to a restarted identity within about a second (the backoff below), not after
        # gRPC's growing default backoff (up to 2 minutes).
        options=[("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000)],
    )
    stub = identity_pb2_grpc.IdentityServiceStub(channel)

    def snapshot() -> tuple[dict[str, int], int]:
        found: dict[str, int] = {}
        token, seq = "", -1
        while True:
            reply = stub.ListTokenRevocations(
                identity_pb2.ListTokenRevocationsRequest(page_size=1000, page_token=token), timeout=10
            )
            seq = reply.event_seq if seq < 0 else seq  # follow events from the first page's position
            for r in reply.revocations:
                found[r.subject] = r.min_version
            token = reply.next_page_token
            if not token:
                return found, seq

    return RevocationWatcher(
        snapshot,
        grpc_fetch(channel, TOPICS, page_size=1000),
        poll_seconds=float(env("REVOCATION_POLL_SECONDS", "0.5")),
        max_staleness=float(env("REVOCATION_MAX_STALENESS", "30")),
        service=service,
    )
