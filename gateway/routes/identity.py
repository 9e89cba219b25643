"""Units, members (with CSV/XLSX import and export), roles, accounts and the audit log.

Every view is a thin translation: JSON in, one identity RPC with the caller's token, JSON out.
Authorisation and the checks of ids and values happen in the identity service; its errors
(NOT_FOUND, INVALID_ARGUMENT, PERMISSION_DENIED...) become HTTP errors in gateway.errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO, Any

from flask import Response, request

from gateway import clients
from gateway.api import Routes, relay_chunks
from gateway.convert import from_json, to_json, to_json_all
from gateway.errors import invalid_field
from gateway.schemas.auth import ResetPasswordBody
from gateway.schemas.identity import (
    AuditEventPage,
    AuditQuery,
    CreateMemberBody,
    CreateUnitBody,
    DeactivateMemberBody,
    ExportQuery,
    GetMemberQuery,
    GrantRoleBody,
    ImportForm,
    ImportReport,
    ListMembersQuery,
    ListRolesQuery,
    ListUnitsQuery,
    Member,
    MemberFieldsBody,
    MemberPage,
    MemberTransferPage,
    MergeResult,
    MergeUnitsBody,
    MoveResult,
    MoveUnitBody,
    PageQuery,
    RenameUnitBody,
    RoleGrant,
    RoleGrantPage,
    TransferMemberBody,
    Unit,
    UnitList,
    UnitPage,
    UpdateMemberBody,
)
from gateway.settings import Settings
from sotay.identity.v1 import identity_pb2 as pb

routes = Routes(
    "units",
    "The tree of Party organisations (units)",
    other_tags={
        "members": "Party members: profiles, transfers, CSV/XLSX import and export",
        "roles": "Roles granted on units (each applies to the unit's whole subtree)",
        "accounts": "Accounts (password resets by an admin)",
        "audit": "The audit log of security and change events",
    },
)

CHUNK_BYTES = 1024 * 1024
MULTIPART_SLACK = 64 * 1024  # room for the multipart framing around a maximal file
FILE_FORMATS = {"csv": pb.FILE_FORMAT_CSV, "xlsx": pb.FILE_FORMAT_XLSX}
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def page(items: list[dict[str, Any]], reply: Any, counted: bool = True) -> dict[str, Any]:
    """The JSON of one page of a list RPC's reply."""
    return {
        "items": items,
        "next_page_token": reply.next_page_token,
        "total_size": reply.total_size if counted else None,
    }


def member_fields(body: MemberFieldsBody, exclude: set[str] | None = None) -> pb.MemberFields:
    given = body.model_dump(exclude_none=True, exclude=exclude)
    if "exempt" in given:
        given["set_exempt"] = True
    return from_json(pb.MemberFields, given)


# ---------- units ----------


@routes.route("/units", "POST", body=CreateUnitBody, response=Unit, status=201, summary="Create a unit")
def create_unit(body: CreateUnitBody) -> dict[str, Any]:
    req = from_json(pb.CreateUnitRequest, body.model_dump())
    return to_json(clients.identity().CreateUnit(req).unit)


@routes.route("/units/<unit_id>", "GET", response=Unit, summary="Read a unit")
def get_unit(unit_id: str) -> dict[str, Any]:
    return to_json(clients.identity().GetUnit(pb.GetUnitRequest(id=unit_id)).unit)


@routes.route("/units/<unit_id>", "PATCH", body=RenameUnitBody, response=Unit, summary="Rename a unit")
def rename_unit(unit_id: str, body: RenameUnitBody) -> dict[str, Any]:
    req = pb.RenameUnitRequest(id=unit_id, name=body.name)
    return to_json(clients.identity().RenameUnit(req).unit)


@routes.route("/units/<unit_id>/deactivate", "POST", response=Unit, summary="Deactivate a unit")
def deactivate_unit(unit_id: str) -> dict[str, Any]:
    reply = clients.identity().DeactivateUnit(pb.DeactivateUnitRequest(id=unit_id))
    return to_json(reply.unit)


@routes.route(
    "/units/<unit_id>/move", "POST", body=MoveUnitBody, response=MoveResult,
    summary="Move a unit and its whole subtree under another parent",
)
def move_unit(unit_id: str, body: MoveUnitBody) -> dict[str, Any]:
    reply = clients.identity().MoveUnit(
        pb.MoveUnitRequest(id=unit_id, new_parent_id=body.new_parent_id)
    )
    return to_json(reply)


@routes.route(
    "/units/<unit_id>/merge", "POST", body=MergeUnitsBody, response=MergeResult,
    summary="Merge a commune into another: its units, members and roles move there, it is deactivated",
)
def merge_units(unit_id: str, body: MergeUnitsBody) -> dict[str, Any]:
    reply = clients.identity().MergeUnits(
        pb.MergeUnitsRequest(source_id=unit_id, target_id=body.target_id)
    )
    return to_json(reply)


@routes.route(
    "/units", "GET", query=ListUnitsQuery, response=UnitPage,
    summary="List the children (or the whole subtree) of a unit, or the roots",
)
def list_units(query: ListUnitsQuery) -> dict[str, Any]:
    req = from_json(pb.ListUnitsRequest, query.model_dump())
    reply = clients.identity().ListUnits(req)
    return page(to_json_all(reply.units), reply)


@routes.route(
    "/units/<unit_id>/ancestors", "GET", response=UnitList, summary="A unit's ancestors, root first"
)
def list_ancestors(unit_id: str) -> dict[str, Any]:
    reply = clients.identity().ListAncestors(pb.ListAncestorsRequest(id=unit_id))
    return {"items": to_json_all(reply.units)}


# ---------- members ----------


@routes.route(
    "/units/<unit_id>/members", "POST", body=CreateMemberBody, response=Member, status=201, tag="members",
    summary="Add a member (and their account) to a unit",
)
def create_member(unit_id: str, body: CreateMemberBody) -> dict[str, Any]:
    req = pb.CreateMemberRequest(
        unit_id=unit_id,
        fields=member_fields(body, exclude={"initial_password"}),
        initial_password=body.initial_password or "",
    )
    return to_json(clients.identity().CreateMember(req).member)


@routes.route(
    "/units/<unit_id>/members", "GET", query=ListMembersQuery, response=MemberPage, tag="members",
    summary="List the members of a unit (or of its subtree)",
)
def list_members(unit_id: str, query: ListMembersQuery) -> dict[str, Any]:
    fields = query.model_dump()
    fields["query"] = fields.pop("q")
    req = from_json(pb.ListMembersRequest, {"unit_id": unit_id, **fields})
    reply = clients.identity().ListMembers(req)
    return page(to_json_all(reply.members), reply)


@routes.route(
    "/members/<member_id>", "GET", query=GetMemberQuery, response=Member, tag="members",
    summary="Read a member's profile (reads by anyone but the member are audited)",
)
def get_member(member_id: str, query: GetMemberQuery) -> dict[str, Any]:
    reply = clients.identity().GetMember(
        pb.GetMemberRequest(id=member_id, purpose=query.purpose)
    )
    return to_json(reply.member)


@routes.route(
    "/members/<member_id>", "PATCH", body=UpdateMemberBody, response=Member, tag="members",
    summary="Change a member's profile (absent or empty fields are left as they are; `clear` empties some)",
)
def update_member(member_id: str, body: UpdateMemberBody) -> dict[str, Any]:
    req = pb.UpdateMemberRequest(id=member_id, fields=member_fields(body, exclude={"clear"}), clear_fields=body.clear)
    return to_json(clients.identity().UpdateMember(req).member)


@routes.route(
    "/members/<member_id>/transfer", "POST", body=TransferMemberBody, response=Member, tag="members",
    summary="Transfer a member to another unit",
)
def transfer_member(member_id: str, body: TransferMemberBody) -> dict[str, Any]:
    req = pb.TransferMemberRequest(id=member_id, to_unit_id=body.to_unit_id, reason=body.reason)
    return to_json(clients.identity().TransferMember(req).member)


@routes.route(
    "/members/<member_id>/deactivate", "POST", body=DeactivateMemberBody, response=Member, tag="members",
    summary="Deactivate a member",
)
def deactivate_member(member_id: str, body: DeactivateMemberBody) -> dict[str, Any]:
    req = pb.DeactivateMemberRequest(id=member_id, reason=body.reason)
    return to_json(clients.identity().DeactivateMember(req).member)


@routes.route(
    "/members/<member_id>/transfers", "GET", query=PageQuery, response=MemberTransferPage, tag="members",
    summary="A member's transfers between units",
)
def list_member_transfers(member_id: str, query: PageQuery) -> dict[str, Any]:
    req = pb.ListMemberTransfersRequest(
        member_id=member_id, page_size=query.page_size, page_token=query.page_token
    )
    reply = clients.identity().ListMemberTransfers(req)
    return page(to_json_all(reply.transfers), reply, counted=False)


# ---------- import and export ----------


def file_format(filename: str) -> str:
    """'csv' or 'xlsx', from the uploaded file's name."""
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix not in FILE_FORMATS:
        raise invalid_field("file", "file: the file name must end in .csv or .xlsx", "unsupported_file_type")
    return suffix


def import_messages(
    unit_id: str, fmt: str, dry_run: bool, stream: IO[bytes]
) -> Iterator[pb.ImportMembersRequest]:
    """The client stream of ImportMembers: options on the first message, then 1 MiB chunks, the
    last one marked `last`."""
    chunk, ahead = stream.read(CHUNK_BYTES), stream.read(CHUNK_BYTES)
    yield pb.ImportMembersRequest(format=FILE_FORMATS[fmt], unit_id=unit_id, dry_run=dry_run, chunk=chunk,
                                  last=not ahead)
    while ahead:
        chunk, ahead = ahead, stream.read(CHUNK_BYTES)
        yield pb.ImportMembersRequest(chunk=chunk, last=not ahead)


def _import_limit(settings: Settings) -> int:
    return settings.max_import_bytes + MULTIPART_SLACK


@routes.route(
    "/units/<unit_id>/members/import", "POST", form=ImportForm, files=["file"], response=ImportReport,
    max_body=_import_limit, tag="members",
    summary="Import members from a CSV or XLSX file (multipart field `file`; the format is the file name's)",
)
def import_members(unit_id: str, form: ImportForm) -> dict[str, Any]:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise invalid_field("file", "file: attach the CSV or XLSX file", "missing")
    fmt = file_format(upload.filename)
    messages = import_messages(unit_id, fmt, form.dry_run, upload.stream)
    reply = clients.identity(long=True).ImportMembers(messages)
    return to_json(reply)


def _download_name(unit_id: str, fmt: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "", unit_id)[:64] or "unit"
    return f"members-{safe}.{fmt}"


@routes.route(
    "/units/<unit_id>/members/export", "GET", query=ExportQuery, produces=list(MEDIA_TYPES.values()),
    tag="members", summary="Download the members of a unit's subtree, in the import format",
)
def export_members(unit_id: str, query: ExportQuery) -> Response:
    call = clients.identity(long=True).ExportMembers(
        pb.ExportMembersRequest(unit_id=unit_id, format=FILE_FORMATS[query.format])
    )
    _, body = relay_chunks(call, "member export")
    response = Response(body)
    response.headers["Content-Type"] = MEDIA_TYPES[query.format]
    filename = _download_name(unit_id, query.format)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# ---------- roles and accounts ----------


@routes.route("/roles", "POST", body=GrantRoleBody, response=RoleGrant, status=201, tag="roles",
              summary="Grant a role on a unit (it applies to the unit's whole subtree)")
def grant_role(body: GrantRoleBody) -> dict[str, Any]:
    req = from_json(pb.GrantRoleRequest, body.model_dump())
    return to_json(clients.identity().GrantRole(req).grant)


@routes.route("/roles/<grant_id>", "DELETE", status=204, tag="roles", summary="Revoke a role grant")
def revoke_role(grant_id: str) -> None:
    clients.identity().RevokeRole(pb.RevokeRoleRequest(grant_id=grant_id))


@routes.route("/roles", "GET", query=ListRolesQuery, response=RoleGrantPage, tag="roles",
              summary="List role grants on a unit's subtree, or your own")
def list_roles(query: ListRolesQuery) -> dict[str, Any]:
    req = from_json(pb.ListRolesRequest, query.model_dump())
    reply = clients.identity().ListRoles(req)
    return page(to_json_all(reply.grants), reply, counted=False)


@routes.route("/accounts/<account_id>/password", "POST", body=ResetPasswordBody, status=204, tag="accounts",
              summary="Set a new password for another account you administer wholly (admin); your own: /auth/password")
def reset_password(account_id: str, body: ResetPasswordBody) -> None:
    req = pb.ResetPasswordRequest(account_id=account_id, new_password=body.new_password)
    clients.identity().ResetPassword(req)


# ---------- audit ----------


def audit_event_json(event: pb.AuditEvent) -> dict[str, Any]:
    out = to_json(event)
    raw = out.pop("details_json") or "{}"
    try:
        details = json.loads(raw)
    except ValueError:
        details = {"raw": raw}
    out["details"] = details if isinstance(details, dict) else {"value": details}
    return out


@routes.route("/audit", "GET", query=AuditQuery, response=AuditEventPage, tag="audit",
              summary="Security and change events about a unit's subtree (admin)")
def list_audit_events(query: AuditQuery) -> dict[str, Any]:
    req = from_json(pb.ListAuditEventsRequest, query.model_dump())
    reply = clients.identity().ListAuditEvents(req)
    return page([audit_event_json(e) for e in reply.events], reply, counted=False)
