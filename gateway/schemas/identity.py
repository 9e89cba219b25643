"""Units, members, roles, accounts and the audit log (the identity service)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field

from gateway.schemas.common import Body, Form, ItemList, Page, PageQuery, ProtoEnum, Query, Reply
from sotay.identity.v1 import identity_pb2 as pb

UnitKind = Annotated[str, ProtoEnum(pb.UnitKind)]
MemberStatus = Annotated[str, ProtoEnum(pb.MemberStatus)]
Gender = Annotated[str, ProtoEnum(pb.Gender)]
CellPosition = Annotated[str, ProtoEnum(pb.CellPosition)]
RoleName = Annotated[str, ProtoEnum(pb.Role)]
Id = Annotated[str, Field(min_length=1, max_length=100)]
DateText = Annotated[str, Field(description="YYYY-MM-DD, or empty when unknown")]

# ---------- responses ----------


class Unit(Reply):
    id: str
    name: str
    kind: UnitKind | None
    parent_id: str = Field(description="empty for the root")
    ancestor_ids: list[str] = Field(description="root first, the parent last")
    depth: int
    active: bool
    code: str
    created_at: dt.datetime | None


class UnitPage(Page[Unit]):
    pass


class UnitList(ItemList[Unit]):
    pass


class MoveResult(Reply):
    unit: Unit
    moved_units: int = Field(description="the moved unit and its descendants")


class MergeResult(Reply):
    unit: Unit = Field(description="the target commune after the merge")
    moved_units: int = Field(description="the source's child units and their descendants, now under the target")
    moved_members: int = Field(description="the source's own members, now the target's")
    moved_grants: int = Field(description="role grants on the source, now on the target")


class Member(Reply):
    id: str
    unit_id: str
    full_name: str
    gender: Gender | None
    birth_date: DateText
    ethnicity: str
    phone: str
    email: str
    party_card_number: str
    joined_on: DateText
    official_on: DateText
    status: MemberStatus | None
    exempt: bool
    exempt_reason: str
    exempt_since: DateText
    position: CellPosition | None
    active: bool
    account_id: str
    updated_at: dt.datetime | None


class MemberListed(Reply):
    """A member in a list: no personal data beyond the name (GET /members/<id> reads a profile)."""

    member_id: str
    account_id: str
    full_name: str
    unit_id: str
    status: MemberStatus | None
    exempt: bool
    position: CellPosition | None
    active: bool


class MemberPage(Page[MemberListed]):
    pass


class MemberTransfer(Reply):
    member_id: str
    from_unit_id: str
    to_unit_id: str
    reason: str
    at: dt.datetime | None
    member_name: str = ""
    from_unit_name: str = ""
    to_unit_name: str = ""


class MemberTransferPage(Page[MemberTransfer]):
    pass


class ImportRowError(Reply):
    row: int = Field(description="1-based row number, the header being row 1")
    column: str
    reason: str
    message: str


class ImportReport(Reply):
    rows: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    errors: list[ImportRowError] = Field(description="the first 1000 problems")


class RoleGrant(Reply):
    id: str
    account_id: str
    role: RoleName | None
    unit_id: str = Field(description="the role applies to this unit's whole subtree")
    granted_at: dt.datetime | None
    holder_name: str = Field("", description="in lists: the holder's member name, else login name")
    unit_name: str = Field("", description="in lists: the unit's name")


class RoleGrantPage(Page[RoleGrant]):
    pass


class Me(Reply):
    id: str = Field(description="the account id")
    account_id: str
    username: str
    unit_id: str = Field(description="the member's cell, or the unit of the account's highest role")
    roles: list[RoleGrant]
    member: Member | None


class AuditEvent(Reply):
    id: str
    at: dt.datetime | None
    actor_account_id: str
    action: str = Field(description='e.g. "member.profile.read", "auth.login.failed"')
    target_type: str
    target_id: str
    unit_id: str
    request_id: str
    details: dict[str, Any]
    actor_name: str = Field("", description="the actor's member name, else login name")
    target_name: str = Field("", description="the target member's (or account's) name")


class AuditEventPage(Page[AuditEvent]):
    pass


# ---------- request bodies ----------


class CreateUnitBody(Body):
    name: str = Field(min_length=1)
    kind: UnitKind
    parent_id: Id
    code: str = ""


class RenameUnitBody(Body):
    name: str = Field(min_length=1)


class MoveUnitBody(Body):
    new_parent_id: Id


class MergeUnitsBody(Body):
    target_id: Id = Field(description="the commune that receives the source (the unit in the path)")


class MemberFieldsBody(Body):
    """Profile fields; on PATCH an absent (or empty) field is left as it is."""

    full_name: str | None = None
    gender: Gender | None = None
    birth_date: dt.date | None = None
    ethnicity: str | None = None
    phone: str | None = None
    email: str | None = None
    party_card_number: str | None = None
    joined_on: dt.date | None = None
    official_on: dt.date | None = None
    status: MemberStatus | None = None
    exempt: bool | None = None
    exempt_reason: str | None = None
    exempt_since: dt.date | None = None
    position: CellPosition | None = None


class UpdateMemberBody(MemberFieldsBody):
    clear: list[Literal["phone", "email", "ethnicity", "birth_date"]] = Field(
        [], max_length=4, description="optional fields to empty (not also given above)")


class CreateMemberBody(MemberFieldsBody):
    full_name: str = Field(min_length=1)  # type: ignore[assignment]
    initial_password: str | None = Field(None, description="password of the member's new account")


class TransferMemberBody(Body):
    to_unit_id: Id
    reason: str = ""


class DeactivateMemberBody(Body):
    reason: str = ""


class GrantRoleBody(Body):
    account_id: Id
    role: RoleName
    unit_id: Id


# ---------- query strings and forms ----------


class ListUnitsQuery(PageQuery):
    parent_id: str = Field("", description="empty: the roots")
    subtree: bool = Field(False, description="every descendant instead of the direct children")
    kind: UnitKind | None = None
    include_inactive: bool = False


class ListMembersQuery(PageQuery):
    subtree: bool = False
    status: MemberStatus | None = None
    q: str = Field("", max_length=100, description="name filter, diacritics-insensitive")
    include_inactive: bool = False


class GetMemberQuery(Query):
    purpose: str = Field("", max_length=200, description="why the profile is read (audited)")


class ListRolesQuery(PageQuery):
    unit_id: str = Field("", description="grants on this unit's subtree")
    account_id: str = Field("", description="grants to this account (alone: your own)")


class AuditQuery(PageQuery):
    unit_id: Id = Field(description="events about this unit's subtree")
    action_prefix: str = Field("", max_length=200)
    target_id: str = Field("", max_length=100)
    actor_account_id: str = Field("", max_length=100, description="only events by this account")
    since: dt.datetime | None = Field(None, description="only events at or after this time")
    until: dt.datetime | None = Field(None, description="only events before this time")


class ExportQuery(Query):
    format: Literal["csv", "xlsx"] = "csv"


class ImportForm(Form):
    dry_run: bool = Field(False, description="check the file and report, change nothing")
