"""Identifiers and input checks shared by every service."""

from __future__ import annotations

import uuid

from services.core.errors import InvalidArgument, NotFound


def new_id() -> str:
    return str(uuid.uuid4())


def require_unit_id(value: str, field: str = "unit_id") -> str:
    """`value`, else INVALID_ARGUMENT `unit_required`: the request must name a unit."""
    if not value:
        raise InvalidArgument("unit_required", f"{field} is required", field=field)
    return value


def require_id(value: str, field: str, what: str = "") -> str:
    """A well-formed UUID, else NOT_FOUND for a lookup (`what` given) or INVALID_ARGUMENT."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        if what and value:
            raise NotFound(f"{what}_not_found", f"{what} {value!r} does not exist") from None
        raise InvalidArgument("invalid_id", f"{field} must be an id", field=field) from None
