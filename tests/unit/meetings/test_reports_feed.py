"""The meetings service's `meetings.meeting.held` events, read by the reports service, give the same
three-parts figures as the meetings service's own compliance report, and the attendance ratio of
charter.attendance (an excused member stays in the denominator)."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import sqlalchemy as sa

from services.core.db import Database
from services.core.outbox import Event, grpc_fetch, read_events, relay_once
from services.reports import consumers, figures, periods
from services.reports.migrations import MIGRATIONS as REPORTS_MIGRATIONS
from sotay.identity.v1 import identity_pb2 as ipb
from sotay.meetings.v1 import meetings_pb2 as pb
from tests.unit.meetings.conftest import World, new_meeting
from tests.unit.meetings.test_compliance_and_tasks import PAIR, hold


def test_held_meetings_feed_the_reports(world: World, make_database: Callable[[], Database]) -> None:
    w = world
    town = w.unit("Đảng ủy thị trấn Đồng Đăng", ipb.UNIT_KIND_COMMUNE, w.identity.root_id)
    cells = [w.cell(f"Chi bộ {i + 1:02d}", town, PAIR) for i in range(6)]
    plan = [(True, True, True), (True, True, True), (True, False, False), (False, True, False), (False, False, True)]
    for cell, parts in zip(cells, plan, strict=False):  # the 6th holds none
        hold(w, cell, *parts)
    sec = cells[0].secretary.auth
    # A later meeting of cell 1 with one member excused for the session: attended 1 of 2.
    late = new_meeting(w, cells[0], kind=pb.MEETING_KIND_THEMATIC, title="Chuyên đề")
    w.stub.AnnounceMeeting(pb.AnnounceMeetingRequest(meeting_id=late.id), metadata=sec)
    w.stub.SetSessionStatus(
        pb.SetSessionStatusRequest(meeting_id=late.id, member_id=cells[0].people[1].member_id,
                                   status=pb.SESSION_STATUS_EXCUSED, reason="công tác"),
        metadata=sec,
    )
    w.stub.StartMeeting(pb.StartMeetingRequest(meeting_id=late.id), metadata=sec)
    w.stub.CheckIn(pb.CheckInRequest(meeting_id=late.id), metadata=cells[0].secretary.auth)
    w.stub.CloseMeeting(pb.CloseMeetingRequest(meeting_id=late.id), metadata=sec)
    compliance = w.stub.GetComplianceReport(
        pb.GetComplianceReportRequest(unit_id=town, month="2026-03"), metadata=w.admin
    ).totals

    while relay_once(w.db, "meetings"):
        pass
    with w.db.read() as conn:
        events = conn.execute(
            sa.text("SELECT payload FROM outbox WHERE topic = 'meetings.meeting.held' ORDER BY seq")
        ).all()
    assert len(events) >= 6  # closed, evaluated, resolution published, task assigned re-send it

    reports = make_database()
    reports.migrate("reports", REPORTS_MIGRATIONS)

    def meetings_log(after: int) -> tuple[list[Event], int]:
        with w.db.read() as conn:
            return read_events(conn, after, 500, consumers.TOPICS["meetings"])

    while relay_once(w.identity.db, "identity"):
        pass
    channel = grpc.insecure_channel(w.identity.target)
    try:
        for source, fetch in (
            ("identity", grpc_fetch(channel, consumers.TOPICS["identity"])),
            ("meetings", meetings_log),
        ):
            consumer = consumers.consumer(reports, source, fetch)
            while consumer.poll_once():
                pass
    finally:
        channel.close()
    with reports.read() as conn:
        r = figures.build(conn, figures.unit(conn, town), periods.parse("2026-03"))
    s = r.meetings
    assert (s.cells, s.cells_using) == (compliance.cells, compliance.cells_using_platform) == (6, 5)
    assert (s.cells_part1, s.cells_part2, s.cells_part3, s.cells_all_three) == (
        compliance.cells_part1, compliance.cells_part2, compliance.cells_part3, compliance.cells_all_three_parts,
    ) == (2, 2, 2, 1)  # cell 01's thematic meeting did no part: only cell 02 did all three
    assert s.meetings.held == compliance.meetings == 6
    first = next(c for c in r.cells if c.unit_id == cells[0].id)
    # 5 meetings x 2 present of 2, then 1 present of 2 (the excused member stays expected).
    assert (first.meetings.attended, first.meetings.expected) == (2 + 1, 2 + 2)
    assert (s.meetings.attended, s.meetings.expected) == (5 * 2 + 1, 6 * 2)
    assert r.membership.members == 12 and first.membership.members == 2
