"""The meeting's state flow and what may change in each state (pure).

    draft -> announced -> in_progress -> closed -> resolution_published

| state | what may happen |
|---|---|
| draft | edit schedule, place, mode, agenda; attach/detach documents; announce; delete |
| announced | edit schedule, place, mode, agenda; attach/detach documents; session statuses; start |
| in_progress | attendance, check-in, opinions, polls, votes, session statuses, evaluation, |
|  | chair and minutes secretary, conclusion; close |
| closed | evaluation, conclusion; publish the resolution; assign tasks |
| resolution_published | tasks and their progress; members' assessments |

Documents opened are recorded from the announcement on (members read before and during).
"""

from __future__ import annotations

from services.core.errors import FailedPrecondition

DRAFT = "draft"
ANNOUNCED = "announced"
IN_PROGRESS = "in_progress"
CLOSED = "closed"
RESOLUTION_PUBLISHED = "resolution_published"
STATES = (DRAFT, ANNOUNCED, IN_PROGRESS, CLOSED, RESOLUTION_PUBLISHED)

NEXT = {DRAFT: ANNOUNCED, ANNOUNCED: IN_PROGRESS, IN_PROGRESS: CLOSED, CLOSED: RESOLUTION_PUBLISHED}

SCHEDULE_FIELDS = frozenset({"title", "starts_at", "ends_at", "place", "mode", "agenda"})
RECORD_FIELDS = frozenset({"chair_member_id", "minutes_secretary_member_id", "conclusion"})
EDITABLE_FIELDS: dict[str, frozenset[str]] = {
    DRAFT: SCHEDULE_FIELDS,
    ANNOUNCED: SCHEDULE_FIELDS,
    IN_PROGRESS: RECORD_FIELDS,
    CLOSED: frozenset({"conclusion"}),
    RESOLUTION_PUBLISHED: frozenset(),
}
ALL_FIELDS = SCHEDULE_FIELDS | RECORD_FIELDS

ACTIONS: dict[str, frozenset[str]] = {
    DRAFT: frozenset({"documents", "announce", "delete"}),
    ANNOUNCED: frozenset({"documents", "open_document", "session_status", "start"}),
    IN_PROGRESS: frozenset(
        {
            "open_document",
            "session_status",
            "attendance",
            "opinion",
            "poll",
            "vote",
            "evaluate",
            "close",
        }
    ),
    CLOSED: frozenset({"open_document", "evaluate", "publish_resolution", "tasks"}),
    RESOLUTION_PUBLISHED: frozenset({"open_document", "evaluate", "tasks"}),
}


def require(state: str, action: str) -> None:
    """FAILED_PRECONDITION unless `action` is allowed in `state`."""
    if action not in ACTIONS.get(state, frozenset()):
        allowed = [s for s in STATES if action in ACTIONS[s]]
        raise FailedPrecondition(
            "wrong_state",
            f"cannot {action.replace('_', ' ')} while the meeting is {state.replace('_', ' ')}",
            state=state,
            action=action,
            allowed_in=",".join(allowed),
        )


def require_editable(state: str, fields: set[str]) -> None:
    blocked = sorted(fields - EDITABLE_FIELDS.get(state, frozenset()))
    if blocked:
        raise FailedPrecondition(
            "field_locked",
            f"{', '.join(blocked)} cannot change while the meeting is {state.replace('_', ' ')}",
            state=state,
            fields=",".join(blocked),
        )


def advance(state: str, to: str) -> str:
    if NEXT.get(state) != to:
        raise FailedPrecondition(
            "wrong_state",
            f"a meeting that is {state.replace('_', ' ')} cannot become {to.replace('_', ' ')}",
            state=state,
            to=to,
        )
    return to
