"""The roster snapshot (taken when a meeting is announced), session statuses and attendance.

The snapshot freezes who was summoned, their status (official/probationary), exemption and
position, so later membership changes never rewrite a meeting's history. The secretary marks
per-member session statuses (transferred, suspended/detained, excused for the whole session) that
feed the Charter denominator, and records attendance; members check themselves in.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core.errors import FailedPrecondition, InvalidArgument
from services.core.outbox import emit
from services.core.paging import counted_page
from services.meetings import charter, meetings, states
from sotay.events.v1.meetings_events_pb2 import MeetingAnnounced
from sotay.identity.v1 import identity_pb2 as ipb

MODES = ("in_person", "online")
MAX_MARKS = 2000  # a roster is a cell (about 25); far above any real sheet


@dataclass(frozen=True)
class RosterEntry:
    member_id: str
    account_id: str
    full_name: str
    status: str  # official | probationary
    exempt: bool
    position: str  # member | secretary | deputy_secretary | committee_member


def summoned(entries: Sequence[ipb.RosterEntry]) -> list[RosterEntry]:
    """identity's roster of the cell as the snapshot keeps it."""
    return [
        RosterEntry(
            member_id=e.member_id,
            account_id=e.account_id,
            full_name=e.full_name,
            status="probationary" if e.status == ipb.MEMBER_STATUS_PROBATIONARY else "official",
            exempt=e.exempt,
            position=(
                ipb.CellPosition.Name(e.position).removeprefix("CELL_POSITION_").lower() if e.position else "member"
            ),
        )
        for e in entries
    ]


def snapshot(conn: Connection, meeting: Row[Any], entries: Sequence[RosterEntry]) -> list[str]:
    """Announce: store the roster, move to `announced`, and tell members (outbox event)."""
    states.advance(meeting.state, states.ANNOUNCED)
    if not entries:
        raise FailedPrecondition("empty_roster", "the cell has no members to summon")
    ordered = sorted(entries, key=lambda e: (e.full_name.lower(), e.member_id))
    conn.execute(
        sa.text(
            "INSERT INTO roster (meeting_id, member_id, account_id, full_name, name_order, status, exempt, position, "
            "session_status, session_reason, attendance, attendance_mode, attendance_reason, self_checked_in) "
            "VALUES (:m, :p, :a, :n, :o, :s, :x, :pos, 'normal', '', '', '', '', FALSE)"
        ),
        [
            {
                "m": meeting.id,
                "p": e.member_id,
                "a": e.account_id or None,
                "n": e.full_name,
                "o": i,
                "s": e.status,
                "x": e.exempt,
                "pos": e.position,
            }
            for i, e in enumerate(ordered)
        ],
    )
    now = time.time()
    conn.execute(
        sa.text("UPDATE meetings SET state = :s, announced_at = :t WHERE id = :id"),
        {"s": states.ANNOUNCED, "t": now, "id": meeting.id},
    )
    meetings.bump(conn, meeting.id)
    member_ids = [e.member_id for e in ordered]
    document_ids = [d.document_id for d in meetings.documents(conn, meeting.id)]
    emit(conn, meeting.id, MeetingAnnounced(
        meeting_id=meeting.id,
        cell_unit_id=meeting.cell_unit_id,
        title=meeting.title,
        kind=meeting.kind,
        starts_at=meeting.starts_at,
        member_ids=member_ids,
        document_ids=document_ids,
    ))
    return member_ids


def participants(conn: Connection, meeting_id: str) -> list[charter.Participant]:
    return [
        charter.Participant(r.member_id, r.status, bool(r.exempt), r.session_status, r.attendance)
        for r in conn.execute(
            sa.text("SELECT member_id, status, exempt, session_status, attendance FROM roster WHERE meeting_id = :m"),
            {"m": meeting_id},
        )
    ]


def eligible_count(conn: Connection, meeting_id: str) -> int:
    """charter.eligible_voters in SQL: official, present, normal session status."""
    return int(
        conn.execute(
            sa.text(
                "SELECT COUNT(*) FROM roster WHERE meeting_id = :m AND status = 'official' "
                "AND attendance = 'present' AND session_status = 'normal'"
            ),
            {"m": meeting_id},
        ).scalar_one()
    )


def participant(row: Row[Any]) -> charter.Participant:
    return charter.Participant(row.member_id, row.status, bool(row.exempt), row.session_status, row.attendance)


def any_open_poll(conn: Connection, meeting_id: str) -> bool:
    return (
        conn.execute(sa.text("SELECT 1 FROM polls WHERE meeting_id = :m AND state = 'open'"), {"m": meeting_id}).first()
        is not None
    )


def set_session_status(conn: Connection, meeting: Row[Any], member_id: str, status: str, reason: str) -> Row[Any]:
    states.require(meeting.state, "session_status")
    if status not in charter.SESSION_STATUSES:
        raise InvalidArgument("invalid_session_status", "unknown session status", field="status")
    reason = reason.strip()[:500]
    if status != charter.NORMAL and not reason:
        raise InvalidArgument("reason_required", "give the reason for this status", field="reason")
    if any_open_poll(conn, meeting.id):
        raise FailedPrecondition("poll_open", "the denominator cannot change while a poll is open")
    row = meetings.require_roster_member(conn, meeting.id, member_id, "member_id")
    params = {"m": meeting.id, "p": row.member_id, "s": status, "r": reason if status != charter.NORMAL else ""}
    conn.execute(
        sa.text("UPDATE roster SET session_status = :s, session_reason = :r WHERE meeting_id = :m AND member_id = :p"),
        params,
    )
    if status in (charter.TRANSFERRED, charter.EXCUSED, charter.SUSPENDED) and row.attendance == charter.PRESENT:
        conn.execute(
            sa.text("UPDATE roster SET attendance = '', attendance_mode = '' WHERE meeting_id = :m AND member_id = :p"),
            params,
        )
    meetings.bump(conn, meeting.id)
    return meetings.require_roster_member(conn, meeting.id, member_id, "member_id")


def check_in(conn: Connection, meeting: Row[Any], member_id: str, mode: str) -> Row[Any]:
    """A member marks themself present (idempotent: checking in twice changes nothing)."""
    states.require(meeting.state, "attendance")
    mode = mode or ("online" if meeting.mode == "online" else "in_person")
    if mode not in MODES:
        raise InvalidArgument("invalid_mode", "attendance mode must be in person or online", field="mode")
    if meeting.mode == "in_person" and mode == "online":
        raise FailedPrecondition("meeting_in_person", "this meeting is held in person only")
    row = meetings.require_roster_member(conn, meeting.id, member_id, "member_id")
    if row.session_status in (charter.TRANSFERRED, charter.EXCUSED, charter.SUSPENDED):
        raise FailedPrecondition(
            "member_not_in_session",
            "your status for this session does not allow check-in",
            session_status=row.session_status,
        )
    if row.attendance == charter.PRESENT:
        return row
    conn.execute(
        sa.text(
            "UPDATE roster SET attendance = 'present', attendance_mode = :mode, attendance_reason = '', "
            "self_checked_in = TRUE WHERE meeting_id = :m AND member_id = :p"
        ),
        {"m": meeting.id, "p": member_id, "mode": mode},
    )
    meetings.bump(conn, meeting.id)
    return meetings.require_roster_member(conn, meeting.id, member_id, "member_id")


def record(conn: Connection, meeting: Row[Any], member_id: str, attendance: str, mode: str, reason: str) -> Row[Any]:
    """The secretary records presence (in the room, or for someone without a phone) or an absence."""
    states.require(meeting.state, "attendance")
    if attendance not in (charter.PRESENT, charter.ABSENT_EXCUSED, charter.ABSENT_UNEXCUSED):
        raise InvalidArgument("invalid_attendance", "attendance must be present or absent", field="attendance")
    row = meetings.require_roster_member(conn, meeting.id, member_id, "member_id")
    reason = reason.strip()[:500]
    if attendance == charter.PRESENT:
        mode = mode or "in_person"
        if mode not in MODES:
            raise InvalidArgument("invalid_mode", "attendance mode must be in person or online", field="mode")
        if row.session_status in (charter.TRANSFERRED, charter.EXCUSED):
            raise FailedPrecondition("member_not_in_session", "set the member's session status back to normal first")
        reason = ""
    else:
        if not reason:
            raise InvalidArgument("reason_required", "an absence needs a reason (or 'không lý do')", field="reason")
        if row.attendance == charter.PRESENT and any_open_poll(conn, meeting.id):
            raise FailedPrecondition("poll_open", "a member present cannot be marked absent while a poll is open")
        mode = ""
    conn.execute(
        sa.text(
            "UPDATE roster SET attendance = :a, attendance_mode = :mode, attendance_reason = :r, "
            "self_checked_in = FALSE WHERE meeting_id = :m AND member_id = :p"
        ),
        {"m": meeting.id, "p": member_id, "a": attendance, "mode": mode, "r": reason},
    )
    meetings.bump(conn, meeting.id)
    return meetings.require_roster_member(conn, meeting.id, member_id, "member_id")


def list_roster(conn: Connection, meeting_id: str, offset: int, limit: int) -> tuple[list[Row[Any]], int]:
    return counted_page(conn, "roster", "meeting_id = :m", "name_order", {"m": meeting_id}, offset, limit)


def all_rows(conn: Connection, meeting_id: str) -> list[Row[Any]]:
    return list(
        conn.execute(sa.text("SELECT * FROM roster WHERE meeting_id = :m ORDER BY name_order"), {"m": meeting_id}).all()
    )


def mode_counts(conn: Connection, meeting_id: str) -> tuple[int, int]:
    rows = conn.execute(
        sa.text(
            "SELECT attendance_mode, COUNT(*) AS n FROM roster WHERE meeting_id = :m AND attendance = 'present' "
            "AND session_status NOT IN ('transferred', 'excused') GROUP BY attendance_mode"
        ),
        {"m": meeting_id},
    ).all()
    by = {r.attendance_mode: int(r.n) for r in rows}
    return by.get("in_person", 0), by.get("online", 0)


@dataclass(frozen=True)
class Mark:
    """One line of the attendance sheet; empty attendance/session_status leave that part as it is."""

    member_id: str
    attendance: str = ""
    mode: str = ""
    reason: str = ""
    session_status: str = ""
    session_reason: str = ""


@dataclass
class Line:
    session_status: str
    session_reason: str
    attendance: str
    mode: str
    reason: str
    self_checked_in: bool


def _line(row: Row[Any]) -> Line:
    return Line(row.session_status, row.session_reason, row.attendance, row.attendance_mode,
                row.attendance_reason, bool(row.self_checked_in))


def _apply(line: Line, mark: Mark, meeting_mode: str) -> list[str]:
    """Apply one mark to a sheet line; the reasons it is refused (nothing applied when any)."""
    problems: list[str] = []
    if mark.session_status:
        if mark.session_status not in charter.SESSION_STATUSES:
            return ["invalid_session_status"]
        reason = mark.session_reason.strip()[:500]
        if mark.session_status != charter.NORMAL and not reason:
            return ["session_reason_required"]
        line.session_status = mark.session_status
        line.session_reason = reason if mark.session_status != charter.NORMAL else ""
        if line.session_status in (charter.TRANSFERRED, charter.EXCUSED, charter.SUSPENDED) and (
            line.attendance == charter.PRESENT
        ):
            line.attendance, line.mode = charter.NOT_RECORDED, ""
    if not mark.attendance:
        return problems
    if mark.attendance not in (charter.PRESENT, charter.ABSENT_EXCUSED, charter.ABSENT_UNEXCUSED):
        return ["invalid_attendance"]
    if mark.attendance == charter.PRESENT:
        mode = mark.mode or (line.mode if line.attendance == charter.PRESENT and line.mode else "in_person")
        if mode not in MODES:
            return ["invalid_mode"]
        if meeting_mode == "in_person" and mode == "online":
            return ["meeting_in_person"]
        if line.session_status in (charter.TRANSFERRED, charter.EXCUSED):
            return ["member_not_in_session"]
        if line.attendance != charter.PRESENT or line.mode != mode:
            line.self_checked_in = False
        line.attendance, line.mode, line.reason = charter.PRESENT, mode, ""
    else:
        reason = mark.reason.strip()[:500]
        if not reason:
            return ["reason_required"]
        line.attendance, line.mode, line.reason, line.self_checked_in = mark.attendance, "", reason, False
    return problems


def bulk(
    conn: Connection, meeting: Row[Any], marks: Sequence[Mark], rest_present: bool, source_id: str = ""
) -> int:
    """The whole attendance sheet at once: copy the other record of the session (`source_id`), then
    the marks, then everyone else present. All or nothing: any refused line refuses the request,
    naming every refused member. Returns how many members' records changed."""
    states.require(meeting.state, "attendance")
    rows = {r.member_id: r for r in all_rows(conn, meeting.id)}
    sheet = {mid: _line(r) for mid, r in rows.items()}
    seen: set[str] = set()
    for mark in marks:
        if mark.member_id not in rows:
            raise InvalidArgument("not_in_roster", f"{mark.member_id} is not in this meeting's roster",
                                  field="marks", member_id=mark.member_id)
        if mark.member_id in seen:
            raise InvalidArgument("member_marked_twice", f"{mark.member_id} is marked twice", field="marks",
                                  member_id=mark.member_id)
        seen.add(mark.member_id)
    if source_id:
        for mid, src in _source_lines(conn, meeting, source_id).items():
            if mid in sheet:
                sheet[mid] = src
    refused: dict[str, str] = {}
    for mark in marks:
        for problem in _apply(sheet[mark.member_id], mark, meeting.mode):
            refused.setdefault(mark.member_id, problem)
    if rest_present:
        for mid, line in sheet.items():
            if (
                mid not in seen
                and not rows[mid].exempt
                and line.session_status in (charter.NORMAL, charter.SUSPENDED)
                and line.attendance != charter.PRESENT
            ):
                _apply(line, Mark(mid, charter.PRESENT), meeting.mode)
    if refused:
        first = next(iter(refused.values()))
        raise InvalidArgument(
            first if len(set(refused.values())) == 1 else "attendance_sheet_refused",
            "; ".join(f"{mid}: {why}" for mid, why in refused.items()),
            field="marks",
            members=",".join(refused),
            reasons=",".join(f"{mid}={why}" for mid, why in refused.items()),
        )
    changed = [mid for mid, line in sheet.items() if line != _line(rows[mid])]
    if not changed:
        return 0
    if any_open_poll(conn, meeting.id) and any(
        rows[mid].session_status != sheet[mid].session_status
        or (rows[mid].attendance == charter.PRESENT and sheet[mid].attendance != charter.PRESENT)
        for mid in changed
    ):
        raise FailedPrecondition("poll_open", "the denominator cannot change, nor a member present leave, "
                                              "while a poll is open")
    conn.execute(
        sa.text(
            "UPDATE roster SET session_status = :ss, session_reason = :sr, attendance = :a, attendance_mode = :mode, "
            "attendance_reason = :r, self_checked_in = :self WHERE meeting_id = :m AND member_id = :p"
        ),
        [
            {"m": meeting.id, "p": mid, "ss": sheet[mid].session_status, "sr": sheet[mid].session_reason,
             "a": sheet[mid].attendance, "mode": sheet[mid].mode, "r": sheet[mid].reason,
             "self": sheet[mid].self_checked_in}
            for mid in changed
        ],
    )
    meetings.bump(conn, meeting.id)
    return len(changed)


def _source_lines(conn: Connection, meeting: Row[Any], source_id: str) -> dict[str, Line]:
    """The sheet of the other record of the same combined session (held or being held)."""
    source = meetings.get(conn, source_id)
    if source.id == meeting.id or source.session_id != meeting.session_id:
        raise InvalidArgument("not_same_session", "attendance carries over only within one combined session",
                              field="copy_from_meeting_id")
    if source.state not in (states.IN_PROGRESS, states.CLOSED, states.RESOLUTION_PUBLISHED):
        raise FailedPrecondition("source_not_held", "the other meeting of the session has no attendance yet")
    lines = {r.member_id: _line(r) for r in all_rows(conn, source.id)}
    for line in lines.values():
        if line.attendance == charter.PRESENT:
            line.self_checked_in = False
    return lines
