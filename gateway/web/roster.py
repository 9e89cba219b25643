"""A cell's roster for its secretary and officers (and the admins above): the members with their
status and position, each member's profile to read (audited) and correct, transfers in and out, a
CSV/XLSX import with its per-row report, and one-time activation codes for members' first sign-in,
printable as a sheet of cards.

The identity service decides who may see and change what (officers import plain members into
their own cell only; codes for accounts they may issue for); its refusals come back as text."""

from __future__ import annotations

import grpc
from flask import Response, redirect, request, url_for

from gateway import clients
from gateway import errors as api_errors
from gateway.routes.identity import FILE_FORMATS, import_messages
from gateway.web import staff
from gateway.web.auth import form_error
from gateway.web.base import bp, error_page, login_required, page_token, render
from gateway.web.i18n import N_, _
from services.core.errors import error_info
from sotay.identity.v1 import identity_pb2 as ipb

PAGE = 200
STATUSES = {ipb.MEMBER_STATUS_OFFICIAL: N_("Official"), ipb.MEMBER_STATUS_PROBATIONARY: N_("Probationary")}
POSITIONS = {
    ipb.CELL_POSITION_MEMBER: N_("Member"),
    ipb.CELL_POSITION_SECRETARY: N_("Secretary"),
    ipb.CELL_POSITION_DEPUTY_SECRETARY: N_("Deputy secretary"),
    ipb.CELL_POSITION_COMMITTEE_MEMBER: N_("Cell committee member"),
}
# The importer's row reasons (docs/member-import-format.md), in the secretary's words.
IMPORT_REASONS = {
    "party_card_number_required": N_("The party card number is missing."),
    "full_name_required": N_("The full name is missing."),
    "unit_code_required": N_("The unit code is missing."),
    "duplicate_in_file": N_("The same card number is on an earlier row."),
    "invalid_party_card_number": N_("The party card number is not valid."),
    "invalid_phone": N_("The phone number is not valid."),
    "invalid_email": N_("The e-mail address is not valid."),
    "invalid_date": N_("The date is not valid."),
    "date_out_of_range": N_("The date is not plausible."),
    "official_before_joined": N_("The official date is before the joining date."),
    "invalid_gender": N_("The gender is not one of Nam, Nữ, Khác."),
    "invalid_status": N_("The member type is not Chính thức or Dự bị."),
    "invalid_exempt": N_("The exemption column is not Có or Không."),
    "invalid_position": N_("The position is not one of the cell positions."),
    "exempt_reason_required": N_("An exempt member needs a reason."),
    "unit_not_found": N_("No unit has this code."),
    "unit_outside_subtree": N_("This unit is not yours to import into."),
    "unit_inactive": N_("This unit is no longer active."),
    "member_inactive": N_("This member has been deactivated."),
    "party_card_number_unavailable": N_("This card number belongs to a member elsewhere."),
    "phone_unavailable": N_("This phone number is already another member's login."),
    "target_outranks_caller": N_("This member holds a role; only an admin over it may change them."),
    "position_needs_admin": N_("Only an admin gives cell positions; import the row as Đảng viên or ask an admin."),
    "invalid_encoding": N_("The row is not valid text (save the file as UTF-8)."),
}
CODES_NONE = N_("Every member selected already has a password, or none was selected.")


def roster_unit() -> str:
    """The cell asked for (?unit=), else the first unit the account is an officer of."""
    asked = request.values.get("unit", "")
    if asked and len(asked) <= 100:
        return asked
    officer = staff.roster_cells()
    return officer[0] if officer else ""


def roster_page(unit_id: str, status: int = 200, report: ipb.ImportMembersResponse | None = None,
                dry_run: bool = False, error: str = "", notice: str = "") -> Response:
    stub = clients.identity()
    unit = stub.GetUnit.future(ipb.GetUnitRequest(id=unit_id))
    moves = stub.ListMemberTransfers.future(ipb.ListMemberTransfersRequest(unit_id=unit_id, page_size=50))
    found = stub.ListMembers(ipb.ListMembersRequest(unit_id=unit_id, page_size=PAGE, page_token=page_token()))
    return render(
        "roster.html", status=status, unit=unit.result().unit, reply=found, transfers=moves.result().transfers,
        statuses=STATUSES, positions=POSITIONS, report=report, dry_run=dry_run, error=error, notice=notice,
        row_reason=lambda e: _(IMPORT_REASONS[e.reason]) if e.reason in IMPORT_REASONS else e.message,
    )


@bp.route("/roster")
@login_required
def roster() -> Response:
    unit_id = roster_unit()
    if unit_id:
        return roster_page(unit_id)
    if staff.admin_units():  # an admin chooses the cell in the units tree
        return redirect(url_for("web.admin"), code=303)  # type: ignore[return-value]
    return error_page(403)


@bp.route("/roster/<unit_id>/import", methods=["POST"])
@login_required
def roster_import(unit_id: str) -> Response:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return roster_page(unit_id, status=400, error=_("Please choose a CSV or XLSX file."))
    fmt = upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
    if fmt not in FILE_FORMATS:
        return roster_page(unit_id, status=400, error=_("The file name must end in .csv or .xlsx."))
    dry_run = request.form.get("dry_run") == "1"
    try:
        report = clients.identity(long=True).ImportMembers(
            import_messages(unit_id, fmt, dry_run, upload.stream))
    except grpc.RpcError as exc:
        shown = form_error(exc)
        if shown is None:
            raise
        return roster_page(unit_id, status=shown[0], error=_("The file was refused: %(why)s", why=shown[1]))
    return roster_page(unit_id, report=report, dry_run=dry_run)


@bp.route("/roster/<unit_id>/codes", methods=["POST"])
@login_required
def roster_codes(unit_id: str) -> Response:
    """Codes for the members ticked, or for everyone of the cell still without a password."""
    chosen = [] if request.form.get("which") == "all" else request.form.getlist("member_id")[:500]
    if request.form.get("which") != "all" and not chosen:
        return roster_page(unit_id, status=400, error=_("Please tick the members who need a code."))
    stub = clients.identity()
    try:
        codes = stub.IssueActivationCodes(
            ipb.IssueActivationCodesRequest(unit_id=unit_id, member_ids=chosen)).codes
    except grpc.RpcError as exc:
        shown = form_error(exc)
        if shown is None:
            raise
        return roster_page(unit_id, status=shown[0], error=shown[1])
    if not codes:
        return roster_page(unit_id, notice=_(CODES_NONE))
    unit = stub.GetUnit(ipb.GetUnitRequest(id=unit_id)).unit
    activate = request.host_url.rstrip("/") + url_for("web.activate")
    return render("codes.html", unit=unit, codes=codes, activate=activate)


@bp.route("/roster/<unit_id>")
@login_required
def roster_of(unit_id: str) -> Response:
    return redirect(url_for("web.roster", unit=unit_id), code=303)  # type: ignore[return-value]


GENDERS = {ipb.GENDER_MALE: N_("Male"), ipb.GENDER_FEMALE: N_("Female"), ipb.GENDER_OTHER: N_("Other")}
PROFILE_PURPOSE = "Xem hồ sơ trong danh sách chi bộ"  # the audit log's "why" for these reads


def member_page(unit_id: str, member_id: str, status: int = 200, error: str = "", notice: str = "") -> Response:
    """A member's profile as the roster's officers see it; the read is recorded in the audit log."""
    stub = clients.identity()
    unit = stub.GetUnit.future(ipb.GetUnitRequest(id=unit_id))
    member = stub.GetMember(ipb.GetMemberRequest(id=member_id, purpose=PROFILE_PURPOSE)).member
    cell = unit.result().unit
    return render("roster_member.html", status=status, unit=cell, m=member, statuses=STATUSES, clearable=CLEARABLE,
                  positions=POSITIONS, genders=GENDERS, error=error, notice=notice,
                  sets_positions=staff.administers(cell.id, cell.ancestor_ids))


# The optional fields the form empties: those shown with a value (`had`) and sent back empty.
CLEARABLE = ("birth_date", "ethnicity", "phone", "email")


def cleared_fields() -> list[str]:
    shown = dict.fromkeys(request.form.getlist("had"))
    return [n for n in shown if n in CLEARABLE and not request.form.get(n, "").strip()]


def profile_fields() -> ipb.MemberFields:
    """The form's fields; an empty one keeps its value (the service treats zero values as not given)."""
    f = request.form

    def given(name: str, limit: int) -> str:
        return f.get(name, "").strip()[:limit]

    fields = ipb.MemberFields(
        full_name=given("full_name", 200), ethnicity=given("ethnicity", 60), phone=given("phone", 20),
        email=given("email", 254), party_card_number=given("party_card_number", 32),
        birth_date=given("birth_date", 10), joined_on=given("joined_on", 10), official_on=given("official_on", 10),
    )
    fields.gender = next((g for g in GENDERS if f.get("gender") == str(g)), ipb.GENDER_UNSPECIFIED)
    fields.status = next((s for s in STATUSES if f.get("status") == str(s)), ipb.MEMBER_STATUS_UNSPECIFIED)
    fields.position = next((p for p in POSITIONS if f.get("position") == str(p)), ipb.CELL_POSITION_UNSPECIFIED)
    fields.set_exempt = True
    fields.exempt = f.get("exempt") == "1"
    fields.exempt_reason = f.get("exempt_reason", "").strip()[:500] if fields.exempt else ""
    return fields


@bp.route("/roster/<unit_id>/members/<member_id>", methods=["GET", "POST"])
@login_required
def roster_member(unit_id: str, member_id: str) -> Response:
    if request.method == "GET":
        return member_page(unit_id, member_id, notice=_(SAVED) if request.args.get("done") else "")
    try:
        clients.identity().UpdateMember(ipb.UpdateMemberRequest(id=member_id, fields=profile_fields(),
                                                                clear_fields=cleared_fields()))
    except grpc.RpcError as exc:
        reason = error_info(exc)[0]
        shown = form_error(exc)
        if reason in IMPORT_REASONS:  # the same checks as an imported row, in the same words
            shown = (api_errors.http_status(exc.code()), _(IMPORT_REASONS[reason]))  # type: ignore[attr-defined]
        if shown is None:
            raise
        return member_page(unit_id, member_id, status=shown[0], error=shown[1])
    return redirect(url_for("web.roster_member", unit_id=unit_id, member_id=member_id, done="saved"),
                    code=303)  # type: ignore[return-value]


SAVED = N_("The profile has been saved.")
