"""Who may do what with documents (checked here, in the service that owns them).

- A member sees a published document addressed to their unit or one of its ancestors.
- An editor or admin over a unit publishes for that unit's subtree, and sees (drafts too)
  every document published inside the subtrees where they hold the role.
- Anything the caller may not see is NOT_FOUND, so its existence does not leak.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.core.auth import (
    ROLE_ADMIN,
    ROLE_CELL_COMMITTEE,
    ROLE_CELL_DEPUTY,
    ROLE_CELL_SECRETARY,
    ROLE_EDITOR,
    Principal,
)
from services.core.errors import NotFound, PermissionDenied
from services.documents.search import Visibility
from services.documents.store import Doc

PUBLISHERS = (ROLE_EDITOR, ROLE_ADMIN)
STUDY_VIEWERS = (ROLE_ADMIN, ROLE_EDITOR, ROLE_CELL_SECRETARY, ROLE_CELL_DEPUTY, ROLE_CELL_COMMITTEE)


def visibility(me: Principal) -> Visibility:
    units = tuple(dict.fromkeys([*me.ancestors, *([me.unit_id] if me.unit_id else [])]))
    return Visibility(units=units, manage_units=tuple(sorted(me.grant_units(PUBLISHERS))))


def require_visible(me: Principal, doc: Doc) -> None:
    if not doc.visible_to(visibility(me)):
        raise NotFound("document_not_found", f"document {doc.id!r} does not exist")


def can_manage(me: Principal, doc: Doc) -> bool:
    return me.has_role_over(doc.publisher_chain, *PUBLISHERS)


def require_manager(me: Principal, doc: Doc) -> None:
    require_visible(me, doc)
    if not can_manage(me, doc):
        raise PermissionDenied(
            "not_allowed", "needs role editor or admin over the publishing unit", unit_id=doc.unit_id
        )


def require_publisher(me: Principal, unit_chain: Sequence[str]) -> None:
    if not me.has_role_over(unit_chain, *PUBLISHERS):
        raise PermissionDenied("not_allowed", "needs role editor or admin over this unit", unit_id=unit_chain[-1])


def readable_version(me: Principal, doc: Doc, requested: int = 0) -> int:
    """The version a reader gets (`requested`, else the current one). A version newer than the
    current one is still waiting for its text check: only the document's managers see it."""
    number = requested or doc.current_version
    if number > doc.current_version and not can_manage(me, doc):
        raise NotFound("version_not_found", f"version {number} does not exist", version=number)
    return number
