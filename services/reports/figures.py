"""The review's figures for a unit's subtree and a period, from the read models (consumers.py).

Definitions (docs/reports.md has them for readers):
- membership: members active now, by status, exemption and gender (the roster as it stands);
- adoption: of those, activated = first signed in on or before the period's last day; active =
  signed in on a day of the period;
- meetings: held on the platform (closed or resolution published) and started in the period; the
  three parts and the attendance counts are the meetings service's own (compliance.parts,
  charter.attendance); a cell did a part when it held a meeting and every one did that part;
  cells exempt from the rollout are counted apart;
- documents posted: by units of the subtree in the period, per unit and category; study: marks
  made in the period by members now in the subtree (any document), members who studied, rate over
  members;
- feedback: received by units of the subtree, answered by them, escalated from them, in the period;
- bulletins (kinds other than "document", whose reading is the study figure) published in the
  period: expected reads = for each member now in the subtree, the bulletins addressed to their
  unit or an ancestor; reads = those of them the member has read (at any time); rate = reads /
  expected;
- tasks of the subtree's cells due in the period (cancelled ones left out): done on time (on or
  before the due day), done late, overdue (not done, due before today), not yet due.
Each figure is one grouped query over the subtree (a path range), added up per cell in Python; the
queries run at once (Statements).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.days import day_of
from services.core.db import Database, fetch
from services.core.errors import NotFound
from services.reports.consumers import subtree_range
from services.reports.periods import Period

CELL = "cell"
K = TypeVar("K")
FULL_MONTH = (1 << 31) - 1


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


_FIELDS: dict[str, tuple[tuple[str, bool], ...]] = {}


def _fields(kind: type) -> tuple[tuple[str, bool], ...]:
    """(name, is a Counter) of each field of a Sums dataclass."""
    found = _FIELDS.get(kind.__qualname__)
    if found is None:
        found = _FIELDS[kind.__qualname__] = tuple((f.name, f.default_factory is Counter) for f in fields(kind))
    return found


class Sums:
    """Counts that add up field by field (a counter field adds as a Counter)."""

    __slots__ = ()

    def add(self, other: Sums) -> None:
        for name, counter in _fields(type(self)):
            if not counter:
                setattr(self, name, getattr(self, name) + getattr(other, name))
            elif other_counts := getattr(other, name):
                getattr(self, name).update(other_counts)


@dataclass(slots=True)
class Membership(Sums):
    members: int = 0
    official: int = 0
    probationary: int = 0
    exempt: int = 0
    male: int = 0
    female: int = 0
    other_gender: int = 0


@dataclass(slots=True)
class Adoption(Sums):
    members: int = 0
    activated: int = 0
    active: int = 0

    @property
    def activated_percent(self) -> float:
        return percent(self.activated, self.members)

    @property
    def active_percent(self) -> float:
        return percent(self.active, self.members)


@dataclass(slots=True)
class MeetingCounts(Sums):
    held: int = 0
    part1: int = 0
    part2: int = 0
    part3: int = 0
    all_three: int = 0
    attended: int = 0
    expected: int = 0
    ratings: Counter[str] = field(default_factory=Counter)

    @property
    def attendance_percent(self) -> float:
        return percent(self.attended, self.expected)

    def add(self, other: Sums) -> None:  # the generic one, spelled out: called per cell and month
        assert isinstance(other, MeetingCounts)
        self.held += other.held
        self.part1 += other.part1
        self.part2 += other.part2
        self.part3 += other.part3
        self.all_three += other.all_three
        self.attended += other.attended
        self.expected += other.expected
        if other.ratings:
            self.ratings.update(other.ratings)


@dataclass(slots=True)
class FeedbackCounts(Sums):
    received: int = 0
    answered: int = 0
    escalated: int = 0


@dataclass(slots=True)
class BulletinCounts(Sums):
    bulletins: int = 0
    expected: int = 0  # (member, bulletin addressed to the member's unit or an ancestor) pairs
    read: int = 0

    @property
    def read_percent(self) -> float:
        return percent(self.read, self.expected)


@dataclass(slots=True)
class TaskCounts(Sums):
    due: int = 0
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    pending: int = 0  # not done, not yet due

    @property
    def on_time_percent(self) -> float:
        return percent(self.on_time, self.due)


@dataclass(slots=True)
class CellRow:
    unit_id: str
    name: str
    parent_name: str
    exempt_reason: str | None = None  # set when the cell is exempt from the rollout
    membership: Membership = field(default_factory=Membership)
    adoption: Adoption = field(default_factory=Adoption)
    meetings: MeetingCounts = field(default_factory=MeetingCounts)
    studied_members: int = 0
    feedback: FeedbackCounts = field(default_factory=FeedbackCounts)
    bulletins: BulletinCounts = field(default_factory=BulletinCounts)
    tasks: TaskCounts = field(default_factory=TaskCounts)

    @property
    def rollout_exempt(self) -> bool:
        return self.exempt_reason is not None

    def did(self, part: str) -> bool:
        return self.meetings.held > 0 and getattr(self.meetings, part) == self.meetings.held


@dataclass(frozen=True)
class CategoryRow:
    category: str
    documents_posted: int
    study_marks: int
    studied_members: int
    study_percent: float


@dataclass
class MeetingsSummary:
    cells: int = 0
    rollout_exempt_cells: int = 0
    cells_using: int = 0
    cells_part1: int = 0
    cells_part2: int = 0
    cells_part3: int = 0
    cells_all_three: int = 0
    meetings: MeetingCounts = field(default_factory=MeetingCounts)

    @property
    def rollout_cells(self) -> int:
        return self.cells - self.rollout_exempt_cells


@dataclass
class Report:
    period: Period
    unit_id: str
    unit_name: str
    membership: Membership
    adoption: Adoption
    meetings: MeetingsSummary
    cells: list[CellRow]
    cell_months: list[tuple[str, str, MeetingCounts]]  # (cell id, month, counts), rollout cells only
    documents_by_unit: list[tuple[str, str, int]]  # (unit id, name, documents posted)
    categories: list[CategoryRow]
    studied_members: int
    feedback: FeedbackCounts
    bulletins: BulletinCounts = field(default_factory=BulletinCounts)
    bulletin_kinds: list[tuple[str, BulletinCounts]] = field(default_factory=list)
    tasks: TaskCounts = field(default_factory=TaskCounts)
    months: list[tuple[str, MeetingCounts]] = field(default_factory=list)  # every month: rollout cells

    @property
    def documents_posted(self) -> int:
        return sum(n for _, _, n in self.documents_by_unit)

    @property
    def study_percent(self) -> float:
        return percent(self.studied_members, self.membership.members)


@dataclass(frozen=True)
class Unit:
    id: str
    parent_id: str | None
    path: str
    name: str
    kind: str


def unit(conn: Connection, unit_id: str) -> Unit:
    row = conn.execute(
        sa.text("SELECT id, parent_id, path, name, kind FROM units WHERE id = :id AND active"), {"id": unit_id}
    ).first()
    if row is None:
        raise NotFound("unit_not_found", f"unit {unit_id} is not known to the reports", unit_id=unit_id)
    return Unit(row.id, row.parent_id, row.path, row.name, row.kind)


def chain(u: Unit) -> list[str]:
    return [p for p in u.path.split("/") if p]


SUBTREE = "u.active AND u.path >= :lo AND u.path < :hi"
WORKERS = 4  # connections a PostgreSQL report reads on at once
# For each of them, in its own transaction: memory to group a province's rows without spilling to
# disk, no JIT compilation (it costs more than it saves on these short scans), and no parallel
# workers (the statements already run side by side: more processes only contend for the cores).
SESSION = (
    "SELECT set_config('work_mem', '32MB', true), set_config('jit', 'off', true), "
    "set_config('max_parallel_workers_per_gather', '0', true)"
)


class Statements:
    """The report's queries, run together: on PostgreSQL each on a read connection of its own (a
    thread each: the server works on several at once while the driver waits), elsewhere one after
    the other on the caller's connection. `{subtree}` in a statement stands for the units `u` of
    the subtree (a path range)."""

    def __init__(self, conn: Connection, db: Database | None, bounds: dict[str, str]) -> None:
        self.conn, self.db, self.bounds = conn, db, bounds
        self.pending: dict[str, tuple[str, dict[str, Any]]] = {}

    def add(self, name: str, sql: str, params: dict[str, Any] | None = None) -> None:
        self.pending[name] = (sql.replace("{subtree}", SUBTREE), {**self.bounds, **(params or {})})

    def run(self) -> Mapping[str, list[Any]]:
        """The rows of each statement by name. On PostgreSQL they start in the order added, and
        reading one waits for that one only: the caller works on the first while the rest run."""
        todo, self.pending = self.pending, {}
        if self.db is None or not self.db.is_postgres or len(todo) < 2:
            return {name: fetch(self.conn, sql, params) for name, (sql, params) in todo.items()}
        pool = ThreadPoolExecutor(max_workers=min(WORKERS, len(todo)), thread_name_prefix="report")
        futures = {name: pool.submit(self._read, sql, params) for name, (sql, params) in todo.items()}
        pool.shutdown(wait=False)  # its threads end when the last statement has run
        return _Found(futures)

    def _read(self, sql: str, params: dict[str, Any]) -> list[Any]:
        assert self.db is not None
        with self.db.read(streaming=True) as conn:  # a transaction: the settings are its own
            fetch(conn, SESSION)
            return fetch(conn, sql, params)


class _Found(Mapping[str, list[Any]]):
    """Statements' rows, each waited for when first read."""

    def __init__(self, futures: dict[str, Future[list[Any]]]) -> None:
        self.futures = futures

    def __getitem__(self, name: str) -> list[Any]:
        return self.futures[name].result()

    def __iter__(self) -> Iterator[str]:
        return iter(self.futures)

    def __len__(self) -> int:
        return len(self.futures)


class _Subtree:
    """The subtree's units, and which cell each unit's figures go to (its nearest cell, itself included)."""

    def __init__(self, conn: Connection, root: Unit, rows: list[Any]) -> None:
        self.units = {r.id: Unit(r.id, r.parent_id, r.path, r.name, r.kind) for r in rows}
        names = {u.id: u.name for u in self.units.values()}
        if root.parent_id and root.parent_id not in names:
            names[root.parent_id] = str(
                conn.execute(sa.text("SELECT name FROM units WHERE id = :id"), {"id": root.parent_id}).scalar() or ""
            )
        self.names = names
        self.cell_of: dict[str, str] = {}
        for u in self.units.values():
            for ancestor in chain(u):
                found = self.units.get(ancestor)
                if found is not None and found.kind == CELL:
                    self.cell_of[u.id] = found.id
                    break

    def cells(self) -> list[Unit]:
        found = (u for u in self.units.values() if u.kind == CELL)
        return sorted(found, key=lambda u: (self.names.get(u.parent_id or "", ""), u.name, u.id))


def _did_in_period(period: Period, rollup: str, partial: str) -> tuple[str, dict[str, Any]]:
    """SQL on members `m`: the member did something on a day of the period. The months the period
    covers whole come from the month roll-up table `rollup` (member_id, year, months); the others
    (a period's partial first and last months) from `partial`, a condition on the raw rows of
    the period's days in month `:pm_{i}` (day bits `:pd_{i}`, days `:pf_{i}`..`:pl_{i}`)."""
    full: dict[str, int] = {}
    parts: list[str] = []
    params: dict[str, Any] = {}
    for i, month in enumerate(period.months):
        mask = period.day_mask(month)
        if mask == FULL_MONTH:
            full[month[:4]] = full.get(month[:4], 0) | 1 << (int(month[5:7]) - 1)
            continue
        y, m = int(month[:4]), int(month[5:7])
        days = [d for d in range(1, 32) if mask >> (d - 1) & 1]
        params |= {f"pm_{i}": month, f"pd_{i}": mask, f"pf_{i}": f"{y:04d}-{m:02d}-{days[0]:02d}",
                   f"pl_{i}": f"{y:04d}-{m:02d}-{days[-1]:02d}"}
        parts.append(str(i))
    found: list[str] = []
    if full:
        cases = " ".join(f"WHEN :y_{i} THEN :ym_{i}" for i in range(len(full)))
        params |= {f"y_{i}": year for i, year in enumerate(full)} | {f"ym_{i}": mask for i, mask in
                                                                     enumerate(full.values())}
        found.append(f"EXISTS (SELECT 1 FROM {rollup} y WHERE y.member_id = m.id AND y.year >= :y_0 AND "
                     f"y.year <= :y_{len(full) - 1} AND (y.months & CASE y.year {cases} ELSE 0 END) <> 0)")
    found.extend(partial.format(i=i) for i in parts)
    return "(" + " OR ".join(found) + ")", params


# The raw rows of a partial month (_did_in_period).
ACTIVE_ON_DAYS = (
    "EXISTS (SELECT 1 FROM member_activity a WHERE a.member_id = m.id AND a.month = :pm_{i} "
    "AND (a.days & :pd_{i}) <> 0)"
)
STUDIED_ON_DAYS = (
    "EXISTS (SELECT 1 FROM study_marks s JOIN documents d ON d.id = s.document_id WHERE s.member_id = m.id "
    "AND s.day >= :pf_{i} AND s.day <= :pl_{i})"
)


BULLETINS_REACHING = (
    "SELECT a.unit_id, b.id, b.kind FROM bulletins b JOIN bulletin_audience a ON a.bulletin_id = b.id "
    "WHERE b.day >= :first AND b.day <= :last AND NOT b.withdrawn AND b.kind <> 'document'"
)
# Reads by the members now in each unit, from the roll-up (consumers.READ_ROLLUP_REBUILD says what it holds).
BULLETIN_READS = (
    "SELECT x.unit_id, b.kind, SUM(x.n) AS n FROM unit_bulletin_reads x JOIN bulletins b ON b.id = x.bulletin_id "
    "JOIN units u ON u.id = x.unit_id WHERE {subtree} AND b.day >= :first AND b.day <= :last AND NOT b.withdrawn "
    "AND b.kind <> 'document' GROUP BY x.unit_id, b.kind"
)


def _bulletins(
    tree: _Subtree, members: dict[str, int], reaching_rows: list[Any], read_rows: list[Any]
) -> tuple[dict[str, dict[str, BulletinCounts]], dict[str, int]]:
    """Per unit with members, per kind: bulletins reaching it, expected reads and reads; and how
    many bulletins of each kind reach the subtree."""
    reaching: dict[str, dict[str, str]] = {}  # audience unit -> {bulletin: kind}
    for r in reaching_rows:
        reaching.setdefault(r.unit_id, {})[r.id] = r.kind
    out: dict[str, dict[str, BulletinCounts]] = {}
    seen: dict[str, str] = {}
    if not reaching:
        return out, {}
    # Per unit of a chain: the bulletins reaching it, and how many of each kind (shared by the
    # units below it that no bulletin of their own reaches).
    reach: dict[str, tuple[dict[str, str], Counter[str]]] = {}
    for unit_id, n in members.items():
        u = tree.units.get(unit_id)
        if u is None or not n:
            continue
        above: tuple[dict[str, str], Counter[str]] = ({}, Counter())
        for ancestor in chain(u):
            known = reach.get(ancestor)
            if known is None:
                own = reaching.get(ancestor)
                merged = above[0] | own if own else above[0]
                known = reach[ancestor] = (merged, Counter(merged.values())) if own else above
            above = known
        seen.update(above[0])
        out[unit_id] = {kind: BulletinCounts(k, k * n) for kind, k in above[1].items()}
    for r in read_rows:
        found_kind = out.get(r.unit_id, {}).get(r.kind)
        if found_kind is not None:  # reads of bulletins that no longer reach the member's unit do not count
            found_kind.read += min(int(r.n), found_kind.expected)
    return out, dict(Counter(seen.values()))


TASKS = (
    "SELECT t.cell_unit_id, COUNT(*) AS due, "
    "SUM(CASE WHEN t.status = 'done' AND t.done_on <= t.due_on THEN 1 ELSE 0 END) AS on_time, "
    "SUM(CASE WHEN t.status = 'done' AND t.done_on > t.due_on THEN 1 ELSE 0 END) AS late, "
    "SUM(CASE WHEN t.status <> 'done' AND t.due_on < :today THEN 1 ELSE 0 END) AS overdue "
    "FROM tasks t JOIN units u ON u.id = t.cell_unit_id WHERE {subtree} AND t.status <> 'cancelled' "
    "AND t.due_on >= :first AND t.due_on <= :last GROUP BY t.cell_unit_id"
)


def _tasks(rows: list[Any]) -> dict[str, TaskCounts]:
    out: dict[str, TaskCounts] = {}
    for r in rows:
        due, on_time, late, overdue = int(r.due), int(r.on_time or 0), int(r.late or 0), int(r.overdue or 0)
        out[r.cell_unit_id] = TaskCounts(due, on_time, late, overdue, due - on_time - late - overdue)
    return out


# Per key and rating (the ratings are counted apart: one pass over the meetings for both).
MEETING_COUNTS = (
    "SELECT {key}, g.rating, COUNT(*) AS held, "
    "SUM(CASE WHEN g.part1 THEN 1 ELSE 0 END) AS p1, SUM(CASE WHEN g.part2 THEN 1 ELSE 0 END) AS p2, "
    "SUM(CASE WHEN g.part3 THEN 1 ELSE 0 END) AS p3, "
    "SUM(CASE WHEN g.part1 AND g.part2 AND g.part3 THEN 1 ELSE 0 END) AS p123, "
    "SUM(g.attended) AS attended, SUM(g.expected) AS expected "
    "FROM meetings g JOIN units u ON u.id = g.cell_unit_id "
    "WHERE {where} AND g.day >= :first AND g.day <= :last GROUP BY {key}, g.rating"
)
ROLLOUT = "{subtree} AND g.cell_unit_id NOT IN (SELECT unit_id FROM rollout_exemptions)"


def _meetings_by(rows: list[Any], key: Callable[[Any], K]) -> dict[K, MeetingCounts]:
    """MEETING_COUNTS' rows added up per `key`, with their ratings (a rating '' is none)."""
    out: dict[K, MeetingCounts] = {}
    for r in rows:
        k = key(r)
        c = out.get(k)
        if c is None:
            out[k] = c = MeetingCounts()
        held = int(r.held)
        c.held += held
        c.part1 += int(r.p1)
        c.part2 += int(r.p2)
        c.part3 += int(r.p3)
        c.all_three += int(r.p123)
        c.attended += int(r.attended)
        c.expected += int(r.expected)
        if r.rating:
            c.ratings[r.rating] += held
    return out


def build(
    conn: Connection, root: Unit, period: Period, today: str | None = None, with_cell_months: bool = True,
    db: Database | None = None,
) -> Report:
    """The report; without `with_cell_months` the per-cell-month detail is left empty (a
    province's page needs the cells' and the months' totals only: 9,600 + 12 rows, not 115,000).
    With `db` (PostgreSQL) the queries run at once, each on a connection of its own."""
    days = {"first": period.first.isoformat(), "last": period.last.isoformat()}
    active_sql, active_params = _did_in_period(period, "active_years", ACTIVE_ON_DAYS)
    studied_sql, studied_params = _did_in_period(period, "study_years", STUDIED_ON_DAYS)
    q = Statements(conn, db, subtree_range(root.path))
    # The heaviest first, then the others in the order they are read below: the reading of the
    # first ones overlaps with the heavy ones' running.
    # The distinct count sorts every mark: in two halves by member (each member in one of them, so
    # the counts add up), which run at once.
    for half, members in enumerate(("s.member_id < :split", "s.member_id >= :split")):
        q.add(f"study{half}", (
            "SELECT d.category, COUNT(*) AS marks, COUNT(DISTINCT s.member_id) AS members "
            "FROM study_marks s JOIN members m ON m.id = s.member_id JOIN units u ON u.id = m.unit_id "
            f"JOIN documents d ON d.id = s.document_id WHERE m.active AND {{subtree}} AND {members} "
            "AND s.day >= :first AND s.day <= :last GROUP BY m.unit_id, d.category"), {**days, "split": "8"})
    # Each cell-month (the full reply only): the next heaviest, and the most to read below.
    if with_cell_months:
        q.add("cell_month_meetings", MEETING_COUNTS.format(key="g.cell_unit_id, g.month", where=ROLLOUT), days)
    q.add("units", "SELECT u.id, u.parent_id, u.path, u.name, u.kind FROM units u WHERE {subtree} ORDER BY u.path")
    q.add("exemptions", "SELECT unit_id, reason FROM rollout_exemptions")
    q.add("membership", (
        "SELECT m.unit_id, m.status, m.gender, m.exempt, COUNT(*) AS n FROM members m "
        "JOIN units u ON u.id = m.unit_id WHERE m.active AND {subtree} "
        "GROUP BY m.unit_id, m.status, m.gender, m.exempt"))
    q.add("adoption", (
        "SELECT m.unit_id, COUNT(*) AS n, SUM(CASE WHEN m.activated_on <= :last THEN 1 ELSE 0 END) AS activated "
        "FROM members m JOIN units u ON u.id = m.unit_id WHERE m.active AND {subtree} GROUP BY m.unit_id"), days)
    for name, did, params in (("active", active_sql, active_params), ("studied", studied_sql, studied_params)):
        q.add(name, "SELECT m.unit_id, COUNT(*) AS n FROM members m JOIN units u ON u.id = m.unit_id "
                    f"WHERE m.active AND {{subtree}} AND {did} GROUP BY m.unit_id", params)
    # Totals per cell and per month (rollout cells) in SQL.
    for name, key, where in (("cell", "g.cell_unit_id", "{subtree}"), ("month", "g.month", ROLLOUT)):
        q.add(f"{name}_meetings", MEETING_COUNTS.format(key=key, where=where), days)
    q.add("documents_by_unit", (
        "SELECT d.publisher_unit_id, COUNT(*) AS n FROM documents d JOIN units u ON u.id = d.publisher_unit_id "
        "WHERE {subtree} AND d.day >= :first AND d.day <= :last GROUP BY d.publisher_unit_id"), days)
    q.add("posted", (
        "SELECT d.category, COUNT(*) AS n FROM documents d JOIN units u ON u.id = d.publisher_unit_id "
        "WHERE {subtree} AND d.day >= :first AND d.day <= :last GROUP BY d.category"), days)
    feedback_columns = (
        ("received", "f.unit_id", "f.received_on", "feedback f"),
        ("answered", "f.answered_by_unit_id", "f.answered_on", "feedback f"),
        ("escalated", "f.from_unit_id", "f.day", "feedback_escalations f"),
    )
    for column, unit_column, day_column, table in feedback_columns:
        q.add(column, (
            f"SELECT {unit_column} AS unit_id, COUNT(*) AS n FROM {table} JOIN units u ON u.id = {unit_column} "
            f"WHERE {{subtree}} AND {day_column} >= :first AND {day_column} <= :last GROUP BY {unit_column}"), days)
    q.add("reaching", BULLETINS_REACHING, days)
    q.add("reads", BULLETIN_READS, days)
    q.add("tasks", TASKS, {**days, "today": today or day_of(time.time())})
    found = q.run()

    tree = _Subtree(conn, root, found["units"])
    cells = {
        u.id: CellRow(u.id, u.name, tree.names.get(u.parent_id or "", "")) for u in tree.cells()
    }
    for row in found["exemptions"]:
        if row.unit_id in cells:
            cells[row.unit_id].exempt_reason = row.reason
    cell_row = {unit_id: cells[c] for unit_id, c in tree.cell_of.items() if c in cells}
    counted: dict[tuple[str, str], MeetingCounts] = {}  # (month, cell) -> counts
    if with_cell_months:
        counted = _meetings_by(found["cell_month_meetings"], lambda r: (r.month, r.cell_unit_id))
    # By month, then cell id: the cells sorted once (not the 100,000 pairs).
    cell_ids = sorted(cells) if counted else []
    cell_months = [(unit_id, month, found_counts) for month in sorted({m for m, _ in counted})
                   for unit_id in cell_ids if (found_counts := counted.get((month, unit_id))) is not None]

    membership = Membership()
    for r in found["membership"]:
        n = int(r.n)
        status = "official" if r.status == "official" else "probationary" if r.status == "probationary" else ""
        gender = "male" if r.gender == "male" else "female" if r.gender == "female" else "other_gender"
        for target in (membership, c.membership if (c := cell_row.get(r.unit_id)) is not None else None):
            if target is None:
                continue
            target.members += n
            if status:
                setattr(target, status, getattr(target, status) + n)
            if r.exempt:
                target.exempt += n
            setattr(target, gender, getattr(target, gender) + n)

    adoption = Adoption()
    per_unit: dict[str, Adoption] = {}
    for r in found["adoption"]:
        per_unit[r.unit_id] = Adoption(int(r.n), int(r.activated or 0), 0)
    for r in found["active"]:
        per_unit.setdefault(r.unit_id, Adoption()).active = int(r.n)
    for unit_id, counts in per_unit.items():
        adoption.add(counts)
        if (c := cell_row.get(unit_id)) is not None:
            c.adoption.add(counts)

    for unit_id, held in _meetings_by(found["cell_meetings"], lambda r: r.cell_unit_id).items():
        if (c := cell_row.get(unit_id)) is not None:
            c.meetings = held
    month_totals = {m: MeetingCounts() for m in period.months}
    for month, held in _meetings_by(found["month_meetings"], lambda r: r.month).items():
        if month in month_totals:
            month_totals[month] = held

    documents_by_unit = [
        (r.publisher_unit_id, tree.names.get(r.publisher_unit_id, ""), int(r.n)) for r in found["documents_by_unit"]
    ]
    documents_by_unit.sort(key=lambda t: tree.units[t[0]].path if t[0] in tree.units else t[0])
    posted = {r.category: int(r.n) for r in found["posted"]}
    # Per unit and category: marks and members who studied (a member is in one unit, so the
    # category's members add up over units); per unit: members who studied anything.
    studied: dict[str, list[int]] = {}
    for r in found["study0"] + found["study1"]:
        totals = studied.setdefault(r.category, [0, 0])
        totals[0] += int(r.marks)
        totals[1] += int(r.members)
    categories = [
        CategoryRow(
            category,
            posted.get(category, 0),
            studied.get(category, [0, 0])[0],
            studied.get(category, [0, 0])[1],
            percent(studied.get(category, [0, 0])[1], membership.members),
        )
        for category in sorted(set(posted) | set(studied))
    ]
    studied_total = 0
    for r in found["studied"]:
        studied_total += int(r.n)
        if (c := cell_row.get(r.unit_id)) is not None:
            c.studied_members += int(r.n)

    feedback = FeedbackCounts()
    for column, *_ in feedback_columns:
        for r in found[column]:
            setattr(feedback, column, getattr(feedback, column) + int(r.n))
            if (c := cell_row.get(r.unit_id)) is not None:
                setattr(c.feedback, column, getattr(c.feedback, column) + int(r.n))

    bulletins = BulletinCounts()
    kinds: dict[str, BulletinCounts] = {}
    per_unit_bulletins, reaching_kinds = _bulletins(
        tree, {u: a.members for u, a in per_unit.items()}, found["reaching"], found["reads"]
    )
    for unit_id, by_kind in per_unit_bulletins.items():
        for kind, reach in by_kind.items():
            reads = BulletinCounts(0, reach.expected, reach.read)
            bulletins.add(reads)
            kinds.setdefault(kind, BulletinCounts()).add(reads)
            if (c := cell_row.get(unit_id)) is not None:
                c.bulletins.add(reads)
                if c.unit_id == unit_id:
                    c.bulletins.bulletins += reach.bulletins
    for kind, n in reaching_kinds.items():
        kinds.setdefault(kind, BulletinCounts()).bulletins = n
        bulletins.bulletins += n

    tasks = TaskCounts()
    for unit_id, due in _tasks(found["tasks"]).items():
        tasks.add(due)
        if (c := cell_row.get(unit_id)) is not None:
            c.tasks.add(due)

    summary = MeetingsSummary(cells=len(cells))
    for c in cells.values():
        if c.rollout_exempt:
            summary.rollout_exempt_cells += 1
            continue
        summary.meetings.add(c.meetings)
        summary.cells_using += c.meetings.held > 0
        summary.cells_part1 += c.did("part1")
        summary.cells_part2 += c.did("part2")
        summary.cells_part3 += c.did("part3")
        summary.cells_all_three += c.did("all_three")
    return Report(
        period=period,
        unit_id=root.id,
        unit_name=root.name,
        membership=membership,
        adoption=adoption,
        meetings=summary,
        cells=list(cells.values()),
        cell_months=cell_months,
        months=list(month_totals.items()),
        documents_by_unit=documents_by_unit,
        categories=categories,
        studied_members=studied_total,
        feedback=feedback,
        bulletins=bulletins,
        bulletin_kinds=sorted(kinds.items()),
        tasks=tasks,
    )
