"""The Party Charter's arithmetic for a cell meeting, and the meeting-quality rubric: pure functions.

No I/O here: the service feeds in the roster snapshot as it stands, and stores what comes out.

Rules (Charter art. 9 cl. 5 and art. 3, and the guidance on applying it; docs/domain.md):
- Probationary members do not vote (they attend and speak). Exempt members may vote if present.
  A suspended, prosecuted or detained member does not vote.
- A resolution passes with MORE THAN HALF of the official members. The denominator is every
  official member summoned, present or not, EXCLUDING members temporarily transferred elsewhere,
  exempt members who are absent, members suspended/prosecuted/detained, and members excused for
  the whole session. Exactly half is not a pass.
- Votes cast in the app plus the show-of-hands counted in the room never exceed the eligible
  voters (official members present and not suspended).
- Meeting quality (HD 12-HD/BTCTW 2018, HD 42-HD/BTCTW 2025): points per criterion of a rubric
  given as data; the rating is the first threshold the total reaches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

OFFICIAL = "official"
PROBATIONARY = "probationary"
MEMBER_STATUSES = (OFFICIAL, PROBATIONARY)

# Per-member status for one session (set by the secretary).
NORMAL = "normal"
TRANSFERRED = "transferred"  # chuyển sinh hoạt tạm thời
SUSPENDED = "suspended"  # đình chỉ sinh hoạt, bị khởi tố, truy tố, tạm giam
EXCUSED = "excused"  # được vắng mặt cả kỳ họp
SESSION_STATUSES = (NORMAL, TRANSFERRED, SUSPENDED, EXCUSED)

# Attendance.
NOT_RECORDED = ""
PRESENT = "present"
ABSENT_EXCUSED = "absent_excused"
ABSENT_UNEXCUSED = "absent_unexcused"
ATTENDANCE = (NOT_RECORDED, PRESENT, ABSENT_EXCUSED, ABSENT_UNEXCUSED)

APPROVE = "approve"
REJECT = "reject"
ABSTAIN = "abstain"
CHOICES = (APPROVE, REJECT, ABSTAIN)


@dataclass(frozen=True)
class Participant:
    """One member of the roster snapshot, as the meeting stands."""

    member_id: str
    status: str = OFFICIAL
    exempt: bool = False
    session_status: str = NORMAL
    attendance: str = NOT_RECORDED

    @property
    def present(self) -> bool:
        return self.attendance == PRESENT and self.session_status not in (TRANSFERRED, EXCUSED)


def may_vote(p: Participant) -> bool:
    """Official, present, and neither suspended nor away: may vote (exempt members included)."""
    return p.status == OFFICIAL and p.present and p.session_status == NORMAL


def refusal(p: Participant) -> str:
    """Why `p` may not vote, as a machine-readable reason ('' when they may)."""
    if p.status != OFFICIAL:
        return "probationary_member_cannot_vote"
    if p.session_status == SUSPENDED:
        return "suspended_member_cannot_vote"
    if p.session_status in (TRANSFERRED, EXCUSED):
        return "member_not_in_session"
    if not p.present:
        return "not_present"
    return ""


@dataclass(frozen=True)
class Denominator:
    official: int
    transferred: int
    suspended: int
    excused: int
    absent_exempt: int

    @property
    def value(self) -> int:
        return self.official - self.transferred - self.suspended - self.excused - self.absent_exempt

    def explain(self) -> str:
        parts = [f"{self.official} official"]
        for count, label in (
            (self.transferred, "transferred"),
            (self.suspended, "suspended/detained"),
            (self.excused, "excused for the session"),
            (self.absent_exempt, "absent exempt"),
        ):
            if count:
                parts.append(f"{count} {label}")
        return f"{self.value} = " + " - ".join(parts)


def denominator(roster: Iterable[Participant]) -> Denominator:
    """Official members summoned, less those the Charter guidance leaves out (each counted once)."""
    official = transferred = suspended = excused = absent_exempt = 0
    for p in roster:
        if p.status != OFFICIAL:
            continue
        official += 1
        if p.session_status == TRANSFERRED:
            transferred += 1
        elif p.session_status == SUSPENDED:
            suspended += 1
        elif p.session_status == EXCUSED:
            excused += 1
        elif p.exempt and not p.present:
            absent_exempt += 1
    return Denominator(official, transferred, suspended, excused, absent_exempt)


def eligible_voters(roster: Iterable[Participant]) -> int:
    return sum(1 for p in roster if may_vote(p))


def needed_to_pass(denom: int) -> int:
    """The fewest approvals that are MORE than half of `denom`."""
    return denom // 2 + 1


def passes(approve: int, denom: int) -> bool:
    """More than half: 2 * approve > denom (exactly half fails; an empty denominator never passes)."""
    return denom > 0 and 2 * approve > denom


@dataclass(frozen=True)
class Tally:
    approve: int = 0
    reject: int = 0
    abstain: int = 0

    @property
    def total(self) -> int:
        return self.approve + self.reject + self.abstain

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.approve + other.approve, self.reject + other.reject, self.abstain + other.abstain)

    @classmethod
    def of(cls, choices: Iterable[str]) -> Tally:
        counts = {c: 0 for c in CHOICES}
        for choice in choices:
            counts[choice] += 1
        return cls(counts[APPROVE], counts[REJECT], counts[ABSTAIN])


def room_count_fits(app_votes: int, room: Tally, eligible: int) -> bool:
    """In-room show-of-hands plus app ballots never exceed the eligible voters."""
    return min(room.approve, room.reject, room.abstain) >= 0 and app_votes + room.total <= eligible


def app_vote_fits(app_votes_before: int, room: Tally, eligible: int) -> bool:
    """One more app ballot still fits within the eligible voters."""
    return app_votes_before + 1 + room.total <= eligible


@dataclass(frozen=True)
class Result:
    app: Tally
    room: Tally
    eligible: int
    denominator: Denominator

    @property
    def total(self) -> Tally:
        return self.app + self.room

    @property
    def passed(self) -> bool:
        return passes(self.total.approve, self.denominator.value)

    @property
    def needed(self) -> int:
        return needed_to_pass(self.denominator.value)

    def arithmetic(self) -> str:
        t = self.total
        d = self.denominator.value
        verdict = "passed" if self.passed else "not passed"
        relation = ">" if self.passed else "<="
        return (
            f"approve {t.approve} (app {self.app.approve} + room {self.room.approve}), "
            f"reject {t.reject}, abstain {t.abstain}; denominator {self.denominator.explain()}; "
            f"{t.approve} {relation} {d}/2 -> {verdict} (needs {self.needed}); "
            f"eligible voters present {self.eligible}"
        )


def result(app: Tally, room: Tally, roster: Sequence[Participant]) -> Result:
    return Result(app, room, eligible_voters(roster), denominator(roster))


@dataclass(frozen=True)
class AttendanceSummary:
    roster: int
    official: int
    probationary: int
    exempt: int
    present: int
    absent_excused: int
    absent_unexcused: int
    not_recorded: int
    expected: int  # the ratio's denominator: see counts_for_attendance
    attended: int  # the ratio's numerator: expected members present
    percent: float  # present among expected / expected (HD 12)

    @property
    def meets_hd12(self) -> bool:
        """HD 12 criterion: attendance above 85% and no unexcused absence."""
        return self.percent > 85.0 and self.absent_unexcused == 0


def counts_for_attendance(p: Participant) -> bool:
    """THE attendance-ratio rule, used by the meeting view, the minutes, the quality score and the
    reports (which receive the counts in `meetings.meeting.held`): every member of the roster is
    expected except exempt members (miễn công tác và sinh hoạt đảng) and members transferred out
    for the session. A member excused for the session stays expected: an excused absence is still
    an absence (so is a suspended member's)."""
    return not p.exempt and p.session_status != TRANSFERRED


def attendance(roster: Sequence[Participant]) -> AttendanceSummary:
    present = sum(1 for p in roster if p.present)
    expected = [p for p in roster if counts_for_attendance(p)]
    present_expected = sum(1 for p in expected if p.present)
    percent = round(100.0 * present_expected / len(expected), 1) if expected else 0.0
    return AttendanceSummary(
        roster=len(roster),
        official=sum(1 for p in roster if p.status == OFFICIAL),
        probationary=sum(1 for p in roster if p.status == PROBATIONARY),
        exempt=sum(1 for p in roster if p.exempt),
        present=present,
        absent_excused=sum(
            1 for p in roster if not p.present and (p.attendance == ABSENT_EXCUSED or p.session_status == EXCUSED)
        ),
        absent_unexcused=sum(
            1 for p in roster if p.attendance == ABSENT_UNEXCUSED and p.session_status != EXCUSED and not p.exempt
        ),
        not_recorded=sum(1 for p in roster if p.attendance == NOT_RECORDED and p.session_status == NORMAL),
        expected=len(expected),
        attended=present_expected,
        percent=percent,
    )


# ---------- meeting quality rubric ----------


class RubricError(ValueError):
    """A rubric file or a score sheet that does not fit the rubric."""


@dataclass(frozen=True)
class Criterion:
    id: str
    group: str
    title: str
    max_points: int


@dataclass(frozen=True)
class Rating:
    code: str
    label: str
    min_points: int


@dataclass(frozen=True)
class Rubric:
    id: str
    title: str
    criteria: tuple[Criterion, ...]
    ratings: tuple[Rating, ...]  # highest threshold first
    groups: Mapping[str, int] = field(default_factory=dict)

    @property
    def max_points(self) -> int:
        return sum(c.max_points for c in self.criteria)

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> Rubric:
        """Build and check a rubric from parsed JSON/YAML data."""
        try:
            criteria = tuple(
                Criterion(str(c["id"]), str(c.get("group", "")), str(c["title"]), int(c["max_points"]))
                for c in data["criteria"]  # type: ignore[attr-defined]
            )
            ratings = tuple(
                sorted(
                    (Rating(str(r["code"]), str(r["label"]), int(r["min_points"])) for r in data["ratings"]),  # type: ignore[attr-defined]
                    key=lambda r: -r.min_points,
                )
            )
            groups = {str(k): int(v) for k, v in dict(data.get("groups") or {}).items()}  # type: ignore[call-overload]
            rubric = cls(str(data["id"]), str(data.get("title", data["id"])), criteria, ratings, groups)
        except (KeyError, TypeError, ValueError) as exc:
            raise RubricError(f"malformed rubric: {exc}") from exc
        if not criteria or not ratings:
            raise RubricError("a rubric needs criteria and ratings")
        if len({c.id for c in criteria}) != len(criteria):
            raise RubricError("criterion ids must be unique")
        if any(c.max_points <= 0 for c in criteria):
            raise RubricError("every criterion needs max_points > 0")
        if ratings[-1].min_points != 0:
            raise RubricError("the lowest rating must start at 0 points")
        for group, points in groups.items():
            in_group = sum(c.max_points for c in criteria if c.group == group)
            if in_group != points:
                raise RubricError(f"group {group!r} is worth {points} points but its criteria add to {in_group}")
        return rubric

    def total(self, scores: Mapping[str, int]) -> int:
        """Check a score sheet (every criterion once, 0..max) and add it up."""
        known = {c.id: c for c in self.criteria}
        unknown = set(scores) - set(known)
        if unknown:
            raise RubricError(f"unknown criteria: {', '.join(sorted(unknown))}")
        missing = set(known) - set(scores)
        if missing:
            raise RubricError(f"missing criteria: {', '.join(sorted(missing))}")
        for cid, points in scores.items():
            if not 0 <= points <= known[cid].max_points:
                raise RubricError(f"{cid}: points must be between 0 and {known[cid].max_points}")
        return sum(scores.values())

    def rate(self, points: float) -> Rating:
        for rating in self.ratings:
            if points >= rating.min_points:
                return rating
        return self.ratings[-1]
