"""The month roll-ups (active_years, study_years) stay equal to the raw computation from
member_activity and study_marks after each kind of event that feeds them: sign-ins, identity's
activity facts, study marks before and after their document is known, marks and documents
delivered twice, the documents service's facts. The figures read them for whole months and the
raw rows for a period's partial months. Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from services.core.db import Database
from services.reports import consumers, figures, periods
from services.reports.migrations import MIGRATIONS
from tests.unit.reports.test_read_rollup import Feed, member

ROLLUPS = {"active_years": consumers.ACTIVE_ROLLUP_REBUILD, "study_years": consumers.STUDY_ROLLUP_REBUILD}
Months = dict[tuple[str, str, str], int]  # (table, member, year) -> month bits


def at(day: str) -> float:
    """Noon in Vietnam on `day`."""
    return dt.datetime.fromisoformat(f"{day}T05:00:00+00:00").timestamp()


def bits(*months: int) -> int:
    return sum(1 << (m - 1) for m in set(months))


def rollups(db: Database) -> Months:
    with db.read() as conn:
        return {(t, r[0], r[1]): int(r[2]) for t in ROLLUPS
                for r in conn.execute(sa.text(f"SELECT member_id, year, months FROM {t}"))}


def raw(db: Database) -> Months:
    with db.read() as conn:
        return {(t, r[0], r[1]): int(r[2]) for t, rebuild in ROLLUPS.items()
                for r in conn.execute(sa.text("SELECT " + rebuild.split(" SELECT ", 1)[1]))}


def published(document_id: str, day: str) -> dict[str, Any]:
    return {"document_id": document_id, "publisher_unit_id": "root", "category": "nghi_quyet",
            "doc_type": "nghi_quyet", "published_at": at(day)}


def test_the_month_roll_ups_equal_the_raw_rows_after_each_event(make_database: Callable[[], Database]) -> None:
    db = make_database()
    db.migrate("reports", MIGRATIONS)
    feed = Feed(db)
    feed("identity.unit.created", {"unit_id": "root", "name": "Tỉnh", "kind": "province"})
    feed("identity.unit.created", {"unit_id": "A", "parent_id": "root", "name": "A", "kind": "cell"})
    for m in ("m1", "m2", "m3"):
        feed("identity.member.created", member(m, "A"))
    active, study = "active_years", "study_years"
    steps: list[tuple[str, dict[str, Any], Months]] = [
        ("identity.account.active", {"member_id": "m1", "day": "2025-03-05"}, {(active, "m1", "2025"): bits(3)}),
        ("identity.account.active", {"member_id": "m1", "day": "2025-03-20"}, {(active, "m1", "2025"): bits(3)}),
        ("identity.account.active", {"member_id": "m1", "day": "2025-11-02"},
         {(active, "m1", "2025"): bits(3, 11)}),
        ("identity.facts.activity",
         {"accounts": [{"member_id": "m2", "activated_on": "2024-12-31", "last_active_on": "2025-01-02"}]},
         {(active, "m1", "2025"): bits(3, 11), (active, "m2", "2024"): bits(12), (active, "m2", "2025"): bits(1)}),
        # A mark on a document not known yet: counted when the document comes.
        ("documents.study.marked", {"document_id": "d1", "member_id": "m1", "at": at("2025-04-03")}, {}),
        ("documents.document.published", published("d1", "2025-04-01"), {(study, "m1", "2025"): bits(4)}),
        ("documents.document.published", published("d1", "2025-04-01"), {(study, "m1", "2025"): bits(4)}),
        # The same mark again (another day): the first one stands.
        ("documents.study.marked", {"document_id": "d1", "member_id": "m1", "at": at("2025-09-09")},
         {(study, "m1", "2025"): bits(4)}),
        ("documents.study.marked", {"document_id": "d1", "member_id": "m2", "at": at("2025-10-01")},
         {(study, "m1", "2025"): bits(4), (study, "m2", "2025"): bits(10)}),
        ("documents.facts.study", {"marks": [{"document_id": "d2", "member_id": "m1", "at": at("2026-01-10")},
                                             {"document_id": "d1", "member_id": "m3", "at": at("2025-04-20")}]},
         {(study, "m1", "2025"): bits(4), (study, "m2", "2025"): bits(10), (study, "m3", "2025"): bits(4)}),
        ("documents.facts.documents", {"documents": [published("d1", "2025-04-01"), published("d2", "2026-01-01")]},
         {(study, "m1", "2025"): bits(4), (study, "m2", "2025"): bits(10), (study, "m3", "2025"): bits(4),
          (study, "m1", "2026"): bits(1)}),
        ("documents.study.marked", {"document_id": "d2", "member_id": "m1", "at": at("2026-02-01")},
         {(study, "m1", "2025"): bits(4), (study, "m2", "2025"): bits(10), (study, "m3", "2025"): bits(4),
          (study, "m1", "2026"): bits(1)}),
    ]
    expected_active: Months = {}
    for topic, payload, expected in steps:
        feed(topic, payload)
        if topic.startswith("identity."):
            expected_active = expected
            expected = {**expected}
        else:
            expected = {**expected_active, **expected}
        assert rollups(db) == expected == raw(db), (topic, payload)

    def counts(period: str, from_date: str = "", to_date: str = "") -> tuple[int, int]:
        with db.read() as conn:
            r = figures.build(conn, figures.unit(conn, "A"), periods.parse(period, from_date, to_date), db=db)
        return r.adoption.active, r.studied_members

    # Whole months from the roll-ups, partial ones from the raw days, both across a year's end.
    assert counts("2025") == (2, 3)
    assert counts("2025-Q2") == (0, 2)
    assert counts("2025-11") == (1, 0)
    assert counts("", "2025-03-06", "2025-03-19") == (0, 0)
    assert counts("", "2025-03-06", "2025-04-02") == (1, 0)  # m1 on 20/3; m3's mark was on 20/4
    assert counts("", "2025-03-21", "2025-04-20") == (0, 2)  # m1 on 3/4, m3 on 20/4
    assert counts("", "2024-12-31", "2026-01-09") == (2, 3)
    assert counts("", "2024-12-30", "2024-12-31") == (1, 0)
    assert counts("", "2025-11-03", "2026-01-10") == (0, 1)
    # Migration 4's filling gives the same tables from the raw rows.
    with db.write() as conn:
        for table, rebuild in ROLLUPS.items():
            conn.execute(sa.text(f"DELETE FROM {table}"))
            conn.execute(sa.text(rebuild))
    assert rollups(db) == raw(db) == expected
