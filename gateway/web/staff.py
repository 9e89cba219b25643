"""What the signed-in account may reach among the staff pages, read from the roles claim of its
access token (identity signed it; the cookie holding it is sealed). The menu and the pages' own
guards both ask here; it only chooses what to offer: every action is authorised again by the
service that owns the data."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from flask import g

from gateway.web import session
from gateway.web.base import bp
from services.core.auth import ROLE_ADMIN, ROLE_CELL_COMMITTEE, ROLE_CELL_DEPUTY, ROLE_CELL_SECRETARY, ROLE_EDITOR

OFFICER_ROLES = (ROLE_CELL_SECRETARY, ROLE_CELL_DEPUTY, ROLE_CELL_COMMITTEE)  # a cell's roster
RUNNER_ROLES = (ROLE_CELL_SECRETARY, ROLE_CELL_DEPUTY)  # running the cell's meetings
COMMITTEE_ROLES = (ROLE_EDITOR, ROLE_ADMIN)  # the committee's pages: publishing, feedback, compliance


def my_grants() -> list[tuple[str, str]]:
    """(role, unit id) of the account's grants; none when signed out or unreadable."""
    found: list[tuple[str, str]] | None = g.get("web_grants")
    if found is None:
        found = []
        token = session.current().access
        try:
            body = token.split(".")[1]
            claims: Any = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            found = [(str(r["r"]), str(r["u"])) for r in claims.get("roles", []) if r["u"]]
        except (IndexError, ValueError, KeyError, TypeError, AttributeError, orjson.JSONDecodeError):
            found = []
        g.web_grants = found
    return found


def units_with(*roles: str) -> list[str]:
    """The units the account holds one of `roles` on, in the token's order, once each."""
    return list(dict.fromkeys(u for r, u in my_grants() if r in roles))


def roster_cells() -> list[str]:
    return units_with(*OFFICER_ROLES)


def meeting_cells() -> list[str]:
    return units_with(*RUNNER_ROLES)


def committee_units() -> list[str]:
    return units_with(*COMMITTEE_ROLES)


def study_units() -> list[str]:
    """The units whose study of a document the account follows: its cells first, then its committees."""
    return list(dict.fromkeys([*roster_cells(), *committee_units()]))


def admin_units() -> list[str]:
    return units_with(ROLE_ADMIN)


def administers(unit_id: str, ancestor_ids: Iterable[str]) -> bool:
    """Whether the account holds admin on the unit or above."""
    return bool(set(admin_units()) & {*ancestor_ids, unit_id})


@dataclass(frozen=True)
class Reach:
    """The staff pages the menu offers (admins open a cell's roster from its unit page)."""

    meetings: bool
    committee: bool
    roster: bool
    admin: bool


@bp.app_template_global()
def staff_links() -> Reach:
    return Reach(meetings=bool(meeting_cells()), committee=bool(committee_units()),
                 roster=bool(roster_cells()), admin=bool(admin_units()))
