"""Which staff pages a signed-in account reaches (gateway.web.staff): the menu and the pages'
guards read the same answer from the roles of the session's access token."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask

from gateway.web import session, staff
from gateway.web.base import render
from services.core.auth import Grant, issue_access_token
from tests.unit.gateway.conftest import CALLER, KID, SIGNING_KEY


def signed_in_as(monkeypatch: pytest.MonkeyPatch, *grants: tuple[str, str]) -> None:
    principal = dataclasses.replace(CALLER, grants=tuple(Grant(r, u) for r, u in grants))
    token = issue_access_token(SIGNING_KEY, KID, principal, 3600)
    monkeypatch.setattr(session, "current", lambda: session.Session(access=token, refresh="refresh-token"))


@pytest.mark.parametrize(("grants", "reach"), [
    ((), staff.Reach(meetings=False, committee=False, roster=False, admin=False)),
    ((("cell_secretary", "cell-1"),), staff.Reach(meetings=True, committee=False, roster=True, admin=False)),
    ((("cell_deputy", "cell-1"),), staff.Reach(meetings=True, committee=False, roster=True, admin=False)),
    ((("cell_committee", "cell-1"),), staff.Reach(meetings=False, committee=False, roster=True, admin=False)),
    ((("editor", "commune-1"),), staff.Reach(meetings=False, committee=True, roster=False, admin=False)),
    ((("admin", "root-1"),), staff.Reach(meetings=False, committee=True, roster=False, admin=True)),
])
def test_the_roles_decide_the_staff_links(
    app: Flask, monkeypatch: pytest.MonkeyPatch, grants: tuple[tuple[str, str], ...], reach: staff.Reach
) -> None:
    signed_in_as(monkeypatch, *grants)
    with app.test_request_context("/"):
        assert staff.staff_links() == reach


def test_units_come_once_each_in_the_token_order(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    signed_in_as(monkeypatch, ("admin", "b"), ("editor", "a"), ("admin", "a"), ("cell_secretary", "c"))
    with app.test_request_context("/"):
        assert staff.committee_units() == ["b", "a"]
        assert staff.admin_units() == ["b", "a"]
        assert staff.meeting_cells() == staff.roster_cells() == ["c"]
        assert staff.administers("x", ["root", "a"]) and staff.administers("b", [])
        assert not staff.administers("c", ["root"])


@pytest.mark.parametrize("access", ["", "not-a-token", "a.%%%.c", "a.bnVsbA.c"])
def test_a_missing_or_unreadable_token_reaches_nothing(
    app: Flask, monkeypatch: pytest.MonkeyPatch, access: str
) -> None:
    monkeypatch.setattr(session, "current", lambda: session.Session(access=access))
    with app.test_request_context("/"):
        assert staff.staff_links() == staff.Reach(meetings=False, committee=False, roster=False, admin=False)


def test_the_menu_shows_what_the_roles_reach(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    signed_in_as(monkeypatch, ("cell_secretary", "cell-1"))
    with app.test_request_context("/"):
        html = render("base.html").get_data(as_text=True)
    assert 'href="/manage/meetings"' in html and 'href="/roster"' in html
    assert 'href="/committee"' not in html and 'href="/admin"' not in html
