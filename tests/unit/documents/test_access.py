"""Where a caller publishes (services.documents.access.managed_units), without servers."""

from __future__ import annotations

import pytest

from services.core.auth import Grant, Principal
from services.core.errors import PermissionDenied, Unavailable
from services.documents import access

CELLS = {"cell-a1", "cell-a2"}


def caller(*grants: tuple[str, str]) -> Principal:
    return Principal("acct", "member", "cell-a1", ("province", "commune-a"), tuple(Grant(r, u) for r, u in grants))


def test_an_editor_publishes_where_granted_without_asking_identity() -> None:
    asked: list[str] = []
    me = caller(("editor", "commune-a"), ("admin", "province"), ("member", "cell-a1"))
    assert access.managed_units(me, lambda u: asked.append(u) or True) == {"commune-a", "province"}
    assert asked == []


def test_a_cell_officer_publishes_for_the_cells_the_role_is_granted_on() -> None:
    me = caller(("cell_secretary", "cell-a1"), ("cell_deputy", "cell-a2"), ("cell_committee", "cell-a1"),
                ("cell_secretary", "commune-a"))  # a cell role on a commune publishes nothing
    assert access.managed_units(me, CELLS.__contains__) == {"cell-a1", "cell-a2"}


def test_identity_down_a_cell_officer_reads_as_a_member(caplog: pytest.LogCaptureFixture) -> None:
    def down(unit_id: str) -> bool:
        raise Unavailable("identity_unavailable", "identity is unavailable")

    me = caller(("cell_secretary", "cell-a1"), ("editor", "commune-b"))
    assert access.managed_units(me, down) == {"commune-b"}
    assert "cell roles publish nothing now" in caplog.text


def test_a_cell_document_is_managed_from_the_cell_only() -> None:
    managed = frozenset({"cell-a1"})
    with pytest.raises(PermissionDenied) as refused:
        access.require_publisher(managed, ("province", "commune-a"))
    assert refused.value.reason == "not_allowed"
    access.require_publisher(managed, ("province", "commune-a", "cell-a1"))
