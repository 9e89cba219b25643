"""The member's home page: unread inbox, the next meeting of the cell, tasks assigned to me.
An account with no member (a province admin's) gets its staff pages instead.

The three panels are independent RPCs to three services, sent at once (gRPC futures); a panel
whose service fails says so and the others still show."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import grpc
from flask import Response

from gateway.routes.meetings import meetings
from gateway.routes.notifications import svc as notifications
from gateway.web import session
from gateway.web.base import bp, login_required, render
from gateway.web.bulletins import item_link
from sotay.meetings.v1 import meetings_pb2 as mpb
from sotay.notifications.v1 import notifications_pb2 as npb

log = logging.getLogger("sotay.gateway.web")

INBOX_SHOWN = 10
OPEN_TASKS = (mpb.TASK_STATUS_OPEN, mpb.TASK_STATUS_IN_PROGRESS)


@dataclass
class Panel:
    """A panel's data, or failed=True when its service did not answer."""

    data: Any = None
    failed: bool = False


def collect(future: Any) -> Panel:
    try:
        return Panel(future.result())
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:  # type: ignore[attr-defined]
            raise
        log.warning("home panel failed", extra={"fields": {"code": exc.code().name}})  # type: ignore[attr-defined]
        return Panel(failed=True)


def next_meeting(in_progress: Panel, announced: Panel) -> Panel:
    """A meeting under way, else the announced one starting soonest (not yet ended)."""
    if in_progress.failed or announced.failed:
        return Panel(failed=True)
    if in_progress.data.meetings:
        return Panel(in_progress.data.meetings[0])
    now = time.time()
    coming = [m for m in announced.data.meetings if (m.ends_at.seconds or m.starts_at.seconds + 4 * 3600) >= now]
    return Panel(min(coming, key=lambda m: m.starts_at.seconds) if coming else None)


@bp.route("/")
@login_required
def home() -> Response:
    me = session.current()
    if not me.member_id:  # a staff account (the province admin's) has no inbox, meetings or tasks
        return render("home.html", staff_only=True)
    inbox_call = notifications().ListInbox.future(
        npb.ListInboxRequest(filter=npb.INBOX_FILTER_UNREAD, page_size=INBOX_SHOWN)
    )
    meeting, tasks = Panel(), Panel()
    if me.member_id and me.unit_id:
        stub = meetings()
        running = stub.ListMeetings.future(mpb.ListMeetingsRequest(
            cell_unit_id=me.unit_id, state=mpb.MEETING_STATE_IN_PROGRESS, page_size=1))
        announced = stub.ListMeetings.future(mpb.ListMeetingsRequest(
            cell_unit_id=me.unit_id, state=mpb.MEETING_STATE_ANNOUNCED, page_size=20))
        task_call = stub.ListTasks.future(mpb.ListTasksRequest(cell_unit_id=me.unit_id, page_size=100))
        meeting = next_meeting(collect(running), collect(announced))
        tasks = collect(task_call)
        if not tasks.failed:
            tasks.data = [t for t in tasks.data.tasks
                          if me.member_id in t.assignee_member_ids and t.status in OPEN_TASKS]
    inbox = collect(inbox_call)
    return render("home.html", inbox=inbox, meeting=meeting, tasks=tasks, item_link=item_link)
