"""What this service knows about units and the caller's place in the tree.

Units belong to identity. A member's ancestry comes from their access token (verified locally);
any other unit is asked from identity (services.core.identity_client).
A unit path here has identity's form '/<root id>/.../<unit id>/'.
"""

from __future__ import annotations

from services.core.auth import Principal
from services.core.identity_client import path_of

__all__ = ["member_of", "path_ids", "path_of", "subtree_range"]


def path_ids(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def subtree_range(path: str) -> dict[str, str]:
    """Bounds for `col >= :lo AND col < :hi`: every path that starts with `path`."""
    return {"lo": path, "hi": path[:-1] + chr(ord("/") + 1)}


def member_of(principal: Principal) -> tuple[str, str]:
    """(member id, unit path) of a caller who is a member; else PERMISSION_DENIED `not_a_member`."""
    return principal.require_member("only a Party member has an inbox and feedback"), path_of(principal.ancestors)
