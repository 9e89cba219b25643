"""Which of the three parts each meeting and cell did (the province's measure; seed: "3 of 12").

Part 1 (before): at least one document attached, and the meeting announced before it started.
Part 2 (during): attendance taken, the meeting evaluated by the secretary, the resolution put to a
vote (a closed resolution-adoption poll).
Part 3 (after): the resolution published and at least one task assigned.
A cell does a part in a month when it held at least one meeting and every meeting did that part.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

CHUNK = 500


@dataclass(frozen=True)
class MeetingParts:
    row: Row[Any]
    part1: bool
    part2: bool
    part3: bool
    opened_by: int


@dataclass
class CellParts:
    cell_id: str
    cell_name: str
    meetings: list[MeetingParts] = field(default_factory=list)

    def _all(self, attr: str) -> bool:
        return bool(self.meetings) and all(getattr(m, attr) for m in self.meetings)

    @property
    def part1(self) -> bool:
        return self._all("part1")

    @property
    def part2(self) -> bool:
        return self._all("part2")

    @property
    def part3(self) -> bool:
        return self._all("part3")

    @property
    def all_three(self) -> bool:
        return self.part1 and self.part2 and self.part3


@dataclass(frozen=True)
class Totals:
    cells: int
    using: int
    part1: int
    part2: int
    part3: int
    all_three: int
    meetings: int


PARTS_SELECT = """
SELECT m.id, m.cell_unit_id, m.kind, m.state, m.starts_at, m.session_order,
  (SELECT COUNT(*) FROM meeting_documents d WHERE d.meeting_id = m.id) AS documents,
  CASE WHEN m.announced_at IS NOT NULL AND (m.started_at IS NULL OR m.announced_at < m.started_at)
       THEN 1 ELSE 0 END AS announced_before,
  (SELECT COUNT(DISTINCT o.member_id) FROM document_opens o WHERE o.meeting_id = m.id) AS opened_by,
  (SELECT COUNT(*) FROM roster r WHERE r.meeting_id = m.id AND r.attendance <> '') AS attendance_taken,
  (SELECT COUNT(*) FROM evaluations e WHERE e.meeting_id = m.id AND e.kind = 'official') AS evaluated,
  (SELECT COUNT(*) FROM polls p WHERE p.meeting_id = m.id AND p.kind = 'resolution_adoption'
     AND p.state = 'closed') AS adoption_votes,
  CASE WHEN m.resolution_published_at IS NOT NULL THEN 1 ELSE 0 END AS resolution_published,
  (SELECT COUNT(*) FROM tasks t WHERE t.meeting_id = m.id) AS tasks
FROM meetings m"""
PARTS_SQL = (
    PARTS_SELECT
    + " WHERE m.month = :month AND m.state <> 'draft' AND m.cell_unit_id IN :cells"
    + " ORDER BY m.cell_unit_id, m.starts_at, m.session_order"
)
MEETING_PARTS_SQL = PARTS_SELECT + " WHERE m.id = :id"


def parts(row: Row[Any]) -> MeetingParts:
    return MeetingParts(
        row=row,
        part1=row.documents > 0 and bool(row.announced_before),
        part2=row.attendance_taken > 0 and row.evaluated > 0 and row.adoption_votes > 0,
        part3=bool(row.resolution_published) and row.tasks > 0,
        opened_by=int(row.opened_by),
    )


def of_meeting(conn: Connection, meeting_id: str) -> MeetingParts:
    return parts(conn.execute(sa.text(MEETING_PARTS_SQL), {"id": meeting_id}).one())


def report(conn: Connection, cells: Sequence[tuple[str, str]], month: str) -> list[CellParts]:
    """Per cell (in the given order) the parts its meetings of `month` did."""
    found: dict[str, list[MeetingParts]] = defaultdict(list)
    ids = [c[0] for c in cells]
    statement = sa.text(PARTS_SQL).bindparams(sa.bindparam("cells", expanding=True))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for row in conn.execute(statement, {"month": month, "cells": chunk}):
            found[row.cell_unit_id].append(parts(row))
    return [CellParts(cid, name, found.get(cid, [])) for cid, name in cells]


def totals(cells: Sequence[CellParts]) -> Totals:
    return Totals(
        cells=len(cells),
        using=sum(1 for c in cells if c.meetings),
        part1=sum(1 for c in cells if c.part1),
        part2=sum(1 for c in cells if c.part2),
        part3=sum(1 for c in cells if c.part3),
        all_three=sum(1 for c in cells if c.all_three),
        meetings=sum(len(c.meetings) for c in cells),
    )
