"""Who may do what with documents (checked here, in the service that owns them).

- A member sees a published document addressed to their unit or one of its ancestors.
- An editor or admin over a unit publishes for that unit's subtree, and sees (drafts too)
  every document published inside the subtrees where they hold the role.
- A cell's secretary or deputy publishes for that cell only (its draft resolution, its signed
  minutes and resolution): the role must be granted on a unit that is a cell, so a cell role
  granted higher up publishes nothing, and the officers reach the cell's subtree only (the cell
  itself: the Party's cells have no units below them).
- The units where a caller publishes are resolved once per call (`managed_units`); every rule
  below reads them, so the cell check cannot be skipped by one path.
- Anything the caller may not see is NOT_FOUND, so its existence does not leak.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from services.core.auth import (
    ROLE_ADMIN,
    ROLE_CELL_COMMITTEE,
    ROLE_CELL_DEPUTY,
    ROLE_CELL_SECRETARY,
    ROLE_EDITOR,
    Principal,
)
from services.core.errors import NotFound, PermissionDenied, ServiceError
from services.documents.search import Visibility
from services.documents.store import Doc

log = logging.getLogger("sotay.documents")
PUBLISHERS = (ROLE_EDITOR, ROLE_ADMIN)
CELL_PUBLISHERS = (ROLE_CELL_SECRETARY, ROLE_CELL_DEPUTY)
STUDY_VIEWERS = (ROLE_ADMIN, ROLE_EDITOR, ROLE_CELL_SECRETARY, ROLE_CELL_DEPUTY, ROLE_CELL_COMMITTEE)


def managed_units(me: Principal, is_cell: Callable[[str], bool]) -> frozenset[str]:
    """Where the caller publishes: the units of their editor and admin grants (each with its
    subtree) and the cells they are secretary or deputy of (`is_cell` is asked only for those).
    A unit `is_cell` cannot answer for (identity down) counts as no cell: the caller reads as a member."""
    cells = set()
    for unit_id in me.grant_units(CELL_PUBLISHERS):
        try:
            if is_cell(unit_id):
                cells.add(unit_id)
        except ServiceError as exc:
            log.warning("unit %s not looked up (%s): its cell roles publish nothing now", unit_id, exc.reason)
    return frozenset(me.grant_units(PUBLISHERS)) | cells


def visibility(me: Principal, managed: frozenset[str]) -> Visibility:
    units = tuple(dict.fromkeys([*me.ancestors, *([me.unit_id] if me.unit_id else [])]))
    return Visibility(units=units, manage_units=tuple(sorted(managed)))


def require_visible(me: Principal, managed: frozenset[str], doc: Doc) -> None:
    if not doc.visible_to(visibility(me, managed)):
        raise NotFound("document_not_found", f"document {doc.id!r} does not exist")


def can_manage(managed: frozenset[str], doc: Doc) -> bool:
    return not managed.isdisjoint(doc.publisher_chain)


def require_manager(me: Principal, managed: frozenset[str], doc: Doc) -> None:
    require_visible(me, managed, doc)
    if not can_manage(managed, doc):
        raise PermissionDenied(
            "not_allowed", "needs role editor or admin over the publishing unit, or secretary of its cell",
            unit_id=doc.unit_id,
        )


def require_publisher(managed: frozenset[str], unit_chain: Sequence[str]) -> None:
    if managed.isdisjoint(unit_chain):
        raise PermissionDenied(
            "not_allowed", "needs role editor or admin over this unit, or secretary of this cell",
            unit_id=unit_chain[-1],
        )


def readable_version(managed: frozenset[str], doc: Doc, requested: int = 0) -> int:
    """The version a reader gets (`requested`, else the current one). A version newer than the
    current one is still waiting for its text check: only the document's managers see it."""
    number = requested or doc.current_version
    if number > doc.current_version and not can_manage(managed, doc):
        raise NotFound("version_not_found", f"version {number} does not exist", version=number)
    return number
