"""Events from the documents and meetings services become inbox items, each applied once.

The consumer's input boundary is a fetch function returning Event objects: tested with a plain
list, and with the real EventLogService of another database over gRPC."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import sqlalchemy as sa

from services.core.config import ServerConfig
from services.core.db import Database, Migration
from services.core.outbox import (
    OUTBOX_MIGRATIONS,
    OUTBOX_STATEMENTS,
    Event,
    add_event_log,
    emit,
    grpc_fetch,
    relay_once,
)
from services.core.server import start_server
from services.notifications import events
from sotay.events.v1.meetings_events_pb2 import PollClosed, ResolutionPublished
from sotay.notifications.v1 import notifications_pb2 as pb
from tests.unit.notifications.conftest import MEMBER_A1, MEMBER_A2, MEMBER_B1, SECRETARY_A1, World

DOC_ID = "8d0a3c2e-1111-4111-8111-000000000001"


def list_fetch(log: list[Event]) -> Callable[[int], tuple[list[Event], int]]:
    def fetch(after: int) -> tuple[list[Event], int]:
        found = [e for e in log if e.seq > after]
        return found, max([after, *(e.seq for e in found)])

    return fetch


def titles(w: World, login: str, flt: int = pb.INBOX_FILTER_UNSPECIFIED) -> list[str]:
    return [i.title for i in w.stub.ListInbox(pb.ListInboxRequest(filter=flt), metadata=w.token(login)).items]


def test_meeting_and_document_events_reach_the_right_inboxes_once(world: World) -> None:
    w = world
    a1 = [w.members[SECRETARY_A1].id, w.members[MEMBER_A1].id]
    meeting = "5b0a3c2e-2222-4222-8222-000000000001"
    announced = Event("e1", 1, "meetings.meeting.announced", meeting, {
        "meeting_id": meeting, "cell_unit_id": w.units["cell_a1"], "title": "Sinh hoạt tháng 11",
        "kind": "regular", "starts_at": 1795177800.0, "member_ids": a1, "document_ids": [DOC_ID]})
    task = Event("e2", 2, "meetings.task.assigned", "t1", {
        "task_id": "t1", "meeting_id": meeting, "title": "Vận động quỹ", "due_on": "2026-12-01",
        "assignee_member_ids": [w.members[MEMBER_A1].id]})
    due = Event("e3", 3, "meetings.task.due_soon", "t1", {
        "task_id": "t1", "title": "Vận động quỹ", "due_on": "2026-12-01",
        "assignee_member_ids": [w.members[MEMBER_A1].id]})
    poll = Event("e4", 4, "meetings.poll.opened", "p1", {
        "meeting_id": meeting, "poll_id": "p1", "cell_unit_id": w.units["cell_a1"], "question": "Thông qua?",
        "eligible_member_ids": a1})
    unknown = Event("e5", 5, "meetings.minutes.signed", meeting, {"meeting_id": meeting})
    broken = Event("e6", 6, "meetings.task.assigned", "t2", {"assignee_member_ids": "not-a-list"})
    # The same event twice in a page, and the same fact again under another event id.
    log = [announced, announced, task, due, poll, unknown, broken,
           Event("e7", 7, "meetings.task.assigned", "t1", task.payload)]
    consumer = events.consumer(w.db, "meetings", list_fetch(log))
    assert consumer.poll_once() == 7
    assert consumer.poll_once() == 0
    consumer.fetch = lambda after: (log, 7)  # a source that re-delivers everything
    assert consumer.poll_once() == 0
    mine = w.stub.ListInbox(pb.ListInboxRequest(filter=pb.INBOX_FILTER_PERSONAL), metadata=w.token(MEMBER_A1))
    kinds = [i.notification_kind for i in mine.items]
    assert sorted(kinds) == sorted([pb.NOTIFICATION_KIND_MEETING_ANNOUNCED, pb.NOTIFICATION_KIND_MEETING_DOCUMENTS,
                                    pb.NOTIFICATION_KIND_TASK_ASSIGNED, pb.NOTIFICATION_KIND_TASK_DUE_SOON,
                                    pb.NOTIFICATION_KIND_POLL_OPENED])
    told = next(i for i in mine.items if i.notification_kind == pb.NOTIFICATION_KIND_MEETING_ANNOUNCED)
    assert told.summary == "Thời gian: 19:30 ngày 20/11/2026"  # the members' clock, not the event's raw value
    docs = next(i for i in mine.items if i.notification_kind == pb.NOTIFICATION_KIND_MEETING_DOCUMENTS)
    assert list(docs.link.document_ids) == [DOC_ID] and docs.link.meeting_id == meeting
    secretary = w.stub.GetInboxVersion(pb.GetInboxVersionRequest(), metadata=w.token(SECRETARY_A1))
    assert secretary.unread_notifications == 3  # announced, documents, poll
    assert titles(w, MEMBER_B1) == []
    # Order per member: the task was assigned before it came due.
    with w.db.read() as conn:
        order = list(conn.execute(sa.text(
            "SELECT kind FROM notifications WHERE member_id = :m AND kind LIKE 'task%' ORDER BY created_at, kind"),
            {"m": w.members[MEMBER_A1].id}).scalars())
    assert order == ["task_assigned", "task_due_soon"]
    # A member cannot mark someone else's notification.
    from tests.unit.notifications.conftest import expect_error

    expect_error(grpc.StatusCode.NOT_FOUND, "notification_not_found", w.stub.MarkRead,
                 pb.MarkReadRequest(notification_ids=[docs.id]), metadata=w.token(SECRETARY_A1))
    assert w.stub.MarkRead(pb.MarkReadRequest(notification_ids=[docs.id]), metadata=w.token(MEMBER_A1)).marked == 1


def test_document_published_is_an_inbox_item_of_its_audience(world: World) -> None:
    w = world
    published = Event("d1", 1, "documents.document.published", DOC_ID, {
        "document_id": DOC_ID, "title": "Quy chế làm việc", "number": "28-QC/TU", "doc_type": "quy_che",
        "category": "van_kien", "audience_unit_ids": [w.units["commune_a"]],
        "publisher_unit_id": w.units["province"], "published_at": 1_790_000_000.0})
    version = Event("d2", 2, "documents.document.version_added", DOC_ID, {
        "document_id": DOC_ID, "version": 2, "audience_unit_ids": [w.units["commune_a"]]})
    consumer = events.consumer(w.db, "documents", list_fetch([published, published, version]))
    assert consumer.poll_once() == 2
    assert titles(w, MEMBER_A2) == ["28-QC/TU Quy chế làm việc (phiên bản 2)", "28-QC/TU Quy chế làm việc"]
    assert titles(w, MEMBER_B1) == []
    item = w.stub.ListInbox(pb.ListInboxRequest(), metadata=w.token(MEMBER_A1)).items[1]
    assert item.bulletin_kind == pb.BULLETIN_KIND_DOCUMENT and list(item.link.document_ids) == [DOC_ID]


def test_consumer_reads_a_real_event_log_over_grpc(world: World, make_database: Callable[[], Database]) -> None:
    w = world
    source = make_database()
    source.migrate("meetings", [Migration(1, "outbox", OUTBOX_STATEMENTS), *OUTBOX_MIGRATIONS])
    with source.write() as conn:
        for i in range(3):
            emit(conn, f"m{i}", ResolutionPublished(
                meeting_id=f"m{i}", cell_unit_id=w.units["cell_b1"], title=f"Nghị quyết {i}",
                member_ids=[w.members[MEMBER_B1].id]))
        emit(conn, "m0", PollClosed(meeting_id="m0"))  # not subscribed
    relay_once(source, "meetings")

    def register(server: grpc.Server) -> list[str]:
        return [add_event_log(server, source)]

    server = start_server(ServerConfig("meetings", "127.0.0.1", 0, 0, 4, 0.5), register, None, set())
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        consumer = events.consumer(w.db, "meetings", grpc_fetch(channel, events.TOPICS["meetings"]))
        assert consumer.poll_once() == 3
        assert consumer.cursor() == 4
        with source.write() as conn:
            emit(conn, "m9", ResolutionPublished(meeting_id="m9", title="Nghị quyết 9",
                                                 member_ids=[w.members[MEMBER_B1].id]))
        relay_once(source, "meetings")
        assert consumer.poll_once() == 1
        assert consumer.poll_once() == 0
    finally:
        channel.close()
        server.stop(0)
    got = titles(w, MEMBER_B1, pb.INBOX_FILTER_PERSONAL)
    assert sorted(got) == [f"Nghị quyết: Nghị quyết {i}" for i in (0, 1, 2, 9)]
