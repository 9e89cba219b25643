"""Bulletins and the inbox through the gRPC API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import time

import grpc
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp

from sotay.identity.v1 import identity_pb2 as ipb
from sotay.notifications.v1 import notifications_pb2 as pb
from tests.unit.notifications.conftest import (
    ADMIN_A,
    EDITOR,
    MEMBER_A1,
    MEMBER_A2,
    MEMBER_B1,
    MEMBER_B1_2,
    SECRETARY_A1,
    World,
    expect_error,
)


def at(seconds: float) -> Timestamp:
    t = Timestamp()
    t.FromNanoseconds(int(seconds * 1e9))
    return t


def publish(w: World, login: str, unit: str, title: str, audience: list[str] | None = None,
            **fields: object) -> pb.Bulletin:
    return w.stub.CreateBulletin(
        pb.CreateBulletinRequest(
            publisher_unit_id=w.units[unit], title=title, body_html=str(fields.pop("body", "<p>Nội dung</p>")),
            audience_unit_ids=[w.units[a] for a in audience or []], **fields,  # type: ignore[arg-type]
        ),
        metadata=w.token(login),
    ).bulletin


def inbox(w: World, login: str, flt: int = pb.INBOX_FILTER_UNSPECIFIED) -> list[pb.InboxItem]:
    return list(w.stub.ListInbox(pb.ListInboxRequest(filter=flt), metadata=w.token(login)).items)


def unread(w: World, login: str) -> int:
    return w.stub.GetInboxVersion(pb.GetInboxVersionRequest(), metadata=w.token(login)).unread_bulletins


def test_province_bulletin_reaches_every_cell_with_unread_counts_and_read_stats(world: World) -> None:
    w = world
    b = publish(w, EDITOR, "province", "Thông báo nội bộ tháng 11",
                body='<p onclick="x()">Kính gửi <b>các đồng chí</b><script>alert(1)</script></p>',
                kind=pb.BULLETIN_KIND_BULLETIN)
    assert b.state == pb.BULLETIN_STATE_PUBLISHED
    assert list(b.audience_unit_ids) == [w.units["province"]]
    assert b.body_html == "<p>Kính gửi <b>các đồng chí</b></p>"  # sanitised
    publish(w, ADMIN_A, "commune_a", "Thông báo của xã A")
    for login, expected in ((MEMBER_A1, 2), (MEMBER_A2, 2), (MEMBER_B1, 1), (MEMBER_B1_2, 1)):
        titles = [i.title for i in inbox(w, login)]
        assert "Thông báo nội bộ tháng 11" in titles
        assert len(titles) == expected
        assert unread(w, login) == expected
    # Reading: through GetBulletin(mark_read) and MarkRead (repeated: counted once).
    got = w.stub.GetBulletin(pb.GetBulletinRequest(id=b.id, mark_read=True), metadata=w.token(MEMBER_A1))
    assert got.HasField("read_at")
    assert w.stub.MarkRead(pb.MarkReadRequest(bulletin_ids=[b.id]), metadata=w.token(MEMBER_B1)).marked == 1
    assert w.stub.MarkRead(pb.MarkReadRequest(bulletin_ids=[b.id]), metadata=w.token(MEMBER_B1)).marked == 0
    assert unread(w, MEMBER_A1) == 1 and unread(w, MEMBER_B1) == 0 and unread(w, MEMBER_A2) == 2
    read_flags = {i.title: i.HasField("read_at") for i in inbox(w, MEMBER_A1)}
    assert read_flags == {"Thông báo nội bộ tháng 11": True, "Thông báo của xã A": False}
    # The publisher's read statistics: per child unit, and who has / has not read in a cell.
    stats = w.stub.GetBulletinReadStats(pb.GetBulletinReadStatsRequest(bulletin_id=b.id),
                                        metadata=w.token(EDITOR))
    assert (stats.unit.members, stats.unit.read) == (7, 2)
    by_unit = {c.unit_id: (c.members, c.read) for c in stats.children}
    assert by_unit == {w.units["commune_a"]: (5, 1), w.units["commune_b"]: (2, 1)}
    cell = w.stub.GetBulletinReadStats(
        pb.GetBulletinReadStatsRequest(bulletin_id=b.id, unit_id=w.units["cell_a1"]), metadata=w.token(EDITOR)
    )
    who = {m.full_name: m.HasField("read_at") for m in cell.members}
    assert who == {"Bí thư A1": False, "Đảng viên A1": True}
    not_yet = w.stub.GetBulletinReadStats(
        pb.GetBulletinReadStatsRequest(bulletin_id=b.id, unit_id=w.units["cell_a1"], unread_only=True),
        metadata=w.token(SECRETARY_A1),  # a cell secretary sees their own cell
    )
    assert [m.full_name for m in not_yet.members] == ["Bí thư A1"]
    # Mark all read clears the rest.
    assert w.stub.MarkAllRead(pb.MarkAllReadRequest(), metadata=w.token(MEMBER_A2)).marked == 2
    assert unread(w, MEMBER_A2) == 0
    with w.db.read() as conn:  # for the reports' read rates: each read once, as it happened
        reads = [json.loads(r.payload) for r in conn.execute(
            sa.text("SELECT payload FROM outbox WHERE topic = 'notifications.bulletin.read'"))]
    by_member: dict[str, list[str]] = {}
    for e in reads:
        by_member.setdefault(e["member_id"], []).extend(e["bulletin_ids"])
    assert sorted(len(ids) for ids in by_member.values()) == [1, 1, 2] and b.id in by_member[reads[-1]["member_id"]]


def test_publishing_writes_nothing_per_member(world: World) -> None:
    w = world
    with w.db.read() as conn:
        before = conn.execute(sa.text("SELECT (SELECT COUNT(*) FROM bulletin_reads) + "
                                      "(SELECT COUNT(*) FROM notifications) + "
                                      "(SELECT COUNT(*) FROM deliveries)")).scalar_one()
    b = publish(w, EDITOR, "province", "Chỉ thị", kind=pb.BULLETIN_KIND_DIRECTIVE)
    with w.db.read() as conn:
        after = conn.execute(sa.text("SELECT (SELECT COUNT(*) FROM bulletin_reads) + "
                                     "(SELECT COUNT(*) FROM notifications) + "
                                     "(SELECT COUNT(*) FROM deliveries)")).scalar_one()
        audience = conn.execute(sa.text("SELECT COUNT(*) FROM bulletin_audience WHERE bulletin_id = :b"),
                                {"b": b.id}).scalar_one()
    assert after == before and audience == 1


def test_schedule_expiry_pinning_withdrawal_and_idempotency(world: World) -> None:
    w = world
    now = time.time()
    later = publish(w, EDITOR, "province", "Hẹn giờ", publish_at=at(now + 3600))
    assert later.state == pb.BULLETIN_STATE_SCHEDULED
    old = publish(w, EDITOR, "province", "Cũ")
    pinned = publish(w, EDITOR, "province", "Ghim", pinned=True)
    newest = publish(w, EDITOR, "province", "Mới nhất", expires_at=at(now + 3600))
    titles = [i.title for i in inbox(w, MEMBER_B1)]
    assert titles == ["Ghim", "Mới nhất", "Cũ"]  # pinned first, then newest first; scheduled hidden
    expect_error(grpc.StatusCode.NOT_FOUND, "bulletin_not_found", w.stub.GetBulletin,
                 pb.GetBulletinRequest(id=later.id), metadata=w.token(MEMBER_B1))
    # The publisher sees the scheduled one in the unit's list.
    listed = w.stub.ListBulletins(pb.ListBulletinsRequest(unit_id=w.units["province"]), metadata=w.token(EDITOR))
    assert {x.title: x.state for x in listed.bulletins}["Hẹn giờ"] == pb.BULLETIN_STATE_SCHEDULED
    # Expiry in the past (by update) hides it; unpinning reorders.
    with w.db.write() as conn:
        conn.execute(sa.text("UPDATE bulletins SET expires_at = :t WHERE id = :id"), {"t": now - 1, "id": newest.id})
    w.stub.UpdateBulletin(pb.UpdateBulletinRequest(id=pinned.id, set_pinned=True, pinned=False),
                          metadata=w.token(EDITOR))
    assert [i.title for i in inbox(w, MEMBER_B1)] == ["Ghim", "Cũ"]
    version = w.stub.GetInboxVersion(pb.GetInboxVersionRequest(), metadata=w.token(MEMBER_B1)).version
    w.stub.WithdrawBulletin(pb.WithdrawBulletinRequest(id=old.id, reason="nhầm"), metadata=w.token(EDITOR))
    assert [i.title for i in inbox(w, MEMBER_B1)] == ["Ghim"]
    assert w.stub.GetInboxVersion(pb.GetInboxVersionRequest(), metadata=w.token(MEMBER_B1)).version != version
    # A retried create with the same idempotency key is recorded once.
    req = pb.CreateBulletinRequest(publisher_unit_id=w.units["province"], title="Một lần", idempotency_key="k-1")
    first = w.stub.CreateBulletin(req, metadata=w.token(EDITOR)).bulletin
    again = w.stub.CreateBulletin(req, metadata=w.token(EDITOR)).bulletin
    assert first.id == again.id


def test_moved_member_sees_new_ancestry_and_keeps_read_history(world: World) -> None:
    w = world
    province = publish(w, EDITOR, "province", "Toàn tỉnh")
    read_a = publish(w, ADMIN_A, "commune_a", "Xã A đã đọc")
    unread_a = publish(w, ADMIN_A, "commune_a", "Xã A chưa đọc")
    b_before = w.stub.CreateBulletin(
        pb.CreateBulletinRequest(publisher_unit_id=w.units["commune_b"], title="Xã B trước khi chuyển"),
        metadata=w.admin).bulletin
    w.stub.MarkRead(pb.MarkReadRequest(bulletin_ids=[province.id, read_a.id]), metadata=w.token(MEMBER_A1))
    w.identity.stub.TransferMember(
        ipb.TransferMemberRequest(id=w.members[MEMBER_A1].id, to_unit_id=w.units["cell_b1"]), metadata=w.admin)
    token = w.fresh_token(MEMBER_A1)
    items = {i.title: i.HasField("read_at") for i in inbox(w, MEMBER_A1)}
    assert items == {"Toàn tỉnh": True, "Xã B trước khi chuyển": False}
    history = [i.title for i in inbox(w, MEMBER_A1, pb.INBOX_FILTER_HISTORY)]
    assert sorted(history) == ["Toàn tỉnh", "Xã A đã đọc"]
    assert w.stub.GetBulletin(pb.GetBulletinRequest(id=read_a.id), metadata=token).bulletin.title == "Xã A đã đọc"
    expect_error(grpc.StatusCode.NOT_FOUND, "bulletin_not_found", w.stub.GetBulletin,
                 pb.GetBulletinRequest(id=unread_a.id), metadata=token)
    expect_error(grpc.StatusCode.NOT_FOUND, "bulletin_not_found", w.stub.MarkRead,
                 pb.MarkReadRequest(bulletin_ids=[unread_a.id]), metadata=token)
    assert b_before.id in {i.id for i in inbox(w, MEMBER_A1)}


def test_publishing_authorisation_and_bad_input(world: World) -> None:
    w = world
    # A plain member cannot publish; a commune admin cannot publish to the sibling commune.
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", publish, w, MEMBER_A1, "cell_a1", "x")
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", publish, w, ADMIN_A, "commune_b", "x")
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "audience_outside_subtree", publish, w, ADMIN_A,
                 "commune_a", "x", ["cell_b1"])
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "title_required", publish, w, EDITOR, "province", "  ")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "unit_required", w.stub.CreateBulletin,
                 pb.CreateBulletinRequest(title="x"), metadata=w.token(EDITOR))
    expect_error(grpc.StatusCode.NOT_FOUND, "unit_not_found", w.stub.CreateBulletin,
                 pb.CreateBulletinRequest(title="x", publisher_unit_id="nope"), metadata=w.token(EDITOR))
    expect_error(grpc.StatusCode.NOT_FOUND, "unit_not_found", w.stub.CreateBulletin,
                 pb.CreateBulletinRequest(publisher_unit_id=w.units["province"], title="x",
                                          audience_unit_ids=["6f1f7a2e-0000-4000-8000-000000000000"]),
                 metadata=w.token(EDITOR))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "expires_before_publish", publish, w, EDITOR, "province", "x",
                 expires_at=at(time.time() - 10))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid_kind", publish, w, EDITOR, "province", "x",
                 kind=99)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid_id", publish, w, EDITOR, "province", "x",
                 attachment_document_ids=["not-an-id"])
    b = publish(w, ADMIN_A, "commune_a", "Xã A")
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", w.stub.WithdrawBulletin,
                 pb.WithdrawBulletinRequest(id=b.id), metadata=w.token(MEMBER_A1))
    expect_error(grpc.StatusCode.NOT_FOUND, "bulletin_not_found", w.stub.GetBulletin,
                 pb.GetBulletinRequest(id=b.id), metadata=w.token(MEMBER_B1))  # not addressed to B
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", w.stub.GetBulletinReadStats,
                 pb.GetBulletinReadStatsRequest(bulletin_id=b.id), metadata=w.token(MEMBER_A1))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "unit_not_in_audience", w.stub.GetBulletinReadStats,
                 pb.GetBulletinReadStatsRequest(bulletin_id=b.id, unit_id=w.units["cell_b1"]), metadata=w.admin)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid_page_token", w.stub.ListInbox,
                 pb.ListInboxRequest(page_token="%%%"), metadata=w.token(MEMBER_A1))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid_filter", w.stub.ListInbox,
                 pb.ListInboxRequest(filter=42), metadata=w.token(MEMBER_A1))
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_a_member", w.stub.ListInbox, pb.ListInboxRequest(),
                 metadata=w.admin)  # the root admin account is not a member
    expect_error(grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", w.stub.ListInbox, pb.ListInboxRequest())


def test_inbox_pages_and_watch(world: World) -> None:
    w = world
    for i in range(5):
        publish(w, EDITOR, "province", f"Bản tin {i}")
    first = w.stub.ListInbox(pb.ListInboxRequest(page_size=2), metadata=w.token(MEMBER_B1))
    assert first.total_size == 5 and len(first.items) == 2 and first.next_page_token
    seen = [i.title for i in first.items]
    token = first.next_page_token
    while token:
        page = w.stub.ListInbox(pb.ListInboxRequest(page_size=2, page_token=token), metadata=w.token(MEMBER_B1))
        seen += [i.title for i in page.items]
        token = page.next_page_token
    assert seen == [f"Bản tin {i}" for i in range(4, -1, -1)]
    current = w.stub.GetInboxVersion(pb.GetInboxVersionRequest(), metadata=w.token(MEMBER_B1))
    stream = w.stub.WatchInbox(pb.WatchInboxRequest(known_version=current.version, max_seconds=1),
                               metadata=w.token(MEMBER_B1))
    assert list(stream) == []  # nothing changed within the watch
    stream = w.stub.WatchInbox(pb.WatchInboxRequest(known_version="old", max_seconds=1), metadata=w.token(MEMBER_B1))
    got = list(stream)
    assert [(g.version, g.unread_bulletins) for g in got] == [(current.version, 5)]


def test_kept_bulletin_lists_follow_other_processes_time_and_own_reads(world: World) -> None:
    """The server keeps each ancestry's visible bulletins in memory: a bulletin stored by another
    process (the event consumer, another replica), a scheduled one whose time comes, and the
    member's own reads all show on the next page; UNREAD and paging merge bulletins and personal
    items in one order with exact totals."""
    from services.notifications import bulletins, personal

    w = world
    first = publish(w, EDITOR, "province", "Thứ nhất")
    assert [i.title for i in inbox(w, MEMBER_B1)] == ["Thứ nhất"]  # the list is now kept
    with w.db.write() as conn:  # as the event consumer would, outside the server
        draft = bulletins.validate(bulletins.Draft(w.units["commune_b"], "bulletin", "Từ tiến trình khác",
                                                   "<p>x</p>", [w.units["commune_b"]], [], 0.0, None, False),
                                   time.time())
        bulletins.insert(conn, draft, "", time.time())
        personal.notify(conn, [w.members[MEMBER_B1].id], "task_assigned", "Nhiệm vụ", "", {"task_id": "t"},
                        "task:t", now=time.time() + 1)
    assert [i.title for i in inbox(w, MEMBER_B1)] == ["Nhiệm vụ", "Từ tiến trình khác", "Thứ nhất"]
    assert [i.title for i in inbox(w, MEMBER_B1_2)] == ["Từ tiến trình khác", "Thứ nhất"]
    soon = publish(w, EDITOR, "province", "Sắp đến giờ", publish_at=at(time.time() + 1.5))
    assert "Sắp đến giờ" not in [i.title for i in inbox(w, MEMBER_B1)]
    # The member's own read shows at once, in every filter.
    w.stub.MarkRead(pb.MarkReadRequest(bulletin_ids=[first.id]), metadata=w.token(MEMBER_B1))
    assert {i.title: i.HasField("read_at") for i in inbox(w, MEMBER_B1)}["Thứ nhất"]
    unread_titles = [i.title for i in inbox(w, MEMBER_B1, pb.INBOX_FILTER_UNREAD)]
    assert unread_titles == ["Nhiệm vụ", "Từ tiến trình khác"]
    assert [i.title for i in inbox(w, MEMBER_B1, pb.INBOX_FILTER_BULLETINS)] == ["Từ tiến trình khác", "Thứ nhất"]
    time.sleep(max(0.0, soon.publish_at.ToNanoseconds() / 1e9 - time.time()) + 0.1)
    everything = [i.title for i in inbox(w, MEMBER_B1)]
    assert everything == ["Sắp đến giờ", "Nhiệm vụ", "Từ tiến trình khác", "Thứ nhất"]
    # Pages of one item walk the same order, with the same total, read state included.
    seen, token = [], ""
    while True:
        reply = w.stub.ListInbox(pb.ListInboxRequest(page_size=1, page_token=token), metadata=w.token(MEMBER_B1))
        assert reply.total_size == 4
        seen += [(i.title, i.HasField("read_at")) for i in reply.items]
        token = reply.next_page_token
        if not token:
            break
    assert seen == [(t, t == "Thứ nhất") for t in everything]
    unread = w.stub.ListInbox(pb.ListInboxRequest(filter=pb.INBOX_FILTER_UNREAD, page_size=2),
                              metadata=w.token(MEMBER_B1))
    assert ([i.title for i in unread.items], unread.total_size) == (["Sắp đến giờ", "Nhiệm vụ"], 3)
