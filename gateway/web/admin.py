"""Administration pages for the admins of a subtree: the units tree (create, rename, move, merge
two communes in one step), people (password reset, roles granted on subtrees) and the audit log
of personal-data reads and other events, with filters.

The identity service enforces who may do what (admin over the units concerned, and over every
unit where a target account holds a role); its refusals come back beside the forms as text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import grpc
from flask import Response, redirect, request, url_for
from google.protobuf.timestamp_pb2 import Timestamp

from gateway import clients
from gateway.web import staff
from gateway.web.auth import form_error
from gateway.web.base import TIMEZONE, bp, error_page, login_required, render
from gateway.web.i18n import N_, _
from gateway.web.messages import REASONS, reason_message
from services.core.errors import error_info
from sotay.identity.v1 import identity_pb2 as ipb

KINDS = {
    ipb.UNIT_KIND_PROVINCE: N_("Province committee"),
    ipb.UNIT_KIND_COMMUNE: N_("Commune or ward committee"),
    ipb.UNIT_KIND_DIRECT_COMMITTEE: N_("Directly subordinate committee"),
    ipb.UNIT_KIND_GRASSROOTS: N_("Grassroots committee"),
    ipb.UNIT_KIND_CELL: N_("Cell"),
}
KIND_CODES = {"commune": ipb.UNIT_KIND_COMMUNE, "direct_committee": ipb.UNIT_KIND_DIRECT_COMMITTEE,
              "grassroots": ipb.UNIT_KIND_GRASSROOTS, "cell": ipb.UNIT_KIND_CELL}
ROLE_NAMES = {
    ipb.ROLE_ADMIN: N_("Administrator"),
    ipb.ROLE_EDITOR: N_("Editor"),
    ipb.ROLE_CELL_SECRETARY: N_("Cell secretary"),
    ipb.ROLE_CELL_DEPUTY: N_("Deputy cell secretary"),
    ipb.ROLE_CELL_COMMITTEE: N_("Cell committee member"),
}
FOUND = 10  # members a name search shows, each with its forms
GRANTABLE = {"admin": ipb.ROLE_ADMIN, "editor": ipb.ROLE_EDITOR}
# The log's actions an admin filters by (prefixes of the action names).
ACTIONS = {
    "member.profile.read": N_("Reads of a member's profile"),
    "member.": N_("Changes to members"),
    "auth.": N_("Sign-ins and passwords"),
    "role.": N_("Roles"),
    "unit.": N_("Units"),
    "": N_("Everything"),
}
NOT_ADMIN = N_("You do not administer this unit.")
# Refusals of the administration forms, in words (the others: messages.REASONS or a general text).
ADMIN_REASONS = {
    "merge_into_itself": N_("A commune cannot be merged into itself."),
    "merge_needs_communes": N_("Only two communes (or wards) can be merged."),
    "merge_into_own_subtree": N_("One of the units lies inside the other."),
    "unit_inactive": N_("This unit is no longer active."),
    "parent_inactive": N_("The unit above is no longer active."),
    "move_into_own_subtree": N_("A unit cannot move under itself."),
    "cannot_move_root": N_("The top unit cannot be moved."),
    "unit_code_taken": N_("Another unit already has this code."),
    "name_required": N_("Please enter a name."),
    "name_too_long": N_("A name has at most 200 characters."),
    "not_allowed": NOT_ADMIN,
    "target_outranks_caller": N_(
        "This account holds a role on a unit you do not administer; ask an admin of that unit."
    ),
    "own_password_needs_current": N_("Change your own password on the Account page."),
    "cannot_revoke_own_admin": N_("Ask another administrator to revoke your own administrator role."),
    "unit_has_members": N_("Move or deactivate the members of this unit first."),
}
DONE = {
    "renamed": N_("The unit has been renamed."),
    "created": N_("The unit has been created."),
    "moved": N_("The unit and everything under it have been moved."),
    "reset": N_("The password has been set. Give it to its owner in person."),
    "granted": N_("The role has been granted."),
    "revoked": N_("The role has been revoked."),
}


def refusal_text(exc: grpc.RpcError) -> tuple[int, str] | None:
    """(HTTP status, text) for a refusal the form shows; None for errors the error page handles."""
    code: grpc.StatusCode = exc.code()  # type: ignore[attr-defined]
    reason, _meta = error_info(exc)
    if reason in ADMIN_REASONS and code != grpc.StatusCode.NOT_FOUND:
        return (403 if code == grpc.StatusCode.PERMISSION_DENIED else 400), _(ADMIN_REASONS[reason])
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return 403, reason_message(reason) if reason in REASONS else _(NOT_ADMIN)
    return form_error(exc)


def attempt(call: Callable[[], Any], again: Callable[[int, str], Response]) -> Any:
    """Run a form's RPC; on a refusal, `again(status, text)` renders the page with it."""
    try:
        return call()
    except grpc.RpcError as exc:
        shown = refusal_text(exc)
        if shown is None:
            raise
        return again(*shown)


def back(endpoint: str, done: str, **values: Any) -> Response:
    return redirect(url_for(endpoint, done=done, **values), code=303)  # type: ignore[return-value]


def notice() -> str:
    done = request.args.get("done", "")
    if done == "merged":
        return _("The communes have been merged: %(units)s units, %(members)s members and %(grants)s roles moved.",
                 units=request.args.get("units", "0")[:6], members=request.args.get("members", "0")[:9],
                 grants=request.args.get("grants", "0")[:6])
    return _(DONE[done]) if done in DONE else ""


@bp.route("/admin")
@login_required
def admin() -> Response:
    mine = staff.admin_units()
    if not mine:
        return error_page(403)
    if len(mine) == 1:
        return redirect(url_for("web.admin_unit", unit_id=mine[0]), code=303)  # type: ignore[return-value]
    stub = clients.identity()
    found = [stub.GetUnit.future(ipb.GetUnitRequest(id=u)) for u in mine]
    return render("admin_home.html", units=[f.result().unit for f in found], kinds=KINDS)


# ---------- units ----------


def unit_page(unit_id: str, status: int = 200, error: str = "") -> Response:
    stub = clients.identity()
    above = stub.ListAncestors.future(ipb.ListAncestorsRequest(id=unit_id))
    children = stub.ListUnits.future(
        ipb.ListUnitsRequest(parent_id=unit_id, include_inactive=True, page_size=500))
    counts = stub.CountMembers.future(ipb.CountMembersRequest(unit_id=unit_id))
    unit = stub.GetUnit(ipb.GetUnitRequest(id=unit_id)).unit
    if not staff.administers(unit.id, unit.ancestor_ids):
        return error_page(403)
    ancestors = list(above.result().units)
    # Where it may move: under its parent's siblings or its grandparent (a cell to another commune,
    # a committee directly under the province). Merge partners: the communes beside it.
    destinations: list[ipb.Unit] = []
    partners: list[ipb.Unit] = []
    if unit.parent_id and len(ancestors) >= 2:
        grand = ancestors[-2]
        siblings = stub.ListUnits(ipb.ListUnitsRequest(parent_id=grand.id, page_size=500)).units
        destinations = [grand, *(u for u in siblings if u.id != unit.parent_id and u.kind != ipb.UNIT_KIND_CELL)]
    if unit.kind == ipb.UNIT_KIND_COMMUNE and unit.active and unit.parent_id:
        beside = stub.ListUnits(ipb.ListUnitsRequest(parent_id=unit.parent_id, kind=ipb.UNIT_KIND_COMMUNE,
                                                     page_size=500)).units
        partners = [u for u in beside if u.id != unit.id]
    per_child = {c.child_unit_id: c.members for c in counts.result().children}
    return render(
        "admin_unit.html", status=status, unit=unit, ancestors=ancestors, children=children.result().units,
        per_child=per_child, counts=counts.result(), destinations=destinations, partners=partners, kinds=KINDS,
        kind_codes=KIND_CODES, error=error, notice=notice(), ipb=ipb,
    )


@bp.route("/admin/units/<unit_id>")
@login_required
def admin_unit(unit_id: str) -> Response:
    return unit_page(unit_id)


def unit_form(unit_id: str, call: Callable[[], Any], done: str) -> Response:
    result = attempt(call, lambda status, text: unit_page(unit_id, status, text))
    if isinstance(result, Response):
        return result
    return back("web.admin_unit", done, unit_id=unit_id)


@bp.route("/admin/units/<unit_id>/rename", methods=["POST"])
@login_required
def admin_rename(unit_id: str) -> Response:
    name = request.form.get("name", "")[:300]
    return unit_form(unit_id, lambda: clients.identity().RenameUnit(
        ipb.RenameUnitRequest(id=unit_id, name=name)), "renamed")


@bp.route("/admin/units/<unit_id>/children", methods=["POST"])
@login_required
def admin_create(unit_id: str) -> Response:
    kind = KIND_CODES.get(request.form.get("kind", ""))
    if kind is None:
        return unit_page(unit_id, 400, _("Please choose the kind of unit."))
    req = ipb.CreateUnitRequest(name=request.form.get("name", "")[:300], kind=kind, parent_id=unit_id,
                                code=request.form.get("code", "").strip()[:50])
    return unit_form(unit_id, lambda: clients.identity().CreateUnit(req), "created")


@bp.route("/admin/units/<unit_id>/move", methods=["POST"])
@login_required
def admin_move(unit_id: str) -> Response:
    target = request.form.get("new_parent_id", "")[:100]
    if not target:
        return unit_page(unit_id, 400, _("Please choose where to move the unit."))
    return unit_form(unit_id, lambda: clients.identity().MoveUnit(
        ipb.MoveUnitRequest(id=unit_id, new_parent_id=target)), "moved")


@bp.route("/admin/units/<unit_id>/merge", methods=["POST"])
@login_required
def admin_merge(unit_id: str) -> Response:
    """The whole merge in one request: identity moves units, members and roles in one transaction."""
    target = request.form.get("target_id", "")[:100]
    if not target:
        return unit_page(unit_id, 400, _("Please choose the commune that receives this one."))
    if request.form.get("confirm") != "1":
        return unit_page(unit_id, 400, _("Please tick the box to confirm the merge."))
    done = attempt(lambda: clients.identity(long=True).MergeUnits(
        ipb.MergeUnitsRequest(source_id=unit_id, target_id=target)),
        lambda status, text: unit_page(unit_id, status, text))
    if isinstance(done, Response):
        return done
    return redirect(url_for("web.admin_unit", unit_id=done.unit.id, done="merged", units=done.moved_units,
                            members=done.moved_members, grants=done.moved_grants), code=303)  # type: ignore[return-value]


# ---------- people: password resets and roles ----------


def people_page(unit_id: str, status: int = 200, error: str = "") -> Response:
    stub = clients.identity()
    query = request.values.get("q", "").strip()[:100]
    roles = stub.ListRoles.future(ipb.ListRolesRequest(unit_id=unit_id, page_size=200))
    found = None
    if query:
        found = stub.ListMembers(ipb.ListMembersRequest(unit_id=unit_id, subtree=True, query=query, page_size=FOUND))
    unit = stub.GetUnit(ipb.GetUnitRequest(id=unit_id)).unit
    if not staff.administers(unit.id, unit.ancestor_ids):
        return error_page(403)
    homes = {u: stub.GetUnit.future(ipb.GetUnitRequest(id=u))
             for u in {m.unit_id for m in (found.members if found else [])}}
    grants = [g for g in roles.result().grants if g.role in (ipb.ROLE_ADMIN, ipb.ROLE_EDITOR)]
    return render("admin_people.html", status=status, unit=unit, query=query, found=found, grants=grants,
                  role_names=ROLE_NAMES, error=error, notice=notice(),
                  unit_names={u: f.result().unit.name for u, f in homes.items()}, ipb=ipb)


@bp.route("/admin/units/<unit_id>/people", methods=["GET"])
@login_required
def admin_people(unit_id: str) -> Response:
    return people_page(unit_id)


def people_form(unit_id: str, call: Callable[[], Any], done: str) -> Response:
    result = attempt(call, lambda status, text: people_page(unit_id, status, text))
    if isinstance(result, Response):
        return result
    return back("web.admin_people", done, unit_id=unit_id, q=request.form.get("q", "")[:100])


@bp.route("/admin/units/<unit_id>/people/password", methods=["POST"])
@login_required
def admin_reset(unit_id: str) -> Response:
    password, again = request.form.get("new_password", ""), request.form.get("new_password_again", "")
    if password != again:
        return people_page(unit_id, 400, _("The two new passwords are not the same."))
    account = request.form.get("account_id", "")[:100]
    return people_form(unit_id, lambda: clients.identity().ResetPassword(
        ipb.ResetPasswordRequest(account_id=account, new_password=password[:1024])), "reset")


@bp.route("/admin/units/<unit_id>/people/roles", methods=["POST"])
@login_required
def admin_grant(unit_id: str) -> Response:
    role = GRANTABLE.get(request.form.get("role", ""))
    if role is None:
        return people_page(unit_id, 400, _("Please choose a role."))
    req = ipb.GrantRoleRequest(account_id=request.form.get("account_id", "")[:100], role=role,
                               unit_id=request.form.get("on_unit_id", "")[:100] or unit_id)
    return people_form(unit_id, lambda: clients.identity().GrantRole(req), "granted")


@bp.route("/admin/units/<unit_id>/people/roles/<grant_id>/revoke", methods=["POST"])
@login_required
def admin_revoke(unit_id: str, grant_id: str) -> Response:
    return people_form(unit_id, lambda: clients.identity().RevokeRole(
        ipb.RevokeRoleRequest(grant_id=grant_id)), "revoked")


# ---------- audit log ----------


def day_start(text: str, days: int = 0) -> Timestamp | None:
    """Midnight (Vietnam time) of a YYYY-MM-DD day, plus `days`; None when not a date."""
    try:
        day = dt.date.fromisoformat(text[:10])
    except ValueError:
        return None
    moment = dt.datetime.combine(day + dt.timedelta(days=days), dt.time(), TIMEZONE)
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(dt.UTC))
    return stamp


@bp.route("/admin/units/<unit_id>/audit")
@login_required
def admin_audit(unit_id: str) -> Response:
    args = request.args
    action = args.get("action", "member.profile.read")
    action = action if action in ACTIONS else "member.profile.read"
    filters = {k: args.get(k, "")[:100] for k in ("actor", "target", "since", "until")}
    req = ipb.ListAuditEventsRequest(unit_id=unit_id, action_prefix=action, actor_account_id=filters["actor"],
                                     target_id=filters["target"], page_size=50,
                                     page_token=args.get("page", "")[:200])
    since, until = day_start(filters["since"]), day_start(filters["until"], days=1)
    if since is not None:
        req.since.CopyFrom(since)
    if until is not None:
        req.until.CopyFrom(until)
    stub = clients.identity()
    children = stub.ListUnits.future(ipb.ListUnitsRequest(parent_id=unit_id, page_size=500))
    reply = stub.ListAuditEvents(req)
    unit = stub.GetUnit(ipb.GetUnitRequest(id=unit_id)).unit
    names = {e.actor_account_id: e.actor_name for e in reply.events} | {e.target_id: e.target_name
                                                                       for e in reply.events}
    return render("admin_audit.html", unit=unit, children=children.result().units, reply=reply, action=action,
                  actions=ACTIONS, filters=filters, names=names, ipb=ipb)
