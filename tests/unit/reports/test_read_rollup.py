"""The bulletin-read roll-up (unit_bulletin_reads) stays equal to the raw computation from
bulletin_reads and members, whatever order the events come in: reads before the member is known,
reads delivered twice, transfers, deactivation and return, an import naming a member twice.
Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from services.core.db import Database
from services.core.outbox import Event
from services.reports import consumers, figures, periods
from services.reports.migrations import MIGRATIONS

RAW = consumers.READ_ROLLUP_REBUILD.split(" SELECT ", 1)[1]


class Feed:
    def __init__(self, db: Database) -> None:
        self.db, self.seq = db, 0

    def __call__(self, topic: str, payload: dict[str, Any]) -> None:
        self.seq += 1
        with self.db.write() as conn:
            consumers.handle(conn, Event(f"e-{self.seq}", self.seq, topic, str(self.seq), payload))

    def rollup(self) -> dict[tuple[str, str], int]:
        with self.db.read() as conn:
            return {(r.unit_id, r.bulletin_id): int(r.n) for r in conn.execute(
                sa.text("SELECT unit_id, bulletin_id, n FROM unit_bulletin_reads"))}

    def raw(self) -> dict[tuple[str, str], int]:
        with self.db.read() as conn:
            return {(r[0], r[1]): int(r[2]) for r in conn.execute(sa.text("SELECT " + RAW))}


def member(member_id: str, unit_id: str, active: bool = True) -> dict[str, Any]:
    return {"member_id": member_id, "unit_id": unit_id, "status": "official", "gender": "male", "active": active}


def test_the_roll_up_equals_the_raw_reads_after_late_and_repeated_events(
    make_database: Callable[[], Database],
) -> None:
    db = make_database()
    db.migrate("reports", MIGRATIONS)
    feed = Feed(db)
    feed("identity.unit.created", {"unit_id": "root", "name": "Tỉnh", "kind": "province"})
    for cell in ("A", "B"):
        feed("identity.unit.created", {"unit_id": cell, "parent_id": "root", "name": cell, "kind": "cell"})
    for bid in ("b1", "b2"):
        feed("notifications.bulletin.created", {"bulletin_id": bid, "publisher_unit_id": "root", "kind": "bulletin",
                                                "audience_unit_ids": ["root"], "publish_at": 1.7e9})
    steps: list[tuple[str, dict[str, Any], dict[tuple[str, str], int]]] = [
        # m1's reads come before identity's event about m1: counted nowhere yet.
        ("notifications.bulletin.read", {"member_id": "m1", "bulletin_ids": ["b1", "b2", "b1"]}, {}),
        ("identity.member.created", member("m1", "A"), {("A", "b1"): 1, ("A", "b2"): 1}),
        ("identity.member.created", member("m2", "A"), {("A", "b1"): 1, ("A", "b2"): 1}),
        ("notifications.bulletin.read", {"member_id": "m2", "bulletin_ids": ["b1"]},
         {("A", "b1"): 2, ("A", "b2"): 1}),
        ("notifications.bulletin.read", {"member_id": "m2", "bulletin_ids": ["b1"]},  # again: once
         {("A", "b1"): 2, ("A", "b2"): 1}),
        ("identity.member.transferred", member("m1", "B"), {("A", "b1"): 1, ("B", "b1"): 1, ("B", "b2"): 1}),
        ("identity.member.updated", member("m1", "B"), {("A", "b1"): 1, ("B", "b1"): 1, ("B", "b2"): 1}),
        ("identity.member.deactivated", member("m2", "A", active=False), {("B", "b1"): 1, ("B", "b2"): 1}),
        ("notifications.bulletin.read", {"member_id": "m2", "bulletin_ids": ["b2"]},  # read while inactive
         {("B", "b1"): 1, ("B", "b2"): 1}),
        ("identity.members.imported", {"members": [member("m2", "A"), member("m3", "A"), member("m2", "B")]},
         {("B", "b1"): 2, ("B", "b2"): 2}),
        ("identity.facts.members", {"members": [member("m1", "A"), member("m2", "B")]},
         {("A", "b1"): 1, ("A", "b2"): 1, ("B", "b1"): 1, ("B", "b2"): 1}),
    ]
    for topic, payload, expected in steps:
        feed(topic, payload)
        assert feed.rollup() == expected == feed.raw(), (topic, payload)
    # The figures read the roll-up: reads of the members now in B, per kind.
    with db.read() as conn:
        report = figures.build(conn, figures.unit(conn, "B"), periods.parse("2023-11"), db=db)
    assert (report.bulletins.bulletins, report.bulletins.expected, report.bulletins.read) == (2, 2, 2)
    # Migration 3's filling gives the same table from the raw reads.
    with db.write() as conn:
        conn.execute(sa.text("DELETE FROM unit_bulletin_reads"))
        conn.execute(sa.text(consumers.READ_ROLLUP_REBUILD))
    assert feed.rollup() == feed.raw()
