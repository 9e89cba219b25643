"""Database rows <-> meetings protobuf messages."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Row

from services.core.enums import enum_str, str_enum
from services.core.errors import InvalidArgument
from services.core.timestamps import epoch_seconds, timestamp, ts
from services.meetings import charter
from services.meetings.charter import Rubric
from services.meetings.live import Totals
from services.meetings.meetings import Fields
from sotay.meetings.v1 import meetings_pb2 as pb


def fields_from(msg: pb.MeetingFields, paths: list[str] | None) -> Fields:
    known = {
        "title",
        "starts_at",
        "ends_at",
        "place",
        "mode",
        "agenda",
        "chair_member_id",
        "minutes_secretary_member_id",
        "conclusion",
    }
    if paths is not None:
        unknown = set(paths) - known
        if unknown:
            raise InvalidArgument(
                "invalid_update_mask", f"unknown fields: {', '.join(sorted(unknown))}", field="update_mask"
            )
    f = Fields(
        title=msg.title,
        starts_at=epoch_seconds(msg.starts_at) if msg.HasField("starts_at") else 0.0,
        ends_at=epoch_seconds(msg.ends_at) if msg.HasField("ends_at") else 0.0,
        place=msg.place,
        mode=enum_str(pb.MeetingMode, msg.mode, "MEETING_MODE_", "mode"),
        agenda=[(a.id, a.title, a.description) for a in msg.agenda],
        chair_member_id=msg.chair_member_id,
        minutes_secretary_member_id=msg.minutes_secretary_member_id,
        conclusion=msg.conclusion,
    )
    if paths is None:  # creating: what was given
        f.given = {"title", "starts_at", "place", "mode"}
        if msg.HasField("ends_at"):
            f.given.add("ends_at")
        if msg.agenda:
            f.given.add("agenda")
    else:
        f.given = set(paths)
    return f


def meeting_msg(m: Row[Any], agenda: list[Row[Any]], docs: list[Row[Any]], session_ids: list[str]) -> pb.Meeting:
    resolution = None
    if m.resolution_published_at:
        resolution = pb.Resolution(
            text=m.resolution_text or "",
            document_id=m.resolution_document_id or "",
            published_at=timestamp(m.resolution_published_at),
        )
    return pb.Meeting(
        id=m.id,
        cell_unit_id=m.cell_unit_id,
        cell_name=m.cell_name,
        kind=str_enum(pb.MeetingKind, m.kind, "MEETING_KIND_"),
        title=m.title,
        state=str_enum(pb.MeetingState, m.state, "MEETING_STATE_"),
        starts_at=ts(m.starts_at),
        ends_at=ts(m.ends_at),
        place=m.place,
        mode=str_enum(pb.MeetingMode, m.mode, "MEETING_MODE_"),
        agenda=[pb.AgendaItem(id=a.id, title=a.title, description=a.description, position=a.position) for a in agenda],
        documents=[
            pb.MeetingDocument(
                document_id=d.document_id, title=d.title, attached_at=ts(d.attached_at), opened_by=int(d.opened_by)
            )
            for d in docs
        ],
        session_id=m.session_id,
        session_order=m.session_order,
        session_meeting_ids=session_ids,
        chair_member_id=m.chair_member_id or "",
        minutes_secretary_member_id=m.minutes_secretary_member_id or "",
        conclusion=m.conclusion or "",
        resolution=resolution,
        announced_at=ts(m.announced_at),
        started_at=ts(m.started_at),
        closed_at=ts(m.closed_at),
        created_at=ts(m.created_at),
        live_version=int(m.live_version),
        roster_size=int(m.roster_size),
    )


def attendee_msg(r: Row[Any]) -> pb.Attendee:
    return pb.Attendee(
        member_id=r.member_id,
        full_name=r.full_name,
        status=str_enum(pb.MemberStatus, r.status, "MEMBER_STATUS_"),
        exempt=bool(r.exempt),
        position=r.position,
        session_status=str_enum(pb.SessionStatus, r.session_status, "SESSION_STATUS_"),
        session_reason=r.session_reason,
        attendance=str_enum(pb.AttendanceStatus, r.attendance, "ATTENDANCE_STATUS_"),
        mode=str_enum(pb.AttendanceMode, r.attendance_mode, "ATTENDANCE_MODE_"),
        reason=r.attendance_reason,
        self_checked_in=bool(r.self_checked_in),
        may_vote=charter.may_vote(
            charter.Participant(r.member_id, r.status, bool(r.exempt), r.session_status, r.attendance)
        ),
    )


def totals_msg(t: Totals) -> pb.AttendanceTotals:
    s = t.summary
    return pb.AttendanceTotals(
        roster=s.roster,
        official=s.official,
        probationary=s.probationary,
        exempt=s.exempt,
        present=s.present,
        present_in_person=t.in_person,
        present_online=t.online,
        absent_excused=s.absent_excused,
        absent_unexcused=s.absent_unexcused,
        not_recorded=s.not_recorded,
        eligible_voters=t.eligible,
        denominator=t.denominator,
        attendance_percent=s.percent,
    )


def opinion_msg(o: Row[Any]) -> pb.Opinion:
    return pb.Opinion(
        id=o.id,
        meeting_id=o.meeting_id,
        agenda_item_id=o.agenda_item_id,
        speaker_member_id=o.speaker_member_id,
        speaker_name=o.speaker_name,
        source=str_enum(pb.OpinionSource, o.source, "OPINION_SOURCE_"),
        text=o.text,
        recorded_by_member_id=o.recorded_by_member_id,
        created_at=ts(o.created_at),
    )


def result_msg(p: Row[Any]) -> pb.PollResult | None:
    if p.state != "closed":
        return None
    app = pb.Counts(approve=p.app_approve, reject=p.app_reject, abstain=p.app_abstain)
    room = pb.Counts(approve=p.room_approve, reject=p.room_reject, abstain=p.room_abstain)
    total = pb.Counts(
        approve=app.approve + room.approve, reject=app.reject + room.reject, abstain=app.abstain + room.abstain
    )
    return pb.PollResult(
        app=app,
        room=room,
        total=total,
        eligible_voters=p.eligible,
        official_members=p.official,
        excluded_transferred=p.excl_transferred,
        excluded_suspended=p.excl_suspended,
        excluded_excused=p.excl_excused,
        excluded_absent_exempt=p.excl_absent_exempt,
        denominator=p.denominator,
        needed=charter.needed_to_pass(p.denominator),
        passed=bool(p.passed),
        arithmetic=p.arithmetic or "",
    )


def poll_msg(p: Row[Any], voted: bool = False) -> pb.Poll:
    return pb.Poll(
        id=p.id,
        meeting_id=p.meeting_id,
        agenda_item_id=p.agenda_item_id,
        question=p.question,
        kind=str_enum(pb.PollKind, p.kind, "POLL_KIND_"),
        ballot=str_enum(pb.BallotType, p.ballot, "BALLOT_TYPE_"),
        state=str_enum(pb.PollState, p.state, "POLL_STATE_"),
        votes_cast=p.votes_cast,
        room=pb.Counts(approve=p.room_approve, reject=p.room_reject, abstain=p.room_abstain),
        room_recorded=bool(p.room_recorded),
        result=result_msg(p),
        opened_at=ts(p.opened_at),
        closed_at=ts(p.closed_at),
        voted=voted,
    )


def live_poll_msg(p: Row[Any]) -> pb.LivePoll:
    return pb.LivePoll(
        poll_id=p.id,
        question=p.question,
        kind=str_enum(pb.PollKind, p.kind, "POLL_KIND_"),
        ballot=str_enum(pb.BallotType, p.ballot, "BALLOT_TYPE_"),
        state=str_enum(pb.PollState, p.state, "POLL_STATE_"),
        votes_cast=p.votes_cast,
        result=result_msg(p),
    )


def rubric_msg(r: Rubric) -> pb.Rubric:
    return pb.Rubric(
        id=r.id,
        title=r.title,
        criteria=[
            pb.RubricCriterion(id=c.id, group=c.group, title=c.title, max_points=c.max_points, computed=c.computed)
            for c in r.criteria
        ],
        ratings=[pb.RubricRating(code=x.code, label=x.label, min_points=x.min_points) for x in r.ratings],
        max_points=r.max_points,
    )


def assessment_msg(e: Row[Any]) -> pb.Assessment:
    scores = json.loads(e.scores)
    return pb.Assessment(
        member_id=e.member_id,
        full_name=e.full_name,
        official=e.kind == "official",
        scores=[pb.CriterionScore(criterion_id=k, points=v) for k, v in sorted(scores.items())],
        total=e.total,
        rating_code=e.rating_code,
        rating_label=e.rating_label,
        comment=e.comment,
    )


def task_msg(t: Row[Any], assignees: list[str], reports: list[Row[Any]]) -> pb.Task:
    return pb.Task(
        id=t.id,
        meeting_id=t.meeting_id,
        cell_unit_id=t.cell_unit_id,
        title=t.title,
        description=t.description,
        assignee_member_ids=assignees,
        due_on=t.due_on,
        status=str_enum(pb.TaskStatus, t.status, "TASK_STATUS_"),
        progress_percent=t.progress,
        reports=[
            pb.TaskReport(
                member_id=r.member_id,
                progress_percent=r.progress,
                note=r.note,
                status=str_enum(pb.TaskStatus, r.status, "TASK_STATUS_"),
                at=ts(r.at),
            )
            for r in reports
        ],
        created_at=ts(t.created_at),
    )
