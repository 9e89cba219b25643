"""Events stored before the typed messages are consumed as before. The outboxes of an installation
upgraded to the messages still hold events whose payloads were hand-built dicts (`json.dumps` of
them, as the old `emit` stored them): nulls, numbers where the messages have doubles, SQLite's 0/1
copied into the backfill snapshots, keys no message has. Here such rows go into a real outbox
table, are served by the real event log over gRPC and applied by the reports consumers; on
SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import sqlalchemy as sa

from services.core.config import ServerConfig
from services.core.days import CALENDAR
from services.core.db import Database, Migration
from services.core.events import TOPICS, decode, encode
from services.core.outbox import OUTBOX_MIGRATIONS, OUTBOX_STATEMENTS, add_event_log, grpc_fetch, relay_once
from services.core.server import start_server
from services.reports import consumers
from services.reports.app import MIGRATIONS

ROOT, CELL, CELL2 = "u-root", "u-cell-1", "u-cell-2"
M1, M2, M3 = "m-1", "m-2", "m-3"


def ts(day: str, hour: int = 12) -> float:
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=CALENDAR).timestamp()


# What the producers before the messages stored: (topic, key, payload), copied from their code.
OLD: list[tuple[str, str, dict[str, Any]]] = [
    ("identity.unit.created", ROOT, {"unit_id": ROOT, "parent_id": None, "kind": "province", "name": "Tỉnh"}),
    ("identity.unit.created", CELL, {"unit_id": CELL, "parent_id": ROOT, "kind": "cell", "name": "Chi bộ 1"}),
    ("identity.member.created", M1, {"member_id": M1, "unit_id": CELL, "status": "probationary",
                                     "gender": "female", "exempt": False, "active": True}),
    ("identity.member.updated", M1, {"member_id": M1, "unit_id": CELL, "status": "official", "gender": "female",
                                     "exempt": False, "active": True, "fields": ["official_on", "status"]}),
    # members.facts before the reports: no status; this version cannot read it and skips it
    ("identity.member.created", M3, {"member_id": M3, "unit_id": CELL}),
    # report-facts on SQLite copied the `active` column as it came: 1
    ("identity.facts.units", "identity.facts.units",
     {"units": [{"unit_id": CELL2, "parent_id": ROOT, "kind": "cell", "name": "Chi bộ 2", "active": 1}]}),
    ("identity.facts.members", "identity.facts.members",
     {"members": [{"member_id": M2, "unit_id": CELL2, "status": "official", "gender": "male", "exempt": True,
                   "active": True}]}),
    # facts.columns copied every selected column, `id` too
    ("identity.facts.activity", "identity.facts.activity",
     {"accounts": [{"member_id": M2, "activated_on": "2026-03-02", "last_active_on": "2026-03-05", "id": M2}]}),
    ("identity.account.active", M1, {"member_id": M1, "day": "2026-03-04", "activated": True}),
    ("meetings.meeting.held", "mt-1", {
        "meeting_id": "mt-1", "cell_unit_id": CELL, "kind": "regular", "state": "closed", "month": "2026-03",
        "starts_at": ts("2026-03-10", 19), "closed_at": None, "part1": True, "part2": False, "part3": True,
        "documents_opened_by": 1, "roster": 2, "present": 1, "expected": 2, "attended": 1, "absent_excused": 1,
        "absent_unexcused": 0, "rating": "", "at": 1772000000}),
    ("meetings.task.state", "t-1", {"task_id": "t-1", "meeting_id": "mt-1", "cell_unit_id": CELL,
                                    "due_on": "2026-03-20", "status": "open", "done_on": None, "at": 1772000000.5}),
    ("documents.document.published", "d-1", {
        "document_id": "d-1", "title": "Nghị quyết", "number": "11-NQ/TU", "doc_type": "nghi_quyet",
        "category": "van_kien", "audience_unit_ids": [CELL], "publisher_unit_id": ROOT,
        "published_at": ts("2026-03-01")}),
    ("documents.study.marked", "d-1", {"document_id": "d-1", "member_id": M1, "unit_id": CELL,
                                       "at": ts("2026-03-03")}),
    ("notifications.facts.feedback", "notifications.facts.feedback", {"feedback": [
        {"feedback_id": "f-1", "unit_id": CELL, "at": ts("2026-03-06"), "answered_at": None,
         "answered_by_unit_id": CELL, "escalations": []}]}),
    ("notifications.bulletin.created", "b-1", {"bulletin_id": "b-1", "publisher_unit_id": ROOT,
                                               "audience_unit_ids": [CELL], "kind": "news",
                                               "publish_at": ts("2026-03-07")}),
    ("notifications.bulletin.read", M1, {"member_id": M1, "bulletin_ids": ["b-1"], "at": ts("2026-03-08")}),
]


def store_old(db: Database) -> None:
    with db.write() as conn:
        for i, (topic, key, payload) in enumerate(OLD):
            conn.execute(
                sa.text("INSERT INTO outbox (id, seq, topic, key, payload, created_at) "
                        "VALUES (:id, NULL, :t, :k, :p, :at)"),
                {"id": str(uuid.uuid4()), "t": topic, "k": key, "p": json.dumps(payload), "at": time.time() + i},
            )
    relay_once(db, "old")


def rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def test_events_stored_as_hand_built_json_are_applied_by_the_reports(
    make_database: Callable[[], Database],
) -> None:
    source, reports = make_database(), make_database()
    source.migrate("old", [Migration(1, "outbox", OUTBOX_STATEMENTS), *OUTBOX_MIGRATIONS])
    reports.migrate("reports", MIGRATIONS)
    store_old(source)
    server = start_server(ServerConfig("old", "127.0.0.1", 0, 0, 4, 0.1), lambda s: [add_event_log(s, source)],
                          None, set())
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            for name, topics in consumers.TOPICS.items():  # one log holds every source's events here
                consumer = consumers.consumer(reports, name, grpc_fetch(channel, topics))
                while consumer.poll_once():
                    pass
    finally:
        server.stop(0)

    assert rows(reports, "SELECT id, parent_id, path, name, active FROM units ORDER BY path") == [
        (ROOT, None, f"/{ROOT}/", "Tỉnh", True),
        (CELL, ROOT, f"/{ROOT}/{CELL}/", "Chi bộ 1", True),
        (CELL2, ROOT, f"/{ROOT}/{CELL2}/", "Chi bộ 2", True),
    ]
    assert rows(reports, "SELECT id, unit_id, status, gender, exempt, active, activated_on FROM members "
                         "ORDER BY id") == [
        (M1, CELL, "official", "female", False, True, "2026-03-04"),
        (M2, CELL2, "official", "male", True, True, "2026-03-02"),
    ]  # M3's event, unreadable, was skipped
    assert rows(reports, "SELECT member_id, month, days FROM member_activity ORDER BY member_id") == [
        (M1, "2026-03", 1 << 3), (M2, "2026-03", (1 << 1) | (1 << 4))]
    assert rows(reports, "SELECT id, cell_unit_id, month, day, part1, part2, part3, attended, expected, rating "
                         "FROM meetings") == [("mt-1", CELL, "2026-03", "2026-03-10", True, False, True, 1, 2, "")]
    assert rows(reports, "SELECT id, due_on, status, done_on FROM tasks") == [("t-1", "2026-03-20", "open", None)]
    assert rows(reports, "SELECT id, publisher_unit_id, category, day FROM documents") == [
        ("d-1", ROOT, "van_kien", "2026-03-01")]
    assert rows(reports, "SELECT document_id, member_id, day FROM study_marks") == [("d-1", M1, "2026-03-03")]
    assert rows(reports, "SELECT id, unit_id, received_on, answered_on FROM feedback") == [
        ("f-1", CELL, "2026-03-06", None)]
    assert rows(reports, "SELECT id, kind, day, withdrawn FROM bulletins") == [("b-1", "news", "2026-03-07", False)]
    assert rows(reports, "SELECT bulletin_id, member_id FROM bulletin_reads") == [("b-1", M1)]


def test_a_message_is_stored_in_the_shape_the_hand_built_payloads_had() -> None:
    """Decoded and encoded again, an old payload keeps its keys and its values (a null is the
    field's empty value, a key no message has is dropped): rows stored before and after read alike."""
    for topic, _, payload in OLD:
        again = json.loads(encode(decode(TOPICS[topic], payload)))
        for key, value in payload.items():
            if key == "id":
                assert key not in again
            elif value is None:
                assert again[key] in ("", 0), (topic, key)
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                assert len(again[key]) == len(value)
            else:
                assert again[key] == value, (topic, key)
