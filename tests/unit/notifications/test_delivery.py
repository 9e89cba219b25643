"""Delivery: e-mail to the real local SMTP sink, Web Push (RFC 8291 aes128gcm, VAPID) to a local
push endpoint that decrypts with the subscription's private key, retries, quiet hours."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import http_ece
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.notifications.delivery import queue
from services.notifications.delivery.worker import DeliveryWorker, Settings, queue_metrics
from sotay.notifications.v1 import notifications_pb2 as pb
from tests.conftest import need_backing
from tests.unit.notifications.conftest import EDITOR, MEMBER_A1, MEMBER_B1, World

SETTINGS = Settings(batch=100, max_attempts=3, base_backoff=30, max_backoff=600)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class PushEndpoint:
    """A browser's push service stand-in: holds the subscription's keys, decrypts what arrives."""

    url: str
    key: ec.EllipticCurvePrivateKey
    auth: bytes
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 201

    @property
    def p256dh(self) -> str:
        return b64(self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                       serialization.PublicFormat.UncompressedPoint))


@contextmanager
def push_server() -> Iterator[dict[str, PushEndpoint]]:
    endpoints: dict[str, PushEndpoint] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            target = endpoints[self.path]
            body = self.rfile.read(int(self.headers["Content-Length"]))
            scheme, _, params = self.headers["Authorization"].partition(" ")
            fields = dict(p.strip().split("=", 1) for p in params.split(","))
            vapid_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(fields["k"]))
            claims = jwt.decode(fields["t"], vapid_key, algorithms=["ES256"],
                                audience=target.url.rsplit("/push", 1)[0])
            plain = http_ece.decrypt(body, private_key=target.key, auth_secret=target.auth, version="aes128gcm")
            target.received.append({"scheme": scheme, "encoding": self.headers["Content-Encoding"],
                                    "ttl": self.headers["TTL"], "claims": claims, "k": fields["k"],
                                    "payload": json.loads(plain)})
            self.send_response(target.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def add(status: int = 201) -> PushEndpoint:
        path = f"/push/{uuid.uuid4().hex}"
        ep = PushEndpoint(base + path, ec.generate_private_key(ec.SECP256R1()), os.urandom(16), status=status)
        endpoints[path] = ep
        return ep

    try:
        yield {"add": add}  # type: ignore[dict-item]
    finally:
        server.shutdown()
        server.server_close()


def subscribe(w: World, login: str, ep: PushEndpoint) -> pb.PushSubscription:
    return w.stub.AddPushSubscription(
        pb.AddPushSubscriptionRequest(endpoint=ep.url, p256dh=ep.p256dh, auth=b64(ep.auth), user_agent="test"),
        metadata=w.token(login)).subscription


def statuses(w: World) -> dict[tuple[str, str], tuple[str, int]]:
    with w.db.read() as conn:
        rows = conn.execute(sa.text("SELECT member_id, channel, status, attempts FROM deliveries")).all()
    return {(r.member_id, r.channel): (r.status, r.attempts) for r in rows}


def sink_messages(folder: Path, address: str) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted(folder.glob("*.eml")):
        raw = path.read_bytes()
        if address.encode() in raw:
            found.append(email.message_from_bytes(raw, policy=email.policy.default))
    return found  # type: ignore[return-value]


def test_bulletin_goes_by_email_and_web_push_and_a_failing_channel_blocks_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    host, port, sink = need_backing("SMTP_HOST"), need_backing("SMTP_PORT"), Path(need_backing("SMTP_SINK_DIR"))
    monkeypatch.setenv("SMTP_HOST", host)
    monkeypatch.setenv("SMTP_PORT", port)
    address = f"a1-{uuid.uuid4().hex[:8]}@example.test"
    w.stub.UpdatePreferences(pb.UpdatePreferencesRequest(preferences=pb.Preferences(
        email_enabled=True, email=address, webpush_enabled=True, bulletins_by_channel=True)),
        metadata=w.token(MEMBER_A1))
    with push_server() as push:
        ep = push["add"]()  # type: ignore[operator]
        gone = push["add"](410)  # type: ignore[operator]
        subscribe(w, MEMBER_A1, ep)
        subscribe(w, MEMBER_A1, gone)
        key = w.stub.GetPushConfig(pb.GetPushConfigRequest(), metadata=w.token(MEMBER_A1)).vapid_public_key
        w.stub.CreateBulletin(pb.CreateBulletinRequest(
            publisher_unit_id=w.units["province"], title="Thông báo nội bộ tháng 12",
            body_html="<p>Học tập <b>Nghị quyết</b> &amp; kế hoạch</p>"), metadata=w.token(EDITOR))
        counts = DeliveryWorker(w.db, SETTINGS).run_once()
        assert counts["fanned_out"] == 2 and counts["sent"] == 2
        member = w.members[MEMBER_A1].id
        assert statuses(w) == {(member, "email"): ("sent", 1), (member, "webpush"): ("sent", 1)}
        # Web Push: encrypted per RFC 8291, signed with our VAPID key, decrypted by the endpoint.
        [got] = ep.received
        assert got["encoding"] == "aes128gcm" and got["scheme"] == "vapid" and got["k"] == key
        assert got["payload"]["title"] == "Thông báo nội bộ tháng 12"
        assert got["payload"]["body"] == "Học tập Nghị quyết & kế hoạch"
        assert got["claims"]["sub"].startswith("mailto:")
        # The expired subscription (410) was forgotten.
        subs = w.stub.ListPushSubscriptions(pb.ListPushSubscriptionsRequest(), metadata=w.token(MEMBER_A1))
        assert [s.endpoint for s in subs.subscriptions] == [ep.url]
        # E-mail: really delivered to the local SMTP server.
        [mail] = sink_messages(sink, address)
        assert mail["Subject"] == "Thông báo nội bộ tháng 12"
        assert "Học tập Nghị quyết & kế hoạch" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]

        # SMTP down: e-mail retries later with backoff, Web Push is delivered, in-app is there.
        monkeypatch.setenv("SMTP_PORT", "1")
        w.stub.CreateBulletin(pb.CreateBulletinRequest(
            publisher_unit_id=w.units["province"], title="Lịch sinh hoạt"), metadata=w.token(EDITOR))
        now = time.time()
        counts = DeliveryWorker(w.db, SETTINGS).run_once(now)
        assert (counts["sent"], counts["retry"]) == (1, 1)
        assert len(ep.received) == 2
        with w.db.read() as conn:
            retry = conn.execute(sa.text("SELECT * FROM deliveries WHERE status = 'pending'")).one()
        assert retry.channel == "email" and retry.attempts == 1 and retry.last_error
        assert now + 20 < retry.next_attempt_at < now + 40  # 30 s +- jitter
        inbox = w.stub.ListInbox(pb.ListInboxRequest(), metadata=w.token(MEMBER_A1)).items
        assert inbox[0].title == "Lịch sinh hoạt"
        # Still down at every attempt: failed after max_attempts; SMTP back: nothing more is sent.
        for step in range(2):
            DeliveryWorker(w.db, SETTINGS).run_once(now + 10_000 * (step + 1))
        with w.db.read() as conn:
            assert conn.execute(sa.text("SELECT status, attempts FROM deliveries WHERE id = :id"),
                                {"id": retry.id}).one() == ("failed", 3)


def test_quiet_hours_defer_channels_not_the_inbox(world: World) -> None:
    w = world
    with push_server() as push:
        ep = push["add"]()  # type: ignore[operator]
        subscribe(w, MEMBER_B1, ep)
        local = time.time()
        now_local = dt.datetime.fromtimestamp(local, queue.timezone())
        minute = now_local.hour * 60 + now_local.minute
        w.stub.UpdatePreferences(pb.UpdatePreferencesRequest(preferences=pb.Preferences(
            webpush_enabled=True, bulletins_by_channel=True, quiet_start_minute=minute,
            quiet_end_minute=(minute + 120) % 1440)), metadata=w.token(MEMBER_B1))
        w.stub.CreateBulletin(pb.CreateBulletinRequest(publisher_unit_id=w.units["province"], title="Ban đêm"),
                              metadata=w.token(EDITOR))
        local = time.time()
        counts = DeliveryWorker(w.db, SETTINGS).run_once(local)
        assert counts["sent"] == 0 and ep.received == []
        with w.db.read() as conn:
            row = conn.execute(sa.text("SELECT * FROM deliveries")).one()
        assert row.status == "pending" and row.next_attempt_at > local + 3600
        assert [i.title for i in w.stub.ListInbox(pb.ListInboxRequest(), metadata=w.token(MEMBER_B1)).items] == [
            "Ban đêm"]
        counts = DeliveryWorker(w.db, SETTINGS).run_once(row.next_attempt_at + 1)
        assert counts["sent"] == 1 and len(ep.received) == 1


def queue_gauges(w: World, now: float) -> dict[tuple[str, tuple[str, ...]], float]:
    return {(m.name, tuple(s.labels.values())): s.value for m in queue_metrics(w.db, now) for s in m.samples}


def test_queue_depth_and_ages_follow_the_queue(world: World) -> None:
    w = world
    with push_server() as push:
        ep = push["add"]()  # type: ignore[operator]
        subscribe(w, MEMBER_B1, ep)
        w.stub.CreateBulletin(pb.CreateBulletinRequest(publisher_unit_id=w.units["province"], title="Đo hàng đợi"),
                              metadata=w.token(EDITOR))
        now = time.time() + 30
        before = queue_gauges(w, now)
        assert before[("sotay_delivery_fanout_pending_bulletins", ())] == 1
        assert 29 < before[("sotay_delivery_fanout_oldest_age_seconds", ())] < 60
        assert before[("sotay_delivery_queue_depth", ("webpush",))] == 0
        worker = DeliveryWorker(w.db, SETTINGS)
        assert worker.fan_out(now - 30) == 1  # queued, not sent yet
        queued = queue_gauges(w, now)
        assert queued[("sotay_delivery_fanout_pending_bulletins", ())] == 0
        assert queued[("sotay_delivery_queue_depth", ("webpush",))] == 1
        assert queued[("sotay_delivery_due", ("webpush",))] == 1
        assert 29 < queued[("sotay_delivery_oldest_due_age_seconds", ("webpush",))] < 60
        assert 29 < queued[("sotay_delivery_oldest_pending_age_seconds", ("webpush",))] < 60
        assert queued[("sotay_delivery_queue_depth", ("email",))] == 0
        assert worker.run_once(now)["sent"] == 1 and len(ep.received) == 1
        after = queue_gauges(w, now)
        assert after[("sotay_delivery_queue_depth", ("webpush",))] == 0
        assert after[("sotay_delivery_oldest_due_age_seconds", ("webpush",))] == 0


def test_preference_and_subscription_validation(world: World) -> None:
    import grpc

    from tests.unit.notifications.conftest import expect_error

    w = world
    t = w.token(MEMBER_A1)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "email_required", w.stub.UpdatePreferences,
                 pb.UpdatePreferencesRequest(preferences=pb.Preferences(email_enabled=True)), metadata=t)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid_email", w.stub.UpdatePreferences,
                 pb.UpdatePreferencesRequest(preferences=pb.Preferences(email="no at")), metadata=t)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid_quiet_hours", w.stub.UpdatePreferences,
                 pb.UpdatePreferencesRequest(preferences=pb.Preferences(quiet_start_minute=1440)), metadata=t)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid_endpoint", w.stub.AddPushSubscription,
                 pb.AddPushSubscriptionRequest(endpoint="ftp://x", p256dh="AA", auth="AA"), metadata=t)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid_p256dh", w.stub.AddPushSubscription,
                 pb.AddPushSubscriptionRequest(endpoint="https://push.example/x", p256dh="AAAA", auth="AA"),
                 metadata=t)
    expect_error(grpc.StatusCode.NOT_FOUND, "subscription_not_found", w.stub.RemovePushSubscription,
                 pb.RemovePushSubscriptionRequest(id=str(uuid.uuid4())), metadata=t)
    saved = w.stub.UpdatePreferences(pb.UpdatePreferencesRequest(preferences=pb.Preferences(
        email_enabled=True, email=" A1@Example.TEST ", quiet_start_minute=22 * 60, quiet_end_minute=6 * 60)),
        metadata=t).preferences
    assert saved.email == "a1@example.test"
    assert w.stub.GetPreferences(pb.GetPreferencesRequest(), metadata=t).preferences == saved
