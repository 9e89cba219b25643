"""A province-wide bulletin's channel deliveries are queued a page of members per transaction:
memory does not grow with the audience, and a worker that dies mid-way resumes after the last
committed page, queuing nobody twice."""

from __future__ import annotations

import time
import tracemalloc
import uuid

import pytest
import sqlalchemy as sa

from services.core.db import Database
from services.notifications.delivery import queue
from services.notifications.delivery.worker import DeliveryWorker, Settings
from services.notifications.migrations import MIGRATIONS

PAGE = 250


def settings(page: int = PAGE) -> Settings:
    return Settings(batch=100, max_attempts=3, base_backoff=30, max_backoff=600, fanout_page=page)


def province(db: Database, members: int) -> tuple[str, list[str]]:
    """`members` members in cells of 25 under one province, all wanting e-mail; a bulletin to the
    province due now. Returns the bulletin id and the members who want it (every other one)."""
    db.migrate("notifications", MIGRATIONS)
    root, now = str(uuid.uuid4()), time.time()
    bulletin = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(members)]
    wanting = ids[::2]
    wants = set(wanting)
    with db.write() as conn:
        conn.execute(sa.text(
            "INSERT INTO bulletins (id, publisher_unit_id, kind, title, body_html, body_text, attachments, "
            "publish_at, pinned, created_at, updated_at) VALUES (:id, :root, 'bulletin', 'Thông báo toàn tỉnh', "
            "'<p>x</p>', 'x', '[]', :at, FALSE, :at, :at)"), {"id": bulletin, "root": root, "at": now - 1})
        conn.execute(sa.text("INSERT INTO bulletin_audience (unit_id, publish_at, bulletin_id) VALUES (:u, :at, :b)"),
                     {"u": root, "at": now - 1, "b": bulletin})
        units = [{"m": m, "u": u} for i, m in enumerate(ids) for u in (root, f"cell-{i // 25}")]
        conn.execute(sa.text("INSERT INTO member_units (member_id, unit_id) VALUES (:m, :u)"), units)
        conn.execute(sa.text(
            "INSERT INTO preferences (member_id, email_enabled, email, webpush_enabled, quiet_start, quiet_end, "
            "bulletins_by_channel, updated_at) VALUES (:m, :on, :e, FALSE, 0, 0, TRUE, :t)"),
            [{"m": m, "on": m in wants, "e": f"{m}@example.test", "t": now} for m in ids])
    return bulletin, wanting


def queued(db: Database, bulletin: str) -> list[str]:
    with db.read() as conn:
        return list(conn.execute(sa.text(
            "SELECT member_id FROM deliveries WHERE item_id = :b AND channel = 'email' ORDER BY member_id"),
            {"b": bulletin}).scalars())


def fanned_out(db: Database, bulletin: str) -> bool:
    with db.read() as conn:
        return conn.execute(sa.text("SELECT fanned_out_at FROM bulletins WHERE id = :b"),
                            {"b": bulletin}).scalar() is not None


def peak_memory_of_fan_out(make_database: object, members: int) -> int:
    db = make_database()  # type: ignore[operator]
    bulletin, wanting = province(db, members)
    worker = DeliveryWorker(db, settings())
    tracemalloc.start()
    try:
        assert worker.fan_out() == len(wanting)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert queued(db, bulletin) == sorted(wanting) and fanned_out(db, bulletin)
    return peak


def test_memory_of_a_fan_out_does_not_grow_with_the_audience(make_database: object) -> None:
    small = peak_memory_of_fan_out(make_database, 2_000)
    large = peak_memory_of_fan_out(make_database, 8_000)
    # Four times the audience: the same pages of PAGE members, so about the same peak (loading the
    # whole audience at once, as before, peaked at about 4x).
    assert large < small * 1.5 + 256 * 1024, (small, large)


def test_a_worker_dying_mid_fan_out_resumes_after_the_last_page_and_queues_nobody_twice(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulletin, wanting = province(database, 3_000)  # 1,500 wanting: 6 pages of 250
    pages: list[int] = []
    real = queue.fan_out_page

    def dies_on_the_fourth_page(*args: object, **kwargs: object) -> tuple[str, int, int]:
        if len(pages) == 3:
            raise RuntimeError("worker killed")  # before the page's transaction commits
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        pages.append(result[1])
        return result

    monkeypatch.setattr(queue, "fan_out_page", dies_on_the_fourth_page)
    with pytest.raises(RuntimeError):
        DeliveryWorker(database, settings()).fan_out()
    assert pages == [PAGE, PAGE, PAGE]
    assert len(queued(database, bulletin)) == 3 * PAGE and not fanned_out(database, bulletin)

    monkeypatch.setattr(queue, "fan_out_page", real)
    resumed: list[int] = []

    def counting(*args: object, **kwargs: object) -> tuple[str, int, int]:
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        resumed.append(result[2])
        return result

    monkeypatch.setattr(queue, "fan_out_page", counting)
    added = DeliveryWorker(database, settings()).fan_out()
    # Only the members after the last committed page were read again, each queued once.
    assert added == len(wanting) - 3 * PAGE and sum(resumed) == len(wanting) - 3 * PAGE
    assert queued(database, bulletin) == sorted(wanting) and fanned_out(database, bulletin)
    assert DeliveryWorker(database, settings()).fan_out() == 0  # done: nothing queued again
