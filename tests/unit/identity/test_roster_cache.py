"""The roster cache: a kept page is never older than the database, whoever wrote to it; the
caller's permission is checked before a kept page is given out. On SQLite and on PostgreSQL."""

from __future__ import annotations

import time

import grpc
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from services.identity.importer import import_members
from services.identity.roster_cache import RosterCache
from sotay.identity.v1 import identity_pb2 as pb
from tests.support.identity import Identity
from tests.unit.identity.test_identity_service import commune_admin, expect_error, member, two_communes
from tests.unit.identity.test_importer import csv_file, row

Entry = tuple[str, int, int, bool, bool, bool]


def roster(svc: Identity, auth: list[tuple[str, str]], unit_id: str,
           include_inactive: bool = False) -> tuple[list[Entry], int]:
    req = pb.ListMembersRequest(unit_id=unit_id, page_size=50, include_inactive=include_inactive)
    reply = svc.stub.ListMembers(req, metadata=auth)
    entries = [(e.full_name, e.status, e.position, e.exempt, e.active, bool(e.account_id)) for e in reply.members]
    return entries, reply.total_size


def lookups(result: str) -> float:
    return REGISTRY.get_sample_value("identity_roster_cache_total", {"result": result}) or 0.0


def test_a_kept_page_follows_every_change_to_the_roster(identity: Identity) -> None:
    auth, _, _, cell_a, cell_b = two_communes(identity)
    an = member(identity, auth, cell_a.id, "Nguyễn Văn An", status=pb.MEMBER_STATUS_PROBATIONARY)
    member(identity, auth, cell_a.id, "Trần Thị Bình", phone="0912100002", password="binh-password-1")

    first = roster(identity, auth, cell_a.id)
    hits = lookups("hit")
    assert roster(identity, auth, cell_a.id) == first
    assert lookups("hit") == hits + 1  # the same page, from the cache
    assert first == ([("Nguyễn Văn An", 2, 1, False, True, True), ("Trần Thị Bình", 1, 1, False, True, True)], 2)

    # A change outside the roster's columns keeps the page.
    identity.stub.UpdateMember(pb.UpdateMemberRequest(id=an.id, fields=pb.MemberFields(email="an@example.vn")),
                               metadata=auth)
    assert roster(identity, auth, cell_a.id) == first
    assert lookups("hit") == hits + 2

    identity.stub.UpdateMember(
        pb.UpdateMemberRequest(id=an.id, fields=pb.MemberFields(
            full_name="Vũ Văn An", status=pb.MEMBER_STATUS_OFFICIAL, set_exempt=True, exempt=True,
            exempt_reason="tuổi cao", position=pb.CELL_POSITION_DEPUTY_SECRETARY)),
        metadata=auth,
    )
    assert roster(identity, auth, cell_a.id) == (
        [("Trần Thị Bình", 1, 1, False, True, True), ("Vũ Văn An", 1, 3, True, True, True)], 2)

    cuong = member(identity, auth, cell_a.id, "Lê Văn Cường")
    assert [e[0] for e in roster(identity, auth, cell_a.id)[0]] == ["Lê Văn Cường", "Trần Thị Bình", "Vũ Văn An"]

    # A transfer changes both rosters, each kept beforehand.
    assert roster(identity, auth, cell_b.id) == ([], 0)
    identity.stub.TransferMember(pb.TransferMemberRequest(id=cuong.id, to_unit_id=cell_b.id, reason="chuyển"),
                                 metadata=auth)
    assert [e[0] for e in roster(identity, auth, cell_a.id)[0]] == ["Trần Thị Bình", "Vũ Văn An"]
    assert roster(identity, auth, cell_b.id) == ([("Lê Văn Cường", 1, 1, False, True, True)], 1)

    assert roster(identity, auth, cell_a.id, include_inactive=True)[1] == 2
    identity.stub.DeactivateMember(pb.DeactivateMemberRequest(id=an.id, reason="chuyển sinh hoạt tạm thời"),
                                   metadata=auth)
    assert roster(identity, auth, cell_a.id) == ([("Trần Thị Bình", 1, 1, False, True, True)], 1)
    assert roster(identity, auth, cell_a.id, include_inactive=True)[0][1][4] is False


def test_writes_that_bypass_the_service_are_seen(identity: Identity) -> None:
    """Another replica, `sotay import-members`, SQL by hand: the triggers move the version on."""
    auth, _, _, cell_a, _ = two_communes(identity)
    with identity.db.write() as conn:
        conn.execute(sa.text("UPDATE units SET code = 'CBA' WHERE id = :id"), {"id": cell_a.id})
        commune = str(conn.execute(sa.text("SELECT parent_id FROM units WHERE id = :id"), {"id": cell_a.id}).scalar())
    an = member(identity, auth, cell_a.id, "Nguyễn Văn An")
    assert roster(identity, auth, cell_a.id)[0] == [("Nguyễn Văn An", 1, 1, False, True, True)]

    with identity.db.write() as conn:  # the member's account goes, then comes back
        conn.execute(sa.text("DELETE FROM accounts WHERE member_id = :m"), {"m": an.id})
    assert roster(identity, auth, cell_a.id)[0] == [("Nguyễn Văn An", 1, 1, False, True, False)]
    with identity.db.write() as conn:
        conn.execute(sa.text("INSERT INTO accounts (id, username, member_id, password_hash, active, created_at) "
                             "VALUES ('11111111-1111-4111-8111-111111111111', NULL, :m, NULL, TRUE, :t)"),
                     {"m": an.id, "t": time.time()})
    assert roster(identity, auth, cell_a.id)[0] == [("Nguyễn Văn An", 1, 1, False, True, True)]
    with identity.db.write() as conn:
        conn.execute(sa.text("UPDATE members SET full_name = 'Nguyễn Văn Ân', name_folded = 'nguyen van an' "
                             "WHERE id = :m"), {"m": an.id})
    assert roster(identity, auth, cell_a.id)[0][0][0] == "Nguyễn Văn Ân"

    report = import_members(identity.db, commune, csv_file([row("IMP000001", "Phạm Thị Dung", "CBA")]), "csv")
    assert report.created == 1
    assert [e[0] for e in roster(identity, auth, cell_a.id)[0]] == ["Nguyễn Văn Ân", "Phạm Thị Dung"]
    again = csv_file([row("IMP000001", "Phạm Thị Dung", "CBA", loai_dang_vien="Dự bị")])
    assert import_members(identity.db, commune, again, "csv").updated == 1
    assert roster(identity, auth, cell_a.id)[0][1][:2] == ("Phạm Thị Dung", 2)


def test_a_kept_page_is_given_only_to_those_allowed_to_see_it(identity: Identity) -> None:
    auth, a, b, cell_a, _ = two_communes(identity)
    member(identity, auth, cell_a.id, "Nguyễn Văn An")
    roster(identity, auth, cell_a.id)
    roster(identity, auth, cell_a.id)  # kept
    admin_b = commune_admin(identity, auth, b.id, "0912200001")
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.ListMembers,
                 pb.ListMembersRequest(unit_id=cell_a.id, page_size=50), metadata=admin_b)
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", identity.stub.ListRoster,
                 pb.ListRosterRequest(unit_id=cell_a.id), metadata=admin_b)
    admin_a = commune_admin(identity, auth, a.id, "0912200002")
    assert roster(identity, admin_a, cell_a.id)[1] == 2  # the commune admin joined cell A's roster


# ---------- the cache itself ----------


def test_pages_are_kept_within_a_number_of_entries_least_recently_used_first() -> None:
    cache = RosterCache(entries=10)
    computed: list[str] = []

    def make(name: str, size: int):  # type: ignore[no-untyped-def]
        def compute() -> tuple[str, int]:
            computed.append(name)
            return name, size
        return compute

    assert cache.page("a", 1, make("a1", 4)) == "a1"
    assert cache.page("b", 1, make("b1", 3)) == "b1"
    assert cache.page("a", 1, make("never", 4)) == "a1"  # kept; now the most recently used
    assert cache.page("c", 1, make("c1", 3)) == "c1"  # 5 + 4 + 4 > 10: b goes
    assert cache.page("b", 1, make("b1 again", 3)) == "b1 again"
    assert cache.page("a", 2, make("a2", 4)) == "a2"  # a new version replaces the page
    assert cache.page("a", 1, make("a1 late", 4)) == "a1 late"  # an older version is served, not kept
    assert cache.page("a", 2, make("never", 4)) == "a2"
    assert cache.page("big", 1, make("big", 10)) == "big"  # more than all the room: not kept
    assert cache.page("big", 1, make("big again", 10)) == "big again"
    assert computed == ["a1", "b1", "c1", "b1 again", "a2", "a1 late", "big", "big again"]


@pytest.mark.parametrize("entries", [0, -1])
def test_no_room_keeps_nothing(entries: int) -> None:
    cache = RosterCache(entries=entries)
    assert [cache.page("a", 1, lambda n=n: (n, 1)) for n in ("x", "y")] == ["x", "y"]  # type: ignore[misc]
