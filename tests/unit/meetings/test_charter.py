"""The Charter's arithmetic and the rubric, as pure functions."""

from __future__ import annotations

import json

import pytest

from services.meetings import charter
from services.meetings.charter import (
    ABSENT_EXCUSED,
    ABSENT_UNEXCUSED,
    EXCUSED,
    PRESENT,
    PROBATIONARY,
    SUSPENDED,
    TRANSFERRED,
    Participant,
    Rubric,
    RubricError,
    Tally,
)
from services.meetings.rubric import DEFAULT_RUBRIC, load


def people(n: int, **kw: object) -> list[Participant]:
    return [Participant(f"m{i}", **kw) for i in range(n)]  # type: ignore[arg-type]


def test_probationary_members_never_vote_nor_count() -> None:
    p = Participant("p", status=PROBATIONARY, attendance=PRESENT)
    assert not charter.may_vote(p)
    assert charter.refusal(p) == "probationary_member_cannot_vote"
    assert charter.denominator([p]).value == 0
    assert charter.eligible_voters([p]) == 0


def test_present_exempt_member_votes_and_counts_absent_one_does_not() -> None:
    here = Participant("a", exempt=True, attendance=PRESENT)
    away = Participant("b", exempt=True, attendance=ABSENT_EXCUSED)
    unrecorded = Participant("c", exempt=True)
    assert charter.may_vote(here) and not charter.may_vote(away)
    d = charter.denominator([here, away, unrecorded])
    assert (d.official, d.absent_exempt, d.value) == (3, 2, 1)


def test_each_exclusion_leaves_the_denominator_once() -> None:
    roster = [
        *people(5, attendance=PRESENT),
        Participant("t", session_status=TRANSFERRED),
        Participant("s", session_status=SUSPENDED, attendance=PRESENT),
        Participant("e", session_status=EXCUSED, attendance=ABSENT_EXCUSED),
        Participant("x", exempt=True, session_status=TRANSFERRED),  # counted as transferred, not twice
        Participant("u", attendance=ABSENT_UNEXCUSED),  # absent without excuse: stays in
        Participant("k", attendance=ABSENT_EXCUSED),  # an excused absence that is not for the session: stays in
    ]
    d = charter.denominator(roster)
    assert (d.official, d.transferred, d.suspended, d.excused, d.absent_exempt) == (11, 2, 1, 1, 0)
    assert d.value == 7
    assert d.explain() == "7 = 11 official - 2 transferred - 1 suspended/detained - 1 excused for the session"
    assert charter.eligible_voters(roster) == 5  # the suspended member present does not vote
    assert charter.refusal(Participant("s", session_status=SUSPENDED, attendance=PRESENT)) == (
        "suspended_member_cannot_vote"
    )
    assert charter.refusal(Participant("t", session_status=TRANSFERRED, attendance=PRESENT)) == "member_not_in_session"
    assert charter.refusal(Participant("n")) == "not_present"


@pytest.mark.parametrize(
    ("approve", "denominator", "passed"),
    [
        (4, 8, False),
        (5, 8, True),
        (3, 7, False),
        (4, 7, True),
        (0, 0, False),
        (1, 1, True),
        (1, 2, False),
        (13, 25, True),
        (12, 25, False),
        (12, 24, False),
        (13, 24, True),
    ],
)
def test_more_than_half_exactly_half_fails(approve: int, denominator: int, passed: bool) -> None:
    assert charter.passes(approve, denominator) is passed
    if denominator:
        assert charter.passes(charter.needed_to_pass(denominator), denominator)
        assert not charter.passes(charter.needed_to_pass(denominator) - 1, denominator)


def test_the_denominator_is_summoned_members_not_those_present() -> None:
    roster = [*people(6, attendance=PRESENT), *people(4, attendance=ABSENT_UNEXCUSED)]
    # 6 present all approve: 6 > 10/2 passes; 5 would not pass although 5/6 of those present.
    assert charter.result(Tally(6, 0, 0), Tally(), roster).passed
    five = charter.result(Tally(5, 1, 0), Tally(), roster)
    assert not five.passed and five.needed == 6
    assert "5 <= 10/2 -> not passed" in five.arithmetic()


def test_room_counts_and_app_votes_never_exceed_eligible() -> None:
    assert charter.room_count_fits(3, Tally(2, 1, 1), 7)
    assert not charter.room_count_fits(3, Tally(2, 2, 1), 7)
    assert not charter.room_count_fits(0, Tally(-1, 0, 0), 7)
    assert charter.app_vote_fits(6, Tally(), 7)
    assert not charter.app_vote_fits(7, Tally(), 7)
    assert not charter.app_vote_fits(3, Tally(4, 0, 0), 7)


def test_result_adds_room_and_app_and_shows_its_arithmetic() -> None:
    roster = [
        *people(8, attendance=PRESENT),
        Participant("x", exempt=True),
        Participant("t", session_status=TRANSFERRED),
    ]
    r = charter.result(Tally(3, 1, 0), Tally(2, 0, 1), roster)
    assert r.total == Tally(5, 1, 1) and r.denominator.value == 8 and r.eligible == 8
    assert r.passed and r.needed == 5
    assert r.arithmetic().startswith(
        "approve 5 (app 3 + room 2), reject 1, abstain 1; denominator 8 = 10 official"
        " - 1 transferred - 1 absent exempt; 5 > 8/2 -> passed"
    )


def test_tally_of_choices() -> None:
    assert Tally.of(["approve", "reject", "approve", "abstain"]) == Tally(2, 1, 1)
    assert Tally(1, 2, 3).total == 6


def test_attendance_summary_leaves_only_exempt_and_transferred_out_of_the_ratio() -> None:
    roster = [
        *people(17, attendance=PRESENT),
        Participant("u", attendance=ABSENT_UNEXCUSED),
        Participant("x", exempt=True),
        Participant("p", status=PROBATIONARY, attendance=PRESENT),
        Participant("t", session_status=TRANSFERRED),
        Participant("e", session_status=EXCUSED, attendance=ABSENT_EXCUSED),  # excused: still expected
    ]
    s = charter.attendance(roster)
    assert (s.roster, s.official, s.probationary, s.exempt, s.present, s.expected) == (22, 21, 1, 1, 18, 20)
    assert s.percent == 90.0 and s.absent_unexcused == 1 and s.absent_excused == 1 and not s.meets_hd12
    excused_only = [*people(17, attendance=PRESENT), *(Participant(f"e{i}", session_status=EXCUSED) for i in range(3))]
    assert charter.attendance(excused_only).percent == 85.0 and not charter.attendance(excused_only).meets_hd12
    assert charter.attendance(people(10, attendance=PRESENT)).meets_hd12


def test_default_rubric_is_the_100_point_example() -> None:
    rubric = load(DEFAULT_RUBRIC)
    assert rubric.max_points == 100 and len(rubric.criteria) == 12
    assert rubric.groups == {"preparation": 15, "attendance": 20, "conduct": 45, "closing": 20}
    assert [(r.code, r.min_points) for r in rubric.ratings] == [
        ("tot", 90),
        ("kha", 70),
        ("trung_binh", 50),
        ("kem", 0),
    ]
    assert [rubric.rate(p).label for p in (100, 90, 89, 70, 69.9, 50, 49, 0)] == [
        "Tốt",
        "Tốt",
        "Khá",
        "Khá",
        "Trung bình",
        "Trung bình",
        "Kém",
        "Kém",
    ]
    full = {c.id: c.max_points for c in rubric.criteria}
    assert rubric.total(full) == 100
    with pytest.raises(RubricError, match="missing"):
        rubric.total({k: v for k, v in full.items() if k != "att_rate"})
    with pytest.raises(RubricError, match="unknown"):
        rubric.total({**full, "bogus": 1})
    with pytest.raises(RubricError, match="between 0 and 15"):
        rubric.total({**full, "att_rate": 16})


def test_rubric_is_data_another_province_scores_differently(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = {
        "id": "p2",
        "criteria": [{"id": "a", "title": "A", "max_points": 6}, {"id": "b", "title": "B", "max_points": 4}],
        "ratings": [
            {"code": "good", "label": "Good", "min_points": 7},
            {"code": "bad", "label": "Bad", "min_points": 0},
        ],
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    rubric = load(path)
    assert rubric.max_points == 10 and rubric.rate(rubric.total({"a": 6, "b": 1})).code == "good"
    for broken in (
        {**data, "ratings": [{"code": "x", "label": "X", "min_points": 5}]},  # nothing from 0
        {**data, "criteria": []},
        {**data, "criteria": [{"id": "a", "title": "A", "max_points": 0}]},
        {**data, "groups": {"g": 5}, "criteria": [{"id": "a", "group": "g", "title": "A", "max_points": 4}]},
        {"criteria": "nope"},
    ):
        with pytest.raises(RubricError):
            Rubric.from_data(broken)
