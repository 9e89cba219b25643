"""Who has studied a document (học tập Nghị quyết), for those who follow it up: a cell's officers
see their cell (how many have studied it, who has not, who has and when); a committee's editors
and admins see their subtree unit by unit and open one cell's names.

The documents service decides who may see which unit (ListStudyStatus); the session's roles only
choose to whom the page is offered and which unit it opens on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from flask import Response, abort, request, url_for

from gateway import clients
from gateway.routes.documents import documents
from gateway.web import staff
from gateway.web.base import PAGE, bp, error_page, login_required, page_token, render
from gateway.web.committee import ID_RE
from gateway.web.i18n import N_, _
from sotay.documents.v1 import documents_pb2 as dpb
from sotay.identity.v1 import identity_pb2 as ipb

SHOWS = {"not": dpb.STUDY_FILTER_NOT_STUDIED, "done": dpb.STUDY_FILTER_STUDIED}
NOT_FOLLOWER = N_("Only a cell's officers and a committee's editors and admins see who has studied a document.")
NOT_THIS_UNIT = N_("You do not follow the study of this unit.")
TOO_LARGE = N_("This unit has too many members to count a document addressed to only part of it: "
               "open one of its units.")
MAX_UNITS = 500  # names of the units under the page's unit, one ListUnits page


@dataclass(frozen=True)
class UnitRow:
    unit_id: str
    name: str
    members: int
    studied: int

    @property
    def left(self) -> int:
        return self.members - self.studied


def unit_rows(summaries: Iterable[dpb.UnitStudySummary], names: dict[str, str]) -> list[UnitRow]:
    """The per-unit totals by unit name (an unnamed unit, e.g. one just moved away, by its id)."""
    rows = [UnitRow(s.unit_id, names.get(s.unit_id, s.unit_id), s.members, s.studied) for s in summaries]
    return sorted(rows, key=lambda r: (r.name.casefold(), r.unit_id))


def home_unit(unit: ipb.Unit, mine: list[str]) -> str:
    """The account's own unit the page belongs to: the unit itself, else its nearest ancestor
    among those the account follows (a committee drilling into one of its cells), else the first."""
    for candidate in [unit.id, *reversed(unit.ancestor_ids)]:
        if candidate in mine:
            return candidate
    return mine[0]


def unit_names(unit_id: str, summaries: Iterable[dpb.UnitStudySummary], by_child: bool) -> dict[str, str]:
    """Names of the units under `unit_id` that the report lists (none asked for a lone cell): its
    children when the report is per child unit, else its whole subtree."""
    if all(s.unit_id == unit_id for s in summaries):
        return {}
    below = clients.identity().ListUnits(ipb.ListUnitsRequest(
        parent_id=unit_id, subtree=not by_child, include_inactive=True, page_size=MAX_UNITS))
    return {u.id: u.name for u in below.units}


@bp.route("/documents/<document_id>/studied")
@login_required
def study_status(document_id: str) -> Response:
    if not ID_RE.fullmatch(document_id):
        abort(404)
    mine = staff.study_units()
    if not mine:
        return error_page(403, _(NOT_FOLLOWER))
    asked = request.args.get("unit", "")
    unit_id = asked if ID_RE.fullmatch(asked) else mine[0]
    show = request.args.get("show", "")
    show = show if show in SHOWS else "not"
    stub, identity = documents(), clients.identity()
    doc = stub.GetDocument.future(dpb.GetDocumentRequest(id=document_id))
    units = {u: identity.GetUnit.future(ipb.GetUnitRequest(id=u)) for u in dict.fromkeys([unit_id, *mine[:20]])}
    try:
        reply = stub.ListStudyStatus(dpb.ListStudyStatusRequest(
            document_id=document_id, unit_id=unit_id, filter=SHOWS[show], page_size=PAGE, page_token=page_token()))
    except grpc.RpcError as exc:
        code = exc.code()  # type: ignore[attr-defined]
        if code == grpc.StatusCode.FAILED_PRECONDITION:  # study_unit_too_large
            return error_page(400, _(TOO_LARGE))
        if code != grpc.StatusCode.PERMISSION_DENIED:
            raise
        return error_page(403, _(NOT_THIS_UNIT))
    unit = units[unit_id].result().unit
    followed = [units[u].result().unit for u in mine[:20]]
    home = home_unit(unit, mine)
    below = unit_names(unit_id, reply.units, reply.by_child_unit)
    names = {**below, **{u.id: u.name for u in followed}, unit.id: unit.name}
    back = (url_for("web.committee_document", document_id=document_id, unit=home)
            if home in staff.committee_units() else url_for("web.document", document_id=document_id))
    return render(
        "study_status.html", doc=doc.result().document, unit=unit, reply=reply, show=show, followed=followed,
        rows=unit_rows(reply.units, names) if len(reply.units) > 1 else [], names=names, back=back,
        home=None if home == unit.id else names.get(home, ""), home_id=home,
    )
