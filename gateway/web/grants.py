"""What the signed-in account may manage, for choosing the links and pages to offer: read from
the roles claim of its access token (identity signed it; the cookie holding it is sealed). Only
navigation depends on it: every action is authorised again by the service that owns the data."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from flask import g

from gateway.web import session
from gateway.web.base import bp
from services.core.auth import ROLE_ADMIN, ROLE_CELL_COMMITTEE, ROLE_CELL_DEPUTY, ROLE_CELL_SECRETARY

OFFICER_ROLES = (ROLE_CELL_SECRETARY, ROLE_CELL_DEPUTY, ROLE_CELL_COMMITTEE)


def my_grants() -> list[tuple[str, str]]:
    """(role, unit id) of the account's grants; none when signed out or unreadable."""
    found: list[tuple[str, str]] | None = g.get("web_grants")
    if found is None:
        found = []
        token = session.current().access
        try:
            body = token.split(".")[1]
            claims: Any = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            found = [(str(r["r"]), str(r["u"])) for r in claims.get("roles", [])]
        except (IndexError, ValueError, KeyError, TypeError, AttributeError, orjson.JSONDecodeError):
            found = []
        g.web_grants = found
    return found


def units_with(*roles: str) -> list[str]:
    return list(dict.fromkeys(u for r, u in my_grants() if r in roles))


@bp.app_template_global()
def staff_links() -> dict[str, bool]:
    """Which of the staff pages the menu offers (admins open a cell's roster from its unit page)."""
    return {"roster": bool(units_with(*OFFICER_ROLES)), "admin": bool(units_with(ROLE_ADMIN))}
