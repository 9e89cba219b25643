"""Who may do what with a cell's meetings (enforced here, whatever the gateway does).

- RUNNER: the cell secretary or deputy secretary (role cell_secretary / cell_deputy on the cell or
  a unit above it): every mutation of the meeting record.
- PARTICIPANT: a member of the cell (their account's unit is the cell) or a member of the
  meeting's roster snapshot: read, check in, opinions, vote, assess, open documents.
- READER: an admin or editor of a unit above (or at) the cell - a committee: read records and
  statistics; never vote, never edit.
Anyone else: PERMISSION_DENIED. A caller can be both runner and participant (a secretary votes).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.auth import ROLE_ADMIN, ROLE_CELL_DEPUTY, ROLE_CELL_SECRETARY, ROLE_EDITOR, Principal
from services.core.errors import FailedPrecondition, PermissionDenied
from services.core.identity_client import IdentityClient
from sotay.documents.v1 import documents_pb2 as dpb

RUNNER_ROLES = (ROLE_CELL_SECRETARY, ROLE_CELL_DEPUTY)
READER_ROLES = (ROLE_ADMIN, ROLE_EDITOR)


@dataclass(frozen=True)
class Rights:
    runner: bool
    participant: bool
    reader: bool

    @property
    def any(self) -> bool:
        return self.runner or self.participant or self.reader


class Access:
    def __init__(self, identity: IdentityClient) -> None:
        self.identity = identity

    def _chain(self, cell_id: str) -> tuple[str, ...]:
        return self.identity.chain(cell_id)

    def _role_over(self, me: Principal, cell_id: str, roles: tuple[str, ...]) -> bool:
        units = me.grant_units(roles)
        if not units:
            return False
        if cell_id in units:
            return True
        return bool(units & set(self._chain(cell_id)))

    def rights(self, conn: Connection | None, me: Principal, cell_id: str, meeting_id: str = "") -> Rights:
        participant = bool(me.member_id) and me.unit_id == cell_id
        if not participant and me.member_id and meeting_id and conn is not None:
            participant = in_roster(conn, meeting_id, me.member_id)
        return Rights(
            runner=self._role_over(me, cell_id, RUNNER_ROLES),
            participant=participant,
            reader=self._role_over(me, cell_id, READER_ROLES),
        )

    def require_read(self, conn: Connection | None, me: Principal, cell_id: str, meeting_id: str = "") -> Rights:
        rights = self.rights(conn, me, cell_id, meeting_id)
        if not rights.any:
            raise PermissionDenied("not_allowed", "only the cell's members and the committees above see its meetings")
        return rights

    def require_runner(self, me: Principal, cell_id: str) -> None:
        if not self._role_over(me, cell_id, RUNNER_ROLES):
            raise PermissionDenied("not_cell_officer", "only the cell secretary or deputy secretary may do this")

    def require_participant(self, conn: Connection, me: Principal, meeting_id: str) -> None:
        """The caller is in the meeting's roster snapshot (taken at the announcement)."""
        if not me.member_id or not in_roster(conn, meeting_id, me.member_id):
            raise PermissionDenied("not_in_roster", "only members summoned to this meeting may do this")

    def require_committee(self, me: Principal, unit_id: str) -> None:
        if not self._role_over(me, unit_id, READER_ROLES + RUNNER_ROLES):
            raise PermissionDenied("not_allowed", "statistics are for the committees over this unit")


def in_roster(conn: Connection, meeting_id: str, member_id: str) -> bool:
    return (
        conn.execute(
            sa.text("SELECT 1 FROM roster WHERE meeting_id = :m AND member_id = :p"), {"m": meeting_id, "p": member_id}
        ).first()
        is not None
    )


def document_for_cell(doc: dpb.Document, cell_chain: tuple[str, ...]) -> str:
    """The title of a document (as documents showed it to the secretary) the cell's members may read:
    published and addressed to the cell or a unit above it (`cell_chain`: root first, the cell last)."""
    if doc.status != dpb.DOCUMENT_STATUS_PUBLISHED:
        raise FailedPrecondition("document_not_published", "publish the document before sending it to the members")
    if not set(doc.audience_unit_ids or [doc.unit_id]) & set(cell_chain):
        raise FailedPrecondition("document_not_for_this_cell", "the document is not addressed to this cell")
    return doc.metadata.title
