"""The IdentityService gRPC servicer: authorise, run one transaction, convert."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias, TypeVar

import grpc
import sqlalchemy as sa

from services.core.auth import ROLE_ADMIN, ROLE_EDITOR, ROLES
from services.core.db import Database
from services.core.enums import enum_str
from services.core.errors import InvalidArgument, NotFound, PermissionDenied
from services.core.ids import new_id, require_id, require_unit_id
from services.core.interceptors import current_principal
from services.core.paging import next_token, page_size, page_window
from services.core.timestamps import timestamp
from services.identity import access, accounts, audit, members, merge, revocation, units
from services.identity.accounts import Accounts
from services.identity.activation import Activation, ActivationRpcs
from services.identity.convert import add_roster_entries, grant_msg, member_msg, profile, unit_msg
from services.identity.keys import KeyStore
from services.identity.roster_cache import RosterCache
from sotay.identity.v1 import identity_pb2 as pb
from sotay.identity.v1 import identity_pb2_grpc

Ctx: TypeAlias = grpc.ServicerContext
MAX_IMPORT_BYTES = 200 * 1024 * 1024
PUBLIC_METHODS = {
    f"/sotay.identity.v1.IdentityService/{m}"
    for m in ("Login", "RefreshToken", "Logout", "GetPublicKeys", "ListTokenRevocations", "RedeemActivationCode")
}


R = TypeVar("R", pb.ListMembersResponse, pb.ListRosterResponse)


def _members_reply(found: list[Any], next_page_token: str, total: int) -> pb.ListMembersResponse:
    reply = pb.ListMembersResponse(next_page_token=next_page_token, total_size=total)
    add_roster_entries(reply.members, found)
    return reply


def _roster_reply(found: list[Any], next_page_token: str, total: int) -> pb.ListRosterResponse:
    reply = pb.ListRosterResponse(next_page_token=next_page_token, total_size=total)
    add_roster_entries(reply.entries, found)
    return reply


class IdentityServicer(ActivationRpcs, identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, db: Database, keys: KeyStore, accts: Accounts) -> None:
        self.db = db
        self.keys = keys
        self.accounts = accts
        self.activation = Activation(db, accts)
        self.rosters = RosterCache()

    # ---------- units ----------

    def CreateUnit(self, request: pb.CreateUnitRequest, context: Ctx) -> pb.CreateUnitResponse:
        me = current_principal()
        kind = enum_str(pb.UnitKind, request.kind, "UNIT_KIND_", "kind")
        if not kind:
            raise InvalidArgument("kind_required", "kind is required", field="kind")
        if not request.parent_id:
            raise InvalidArgument("parent_required", "parent_id is required", field="parent_id")
        with self.db.write() as conn:
            access.require_admin(conn, me, request.parent_id)
            unit = units.create(conn, request.name, kind, request.parent_id, request.code.strip())
            audit.record(conn, "unit.created", me.account_id, "unit", unit.id, unit.path)
        return pb.CreateUnitResponse(unit=unit_msg(unit))

    def GetUnit(self, request: pb.GetUnitRequest, context: Ctx) -> pb.GetUnitResponse:
        current_principal()
        with self.db.read() as conn:
            return pb.GetUnitResponse(unit=unit_msg(units.get(conn, request.id)))

    def RenameUnit(self, request: pb.RenameUnitRequest, context: Ctx) -> pb.RenameUnitResponse:
        me = current_principal()
        with self.db.write() as conn:
            access.require_admin(conn, me, request.id)
            unit = units.rename(conn, request.id, request.name)
            audit.record(conn, "unit.renamed", me.account_id, "unit", unit.id, unit.path, name=unit.name)
        return pb.RenameUnitResponse(unit=unit_msg(unit))

    def DeactivateUnit(self, request: pb.DeactivateUnitRequest, context: Ctx) -> pb.DeactivateUnitResponse:
        me = current_principal()
        with self.db.write() as conn:
            access.require_admin(conn, me, request.id)
            unit = units.deactivate(conn, request.id)
            audit.record(conn, "unit.deactivated", me.account_id, "unit", unit.id, unit.path)
        return pb.DeactivateUnitResponse(unit=unit_msg(unit))

    def MoveUnit(self, request: pb.MoveUnitRequest, context: Ctx) -> pb.MoveUnitResponse:
        me = current_principal()
        with self.db.write() as conn:
            access.require_admin(conn, me, request.id)
            access.require_admin(conn, me, request.new_parent_id)
            unit, moved = units.move(conn, request.id, request.new_parent_id, me.account_id)
            audit.record(conn, "unit.moved", me.account_id, "unit", unit.id, unit.path, to=request.new_parent_id)
        return pb.MoveUnitResponse(unit=unit_msg(unit), moved_units=moved)

    def MergeUnits(self, request: pb.MergeUnitsRequest, context: Ctx) -> pb.MergeUnitsResponse:
        me = current_principal()
        with self.db.write() as conn:
            access.require_admin(conn, me, request.source_id)
            access.require_admin(conn, me, request.target_id)
            done = merge.merge(conn, request.source_id, request.target_id, me.account_id)
            audit.record(conn, "unit.merged", me.account_id, "unit", done.unit.id, done.unit.path,
                         source=request.source_id, units=done.moved_units, members=done.moved_members,
                         grants=done.moved_grants)
        return pb.MergeUnitsResponse(unit=unit_msg(done.unit), moved_units=done.moved_units,
                                     moved_members=done.moved_members, moved_grants=done.moved_grants)

    def ListUnits(self, request: pb.ListUnitsRequest, context: Ctx) -> pb.ListUnitsResponse:
        current_principal()
        size, offset = page_window(request)
        kind = enum_str(pb.UnitKind, request.kind, "UNIT_KIND_", "kind")
        if request.subtree and not request.parent_id:
            raise InvalidArgument("parent_required", "a subtree needs parent_id", field="parent_id")
        with self.db.read() as conn:
            found, total = units.list_units(
                conn, request.parent_id, request.subtree, request.include_inactive, kind, offset, size
            )
        return pb.ListUnitsResponse(
            units=[unit_msg(u) for u in found],
            next_page_token=next_token(offset, size, len(found), total),
            total_size=total,
        )

    def ListAncestors(self, request: pb.ListAncestorsRequest, context: Ctx) -> pb.ListAncestorsResponse:
        current_principal()
        with self.db.read() as conn:
            return pb.ListAncestorsResponse(units=[unit_msg(u) for u in units.ancestors(conn, request.id)])

    # ---------- members ----------

    def CreateMember(self, request: pb.CreateMemberRequest, context: Ctx) -> pb.CreateMemberResponse:
        me = current_principal()
        fields = profile(request.fields)
        pw_hash = accounts.hash_password(request.initial_password) if request.initial_password else None
        with self.db.write() as conn:
            access.require_member_manager(conn, me, request.unit_id)
            if not access.is_admin(conn, me, request.unit_id):
                if fields.position and fields.position != "member":
                    raise access.position_needs_admin()
                if request.initial_password:
                    raise PermissionDenied(
                        "password_needs_admin", "only an admin over the unit sets another member's password",
                        field="initial_password",
                    )
            member = members.create(conn, request.unit_id, fields, pw_hash)
            audit.record(conn, "member.created", me.account_id, "member", member.id, _member_path(conn, member))
        return pb.CreateMemberResponse(member=member_msg(member))

    def GetMember(self, request: pb.GetMemberRequest, context: Ctx) -> pb.GetMemberResponse:
        me = current_principal()
        if request.id and request.id == me.member_id:
            with self.db.read() as conn:
                return pb.GetMemberResponse(member=member_msg(members.get(conn, request.id)))
        with self.db.write() as conn:
            member = members.get(conn, request.id)
            access.require_member_manager(conn, me, member.unit_id)
            audit.record(
                conn, "member.profile.read", me.account_id, "member", member.id, _member_path(conn, member),
                purpose=request.purpose[:200],
            )
        return pb.GetMemberResponse(member=member_msg(member))

    def UpdateMember(self, request: pb.UpdateMemberRequest, context: Ctx) -> pb.UpdateMemberResponse:
        me = current_principal()
        fields = profile(request.fields)
        with self.db.write() as conn:
            member = members.get(conn, request.id)
            access.require_profile_editor(conn, me, member, fields.position)
            member = members.update(conn, member.id, fields, list(request.clear_fields))
            audit.record(conn, "member.updated", me.account_id, "member", member.id, _member_path(conn, member))
        return pb.UpdateMemberResponse(member=member_msg(member))

    def TransferMember(self, request: pb.TransferMemberRequest, context: Ctx) -> pb.TransferMemberResponse:
        me = current_principal()
        with self.db.write() as conn:
            member = members.get(conn, request.id)
            access.require_over(conn, me, member.account_id, member.unit_id)
            access.require_admin(conn, me, request.to_unit_id)
            member = members.transfer(conn, member.id, request.to_unit_id, request.reason, me.account_id)
            audit.record(conn, "member.transferred", me.account_id, "member", member.id,
                         _member_path(conn, member), to=request.to_unit_id)
        return pb.TransferMemberResponse(member=member_msg(member))

    def DeactivateMember(self, request: pb.DeactivateMemberRequest, context: Ctx) -> pb.DeactivateMemberResponse:
        me = current_principal()
        with self.db.write() as conn:
            member = members.get(conn, request.id)
            access.require_over(conn, me, member.account_id, member.unit_id)
            member = members.deactivate(conn, member.id, request.reason)
            audit.record(conn, "member.deactivated", me.account_id, "member", member.id,
                         _member_path(conn, member), reason=request.reason[:200])
        return pb.DeactivateMemberResponse(member=member_msg(member))

    def ListMembers(self, request: pb.ListMembersRequest, context: Ctx) -> pb.ListMembersResponse:
        me = current_principal()
        size, offset = page_window(request)
        status = enum_str(pb.MemberStatus, request.status, "MEMBER_STATUS_", "status")
        require_unit_id(request.unit_id)
        with self.db.read() as conn:
            unit = access.require_member_manager(conn, me, request.unit_id)
            return self._roster_page(conn, unit, _members_reply, request.subtree, request.include_inactive,
                                     status, request.query[:100], offset, size)

    def ListRoster(self, request: pb.ListRosterRequest, context: Ctx) -> pb.ListRosterResponse:
        me = current_principal()
        size, offset = page_window(request, maximum=5000)
        require_unit_id(request.unit_id)
        with self.db.read() as conn:
            unit = access.require(conn, me, request.unit_id, ROLE_ADMIN, ROLE_EDITOR, *access.OFFICERS)
            return self._roster_page(conn, unit, _roster_reply, request.subtree, False, "", "", offset, size)

    def _roster_page(self, conn: sa.Connection, unit: Any, reply: Callable[[list[Any], str, int], R],
                     subtree: bool, include_inactive: bool, status: str, query: str, offset: int, size: int) -> R:
        """A page of the unit's members as `reply` makes it; pages of a unit's own members (no name
        search) come from the roster cache while the unit's roster_version stays the same."""

        def page() -> tuple[R, int]:
            found, total = members.list_members(conn, unit, subtree, include_inactive, status, query, offset, size)
            return reply(found, next_token(offset, size, len(found), total), total), len(found)

        if subtree or query.strip():
            return page()[0]
        key = (reply, unit.id, include_inactive, status, offset, size)
        return self.rosters.page(key, unit.roster_version, page)

    def CountMembers(self, request: pb.CountMembersRequest, context: Ctx) -> pb.CountMembersResponse:
        """Active members per child subtree in one grouped query over the unit's subtree: a
        descendant's path is '<unit path><child id>/...', so its child is the id that follows."""
        me = current_principal()
        require_unit_id(request.unit_id)
        with self.db.read() as conn:
            unit = access.require(conn, me, request.unit_id, ROLE_ADMIN, ROLE_EDITOR, *access.OFFICERS)
            bounds = units.subtree_range(unit.path)
            # Per unit first (units come in path order from the path index), then per child: a
            # grouping of the ~10k units of a province rather than of its 240k members.
            counted = conn.execute(
                sa.text(
                    "SELECT SUBSTR(t.path, :start, :id_len) AS child, SUM(t.n) AS n FROM ("
                    "SELECT u.path, COUNT(*) AS n FROM units u JOIN members m ON m.unit_id = u.id "
                    "WHERE u.path >= :lo AND u.path < :hi AND m.active GROUP BY u.path) t "
                    "GROUP BY SUBSTR(t.path, :start, :id_len)"
                ),
                {**bounds, "start": len(unit.path) + 1, "id_len": len(new_id())},
            ).all()
            children = conn.execute(
                sa.text("SELECT id FROM units WHERE parent_id = :u ORDER BY id"), {"u": unit.id}
            ).scalars().all()
        per_child = {str(r.child): int(r.n) for r in counted}
        own = per_child.pop("", 0)  # the unit's own members: nothing follows its path
        return pb.CountMembersResponse(
            own_members=own,
            children=[pb.ChildMemberCount(child_unit_id=c, members=per_child.get(c, 0)) for c in children],
            total_members=own + sum(per_child.values()),
        )

    def ListMemberTransfers(
        self, request: pb.ListMemberTransfersRequest, context: Ctx
    ) -> pb.ListMemberTransfersResponse:
        me = current_principal()
        size, offset = page_window(request)
        with self.db.read() as conn:
            if request.unit_id and not request.member_id:
                unit = access.require_member_manager(conn, me, request.unit_id)
                found = members.unit_transfers(conn, unit.id, offset, size)
            else:
                member = members.get(conn, request.member_id)
                if member.id != me.member_id:
                    access.require_member_manager(conn, me, member.unit_id)
                found = members.transfers(conn, member.id, offset, size)
        return pb.ListMemberTransfersResponse(
            transfers=[
                pb.MemberTransfer(member_id=t.member_id, from_unit_id=t.from_unit_id, to_unit_id=t.to_unit_id,
                                  reason=t.reason or "", at=timestamp(t.at), member_name=t.member_name,
                                  from_unit_name=t.from_unit_name or "", to_unit_name=t.to_unit_name or "")
                for t in found
            ],
            next_page_token=next_token(offset, size, len(found), offset + len(found) + (len(found) == size)),
        )

    def ImportMembers(
        self, request_iterator: Iterator[pb.ImportMembersRequest], context: Ctx
    ) -> pb.ImportMembersResponse:
        me = current_principal()
        first: pb.ImportMembersRequest | None = None
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            size, whole = 0, False
            for message in request_iterator:
                if first is None:
                    first = message
                if whole:
                    raise InvalidArgument("after_end", "nothing may follow the message marked last")
                size += len(message.chunk)
                if size > MAX_IMPORT_BYTES:
                    raise InvalidArgument("file_too_large", f"an import file has at most {MAX_IMPORT_BYTES} bytes")
                spool.write(message.chunk)
                whole = message.last
            if first is None:
                raise InvalidArgument("empty_request", "no file was sent")
            if not whole:  # gRPC ends the stream of a client that went away as it ends a whole one
                raise InvalidArgument("upload_incomplete", "the file stopped before its message marked last")
            fmt = enum_str(pb.FileFormat, first.format, "FILE_FORMAT_", "format")
            if not fmt:
                raise InvalidArgument("format_required", "format is required (csv or xlsx)", field="format")
            with self.db.read() as conn:  # admins of the subtree; a cell's officers without positions
                access.require_member_manager(conn, me, first.unit_id)
                admin = access.is_admin(conn, me, first.unit_id)
            spool.seek(0)
            from services.identity import importer  # openpyxl loads only when importing

            report = importer.import_members(
                self.db, first.unit_id, spool, fmt, dry_run=first.dry_run, actor=me.account_id,  # type: ignore[arg-type]
                caller_account=me.account_id, positions=admin,
            )
        with self.db.write() as conn:
            unit = units.get(conn, first.unit_id)
            audit.record(conn, "member.imported", me.account_id, "unit", unit.id, unit.path,
                         rows=report.rows, created=report.created, updated=report.updated,
                         rejected=report.rejected, dry_run=first.dry_run)
        return pb.ImportMembersResponse(
            rows=report.rows, created=report.created, updated=report.updated, unchanged=report.unchanged,
            rejected=report.rejected,
            errors=[pb.ImportRowError(row=e.row, column=e.column, reason=e.reason, message=e.message)
                    for e in report.errors[:1000]],
        )

    def ExportMembers(self, request: pb.ExportMembersRequest, context: Ctx) -> Iterator[pb.ExportMembersResponse]:
        me = current_principal()
        fmt = enum_str(pb.FileFormat, request.format, "FILE_FORMAT_", "format") or "csv"
        with self.db.write() as conn:
            unit = units.get(conn, request.unit_id)
            access.require_admin(conn, me, unit.id)
            audit.record(conn, "member.exported", me.account_id, "unit", unit.id, unit.path, format=fmt)
        from services.identity import importer

        for chunk in importer.export_members(self.db, unit.id, fmt):
            yield pb.ExportMembersResponse(chunk=chunk)

    # ---------- accounts and tokens ----------

    def Login(self, request: pb.LoginRequest, context: Ctx) -> pb.LoginResponse:
        t = self.accounts.login(request.username, request.password, request.client_ip[:64])
        return pb.LoginResponse(access_token=t.access_token, refresh_token=t.refresh_token, expires_in=t.expires_in)

    def RefreshToken(self, request: pb.RefreshTokenRequest, context: Ctx) -> pb.RefreshTokenResponse:
        t = self.accounts.refresh(request.refresh_token)
        return pb.RefreshTokenResponse(
            access_token=t.access_token, refresh_token=t.refresh_token, expires_in=t.expires_in
        )

    def Logout(self, request: pb.LogoutRequest, context: Ctx) -> pb.LogoutResponse:
        self.accounts.logout(request.refresh_token)
        return pb.LogoutResponse()

    def ChangePassword(self, request: pb.ChangePasswordRequest, context: Ctx) -> pb.ChangePasswordResponse:
        me = current_principal()
        self.accounts.change_password(me.account_id, request.current_password, request.new_password)
        return pb.ChangePasswordResponse()

    def ResetPassword(self, request: pb.ResetPasswordRequest, context: Ctx) -> pb.ResetPasswordResponse:
        me = current_principal()
        with self.db.write() as conn:
            account = accounts.get_account(conn, request.account_id)
            if account.id == me.account_id:
                raise PermissionDenied(
                    "own_password_needs_current",
                    "to change your own password use ChangePassword (POST /api/v1/auth/password) "
                    "with your current password",
                )
            access.require_over(conn, me, account.id)
            self.accounts.reset_password(conn, account.id, request.new_password, me.account_id)
        return pb.ResetPasswordResponse()

    def GetMe(self, request: pb.GetMeRequest, context: Ctx) -> pb.GetMeResponse:
        me = current_principal()
        with self.db.read() as conn:
            account, grants = accounts.get_with_member(conn, me.account_id)
        member = account if account.account_member_id else None
        # The member's cell, else the unit of the account's highest grant (as in its tokens).
        unit_id = member.unit_id if member is not None else (grants[0].unit_id if grants else "")
        return pb.GetMeResponse(
            account_id=me.account_id,
            username=account.account_username or "",
            member=member_msg(member) if member is not None else None,
            unit_id=unit_id,
            roles=[grant_msg(g) for g in grants],
        )

    def GetPublicKeys(self, request: pb.GetPublicKeysRequest, context: Ctx) -> pb.GetPublicKeysResponse:
        return pb.GetPublicKeysResponse(
            keys=[pb.PublicKey(kid=k, alg="EdDSA", public_key_pem=v) for k, v in self.keys.public_keys().items()],
            issuer="sotay-identity",
        )

    def ListTokenRevocations(
        self, request: pb.ListTokenRevocationsRequest, context: Ctx
    ) -> pb.ListTokenRevocationsResponse:
        # Open like the event log it summarises (callers inside the cluster network; ids only).
        size = page_size(request.page_size, default=1000, maximum=5000)
        if len(request.page_token) > 64:
            raise InvalidArgument("invalid_page_token", "page_token is not valid")
        with self.db.read() as conn:
            found, seq = revocation.recent(conn, self.accounts.policy.access_ttl, request.page_token, size)
        return pb.ListTokenRevocationsResponse(
            revocations=[
                pb.TokenRevocation(subject=r.subject, min_version=r.min_version, revoked_at=timestamp(r.revoked_at))
                for r in found
            ],
            next_page_token=found[-1].subject if len(found) == size else "",
            event_seq=seq,
        )

    # ---------- roles ----------

    def GrantRole(self, request: pb.GrantRoleRequest, context: Ctx) -> pb.GrantRoleResponse:
        me = current_principal()
        role = enum_str(pb.Role, request.role, "ROLE_", "role")
        if role not in ROLES:
            raise InvalidArgument("role_required", "role is required", field="role")
        with self.db.write() as conn:
            access.require_admin(conn, me, request.unit_id)
            account = accounts.get_account(conn, request.account_id)
            access.require_over(conn, me, account.id)
            unit = units.get(conn, request.unit_id)
            row = conn.execute(
                sa.text("SELECT * FROM role_grants WHERE account_id = :a AND role = :r AND unit_id = :u"),
                {"a": account.id, "r": role, "u": unit.id},
            ).first()
            if row is None:
                gid = new_id()
                conn.execute(
                    sa.text("INSERT INTO role_grants (id, account_id, role, unit_id, granted_by, granted_at) "
                            "VALUES (:id, :a, :r, :u, :by, :t)"),
                    {"id": gid, "a": account.id, "r": role, "u": unit.id, "by": me.account_id, "t": time.time()},
                )
                audit.record(conn, "role.granted", me.account_id, "account", account.id, unit.path, role=role)
                row = conn.execute(sa.text("SELECT * FROM role_grants WHERE id = :id"), {"id": gid}).one()
        return pb.GrantRoleResponse(grant=grant_msg(row))

    def RevokeRole(self, request: pb.RevokeRoleRequest, context: Ctx) -> pb.RevokeRoleResponse:
        me = current_principal()
        gid = require_id(request.grant_id, "grant_id", "grant")
        with self.db.write() as conn:
            row = conn.execute(sa.text("SELECT * FROM role_grants WHERE id = :id"), {"id": gid}).first()
            if row is None:
                raise NotFound("grant_not_found", "no such role grant")
            access.require_admin(conn, me, row.unit_id)
            if row.account_id == me.account_id and row.role == ROLE_ADMIN:
                raise PermissionDenied("cannot_revoke_own_admin", "ask another admin to revoke your admin role")
            access.require_over(conn, me, row.account_id)
            conn.execute(sa.text("DELETE FROM role_grants WHERE id = :id"), {"id": gid})
            revocation.revoke_account(conn, row.account_id, "role_revoked")
            audit.record(conn, "role.revoked", me.account_id, "account", row.account_id,
                         units.get(conn, row.unit_id).path, role=row.role)
        return pb.RevokeRoleResponse()

    def ListRoles(self, request: pb.ListRolesRequest, context: Ctx) -> pb.ListRolesResponse:
        me = current_principal()
        size, offset = page_window(request)
        with self.db.read() as conn:
            params: dict[str, Any] = {"lim": size, "off": offset}
            if request.account_id and request.account_id == me.account_id and not request.unit_id:
                where = "g.account_id = :a"
                params["a"] = me.account_id
            else:
                require_unit_id(request.unit_id)
                unit = units.get(conn, request.unit_id)
                access.require_admin(conn, me, unit.id)
                where = "u.path >= :lo AND u.path < :hi"
                params.update(units.subtree_range(unit.path))
                if request.account_id:
                    where += " AND g.account_id = :a"
                    params["a"] = request.account_id
            found = conn.execute(
                sa.text(f"SELECT g.*, COALESCE(m.full_name, a.username) AS holder_name, u.name AS unit_name "
                        "FROM role_grants g JOIN units u ON u.id = g.unit_id JOIN accounts a ON a.id = g.account_id "
                        f"LEFT JOIN members m ON m.id = a.member_id WHERE {where} "
                        "ORDER BY u.path, g.role, g.id LIMIT :lim OFFSET :off"),
                params,
            ).all()
        more = len(found) == size
        return pb.ListRolesResponse(
            grants=[grant_msg(g) for g in found],
            next_page_token=next_token(offset, size, len(found), offset + len(found) + int(more)),
        )

    # ---------- audit ----------

    def ListAuditEvents(self, request: pb.ListAuditEventsRequest, context: Ctx) -> pb.ListAuditEventsResponse:
        me = current_principal()
        size, offset = page_window(request)
        with self.db.read() as conn:
            unit = units.get(conn, request.unit_id)
            access.require_admin(conn, me, unit.id)
            found = audit.list_events(conn, unit.path, audit.Filters(
                action_prefix=request.action_prefix, target_id=request.target_id,
                actor_account_id=request.actor_account_id,
                since=request.since.ToMicroseconds() / 1e6 if request.HasField("since") else None,
                until=request.until.ToMicroseconds() / 1e6 if request.HasField("until") else None,
            ), offset, size)
        more = len(found) == size
        return pb.ListAuditEventsResponse(
            events=[
                pb.AuditEvent(
                    id=e.id, at=timestamp(e.at), actor_account_id=e.actor_account_id or "", action=e.action,
                    target_type=e.target_type or "", target_id=e.target_id or "",
                    unit_id=(units.path_ids(e.unit_path or "") or [""])[-1], request_id=e.request_id or "",
                    details_json=e.details or json.dumps({}), actor_name=e.actor_name or "",
                    target_name=e.target_name or "",
                )
                for e in found
            ],
            next_page_token=next_token(offset, size, len(found), offset + len(found) + int(more)),
        )


def _member_path(conn: sa.Connection, member: Any) -> str:
    return str(units.get(conn, member.unit_id).path)


