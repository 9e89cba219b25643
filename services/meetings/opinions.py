"""Opinions per agenda item: typed by members, or recorded by the secretary for who spoke in the room."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core.errors import InvalidArgument, NotFound
from services.core.ids import new_id
from services.core.paging import counted_page
from services.meetings import meetings, states

MAX_TEXT = 10_000


def add(
    conn: Connection, meeting: Row[Any], agenda_item_id: str, speaker_id: str, source: str, text: str, recorder: str
) -> str:
    states.require(meeting.state, "opinion")
    text = text.strip()
    if not text:
        raise InvalidArgument("text_required", "an opinion needs its text", field="text")
    if len(text) > MAX_TEXT:
        raise InvalidArgument("text_too_long", f"an opinion has at most {MAX_TEXT} characters", field="text")
    item = meetings.require_agenda_item(conn, meeting.id, agenda_item_id)
    speaker = meetings.require_roster_member(conn, meeting.id, speaker_id, "speaker_member_id")
    opinion_id = new_id()
    conn.execute(
        sa.text(
            "INSERT INTO opinions (id, meeting_id, agenda_item_id, speaker_member_id, speaker_name, source, "
            "text, recorded_by_member_id, created_at) VALUES (:id, :m, :i, :s, :n, :src, :x, :r, :t)"
        ),
        {
            "id": opinion_id,
            "m": meeting.id,
            "i": item,
            "s": speaker.member_id,
            "n": speaker.full_name,
            "src": source,
            "x": text,
            "r": recorder,
            "t": time.time(),
        },
    )
    return opinion_id


def get(conn: Connection, opinion_id: str) -> Row[Any]:
    row = conn.execute(sa.text("SELECT * FROM opinions WHERE id = :id"), {"id": opinion_id}).first()
    if row is None:
        raise NotFound("opinion_not_found", "no such opinion")
    return row


def list_opinions(
    conn: Connection, meeting_id: str, agenda_item_id: str, offset: int, limit: int
) -> tuple[list[Row[Any]], int]:
    where = "meeting_id = :m" + (" AND agenda_item_id = :i" if agenda_item_id else "")
    params = {"m": meeting_id, "i": agenda_item_id}
    return counted_page(conn, "opinions", where, "created_at, id", params, offset, limit)


def all_for(conn: Connection, meeting_id: str) -> list[Row[Any]]:
    return list(
        conn.execute(
            sa.text("SELECT * FROM opinions WHERE meeting_id = :m ORDER BY created_at, id"), {"m": meeting_id}
        ).all()
    )
