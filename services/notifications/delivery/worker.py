"""The delivery worker (`python -m services.notifications delivery`).

Each round:
1. fans out bulletins whose publish time has come (once each) into delivery rows for the audience
   members who asked for channels, a page of DELIVERY_FANOUT_PAGE members per transaction with the
   bulletin's cursor (`fanout_after`) moved in the same transaction: memory and transactions stay
   bounded for a province-wide audience, and a crashed worker resumes after the last committed page;
2. claims due rows (a lease: next_attempt_at moves forward, so a crashed worker's rows come back;
   on PostgreSQL `FOR UPDATE SKIP LOCKED` lets replicas share the queue), sends each on its channel,
   and records the outcome: sent; or retried after base * 2^attempts (capped, with jitter); or failed
   after DELIVERY_MAX_ATTEMPTS. A row that falls in the member's quiet hours waits for their end.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter
from prometheus_client.core import Metric
from py_vapid import Vapid02

from services.core.config import env, env_int
from services.core.db import Database
from services.core.liveness import LOOPS
from services.core.metrics import gauge, register_collector
from services.notifications.delivery import email, queue, vapid, webpush

log = logging.getLogger("sotay.delivery")

DELIVERED = Counter("sotay_deliveries_total", "Delivery attempts by outcome (sent, retry, failed, skipped)",
                    ["outcome"])


def queue_metrics(db: Database, now: float | None = None) -> Iterator[Metric]:
    """The queue as the database has it (measured at each scrape of the delivery worker)."""
    at = time.time() if now is None else now
    with db.read() as conn:
        rows = conn.execute(
            sa.text("SELECT channel, COUNT(*) AS n, MIN(created_at) AS oldest, "
                    "SUM(CASE WHEN next_attempt_at <= :now THEN 1 ELSE 0 END) AS due, "
                    "MIN(CASE WHEN next_attempt_at <= :now THEN next_attempt_at END) AS oldest_due "
                    "FROM deliveries WHERE status = 'pending' GROUP BY channel"),
            {"now": at},
        ).all()
        fanout = conn.execute(
            sa.text("SELECT COUNT(*), MIN(publish_at) FROM bulletins "
                    "WHERE fanned_out_at IS NULL AND publish_at <= :now"),
            {"now": at},
        ).one()
    found = {r.channel: r for r in rows}
    per_channel = [(ch, found.get(ch)) for ch in queue.CHANNELS]

    def age(since: float | None) -> float:
        return max(at - float(since), 0.0) if since is not None else 0.0

    yield gauge("sotay_delivery_queue_depth", "Messages waiting to be sent (due or not: backoff, quiet hours)",
                ["channel"], (([ch], r.n if r else 0) for ch, r in per_channel))
    yield gauge("sotay_delivery_due", "Messages due now and not yet sent", ["channel"],
                (([ch], int(r.due or 0) if r else 0) for ch, r in per_channel))
    yield gauge("sotay_delivery_oldest_pending_age_seconds", "Age of the oldest message not yet sent (0: none)",
                ["channel"], (([ch], age(r.oldest) if r else 0.0) for ch, r in per_channel))
    yield gauge("sotay_delivery_oldest_due_age_seconds",
                "How long the oldest due message has waited past its due time (0: none)",
                ["channel"], (([ch], age(r.oldest_due) if r else 0.0) for ch, r in per_channel))
    yield gauge("sotay_delivery_fanout_pending_bulletins", "Published bulletins whose audience is not fully queued",
                [], [([], int(fanout[0]))])
    yield gauge("sotay_delivery_fanout_oldest_age_seconds",
                "Seconds since the oldest bulletin still being fanned out was due (0: none)", [],
                [([], age(fanout[1]))])


LEASE_SECONDS = 120


@dataclass(frozen=True)
class Settings:
    batch: int
    max_attempts: int
    base_backoff: float
    max_backoff: float
    fanout_page: int = 1000

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            batch=env_int("DELIVERY_BATCH", 200),
            max_attempts=env_int("DELIVERY_MAX_ATTEMPTS", 8),
            base_backoff=float(env("DELIVERY_BACKOFF_SECONDS", "30")),
            max_backoff=float(env("DELIVERY_MAX_BACKOFF_SECONDS", "21600")),
            fanout_page=max(1, env_int("DELIVERY_FANOUT_PAGE", 1000)),
        )


class Retry(Exception):
    """A transient failure: try again later."""


class Permanent(Exception):
    """Will never work: stop trying."""


class Skip(Exception):
    """Nothing to send on this channel any more (no subscription, no address, withdrawn)."""


def backoff(settings: Settings, attempts: int) -> float:
    delay = min(settings.max_backoff, settings.base_backoff * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.8, 1.2)


class DeliveryWorker:
    def __init__(self, db: Database, settings: Settings | None = None, signer: Vapid02 | None = None) -> None:
        self.db = db
        self.settings = settings or Settings.from_env()
        self._vapid = signer

    @property
    def vapid(self) -> Vapid02:
        if self._vapid is None:
            self._vapid = vapid.load(self.db)
        return self._vapid

    # --- 1. bulletins whose time has come ---

    def fan_out(self, now: float | None = None) -> int:
        at = now if now is not None else time.time()
        added = 0
        while True:
            page = self.fan_out_page(at)
            if page is None:
                return added
            added += page

    def fan_out_page(self, at: float) -> int | None:
        """One page of the oldest bulletin due for fan-out, in one transaction: rows added, or None
        when no bulletin is due. Replicas take turns under the lock, each from the saved cursor."""
        with self.db.write() as conn:
            self.db.lock(conn, "bulletin-fanout")
            b = conn.execute(
                sa.text(
                    "SELECT id, expires_at, withdrawn_at, fanout_after FROM bulletins WHERE fanned_out_at IS NULL "
                    "AND publish_at <= :now ORDER BY publish_at, id LIMIT 1"
                ),
                {"now": at},
            ).first()
            if b is None:
                return None
            added = members = 0
            last = b.fanout_after or ""
            if b.withdrawn_at is None and (b.expires_at is None or b.expires_at > at):
                audience = list(
                    conn.execute(
                        sa.text("SELECT unit_id FROM bulletin_audience WHERE bulletin_id = :b"), {"b": b.id}
                    ).scalars()
                )
                last, added, members = queue.fan_out_page(conn, b.id, audience, last, at, self.settings.fanout_page)
            done = members < self.settings.fanout_page
            conn.execute(
                sa.text("UPDATE bulletins SET fanout_after = :after, fanned_out_at = :done WHERE id = :id"),
                {"after": last or None, "done": at if done else None, "id": b.id},
            )
        return added

    # --- 2. due deliveries ---

    def claim(self, now: float) -> list[Any]:
        lock = " FOR UPDATE SKIP LOCKED" if self.db.is_postgres else ""
        with self.db.write() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= :now "
                    f"ORDER BY next_attempt_at LIMIT :n{lock}"
                ),
                {"now": now, "n": self.settings.batch},
            ).all()
            if rows:
                conn.execute(
                    sa.text("UPDATE deliveries SET next_attempt_at = :lease WHERE id IN :ids").bindparams(
                        sa.bindparam("ids", expanding=True)
                    ),
                    {"lease": now + LEASE_SECONDS, "ids": [r.id for r in rows]},
                )
        return list(rows)

    def dispatch(self, now: float | None = None) -> dict[str, int]:
        at = now if now is not None else time.time()
        counts = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0, "deferred": 0}
        rows = self.claim(at)
        with email.Mailer() as mailer:
            for row in rows:
                counts[self._deliver(row, mailer, at)] += 1
        return counts

    def _deliver(self, row: Any, mailer: email.Mailer, now: float) -> str:
        with self.db.read() as conn:
            prefs = queue.get_prefs(conn, row.member_id)
            content = _content(conn, row)
            subs = (
                conn.execute(
                    sa.text("SELECT * FROM push_subscriptions WHERE member_id = :m"), {"m": row.member_id}
                ).all()
                if row.channel == "webpush"
                else []
            )
        later = queue.quiet_until(prefs, now)
        if later > now:
            self._finish(row, "pending", row.attempts, later, "quiet hours")
            return "deferred"
        try:
            if content is None:
                raise Skip("the item was withdrawn or no longer exists")
            if row.channel == "email":
                self._email(mailer, prefs, content)
            else:
                self._push(subs, content)
        except Skip as exc:
            self._finish(row, "skipped", row.attempts, now, str(exc))
            return "skipped"
        except Permanent as exc:
            self._finish(row, "failed", row.attempts + 1, now, str(exc))
            return "failed"
        except Exception as exc:  # transient: SMTP down, push service 5xx, network
            attempts = row.attempts + 1
            if attempts >= self.settings.max_attempts:
                self._finish(row, "failed", attempts, now, _short(exc))
                return "failed"
            self._finish(row, "pending", attempts, now + backoff(self.settings, attempts), _short(exc))
            log.info(
                "delivery retry",
                extra={
                    "fields": {
                        "id": row.id,
                        "channel": row.channel,
                        "attempts": attempts,
                        "error": _short(exc),
                    }
                },
            )
            return "retry"
        self._finish(row, "sent", row.attempts + 1, now, None, sent=True)
        return "sent"

    def _email(self, mailer: email.Mailer, prefs: queue.Prefs, content: dict[str, Any]) -> None:
        if not (prefs.email_enabled and prefs.email):
            raise Skip("e-mail is switched off")
        msg = email.message(prefs.email, content["title"], content["text"], content.get("html", ""))
        try:
            mailer.send(msg)
        except email.PermanentFailure as exc:
            raise Permanent(str(exc)) from exc

    def _push(self, subs: Sequence[Any], content: dict[str, Any]) -> None:
        if not subs:
            raise Skip("no push subscription")
        payload = {
            "title": content["title"],
            "body": content["text"][:300],
            "type": content["type"],
            "id": content["id"],
            "url": content["url"],
        }
        delivered, errors = False, []
        for sub in subs:
            outcome = webpush.send(self.vapid, sub.endpoint, sub.p256dh, sub.auth, payload)
            if outcome.delivered:
                delivered = True
            elif outcome.gone:
                with self.db.write() as conn:
                    conn.execute(sa.text("DELETE FROM push_subscriptions WHERE id = :id"), {"id": sub.id})
            else:
                errors.append(outcome.error)
        if delivered:
            return
        if errors:
            raise RuntimeError("; ".join(errors))
        raise Skip("every push subscription has expired")

    def _finish(
        self, row: Any, status: str, attempts: int, next_at: float, error: str | None, sent: bool = False
    ) -> None:
        with self.db.write() as conn:
            conn.execute(
                sa.text(
                    "UPDATE deliveries SET status = :s, attempts = :a, next_attempt_at = :n, "
                    "last_error = :e, sent_at = :sent WHERE id = :id"
                ),
                {
                    "s": status,
                    "a": attempts,
                    "n": next_at,
                    "e": error,
                    "sent": next_at if sent else None,
                    "id": row.id,
                },
            )

    def run_once(self, now: float | None = None) -> dict[str, int]:
        fanned = self.fan_out(now)
        counts = self.dispatch(now)
        counts["fanned_out"] = fanned
        return counts

    def run(self, stop: threading.Event, idle_sleep: float = 1.0) -> None:
        register_collector("delivery queue", lambda: queue_metrics(self.db))
        # A round sends up to DELIVERY_BATCH messages, each with its SMTP or Web Push timeout.
        loop = LOOPS.loop("notifications", "delivery", idle_sleep, minimum=600.0)
        while not stop.is_set():
            try:
                counts = self.run_once()
                loop.done()
                for outcome in ("sent", "retry", "failed", "skipped"):
                    DELIVERED.labels(outcome).inc(counts[outcome])
                if not any(counts[k] for k in ("sent", "retry", "failed", "skipped", "fanned_out")):
                    stop.wait(idle_sleep)
            except sa.exc.OperationalError:
                log.warning("delivery: database unavailable, retrying", exc_info=True)
                loop.done(ok=False)
                stop.wait(5.0)


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _content(conn: sa.Connection, row: Any) -> dict[str, Any] | None:
    """What to send for a delivery row (None: withdrawn or gone)."""
    if row.item_type == "bulletin":
        b = conn.execute(sa.text("SELECT * FROM bulletins WHERE id = :id"), {"id": row.item_id}).first()
        if b is None or b.withdrawn_at is not None:
            return None
        return {
            "type": "bulletin",
            "id": b.id,
            "title": b.title,
            "text": b.body_text,
            "html": b.body_html,
            "url": f"/bulletins/{b.id}",  # the web app's page of the bulletin
        }
    n = conn.execute(sa.text("SELECT * FROM notifications WHERE id = :id"), {"id": row.item_id}).first()
    if n is None:
        return None
    return {
        "type": "notification",
        "id": n.id,
        "title": n.title,
        "text": n.body,
        "url": "/inbox",
        "link": json.loads(n.link),
    }


def run(db: Database, stop: threading.Event) -> None:
    DeliveryWorker(db).run(stop)
