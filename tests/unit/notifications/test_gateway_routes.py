"""The REST routes of gateway/routes/notifications.py against the real notifications and identity
services (Flask test client -> gRPC): bulletin, inbox with ETag, SSE, feedback, errors as JSON."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.unit.notifications.conftest import (
    ADMIN_A,
    EDITOR,
    MEMBER_A1,
    MEMBER_B1,
    SECRETARY_A1,
    World,
    bearer,
)


def test_rest_bulletin_inbox_live_and_feedback(rest: tuple[World, FlaskClient]) -> None:
    w, client = rest
    created = client.post("/api/v1/bulletins", headers=bearer(w, EDITOR), json={
        "publisher_unit_id": w.units["province"], "title": "Thông báo qua REST", "body_html": "<p>Xin chào</p>",
        "kind": "bulletin", "idempotency_key": "rest-1"})
    assert created.status_code == 201, created.get_json()
    bulletin = created.get_json()
    assert bulletin["state"] == "published"
    version = client.get("/api/v1/inbox/version", headers=bearer(w, MEMBER_B1))
    assert version.status_code == 200 and version.get_json()["unread_bulletins"] == 1
    etag = version.headers["ETag"]
    same = client.get("/api/v1/inbox/version", headers={**bearer(w, MEMBER_B1), "If-None-Match": etag})
    assert same.status_code == 304
    inbox = client.get("/api/v1/inbox?filter=unread", headers=bearer(w, MEMBER_B1)).get_json()
    assert [i["title"] for i in inbox["items"]] == ["Thông báo qua REST"]
    read = client.post("/api/v1/inbox/read", headers=bearer(w, MEMBER_B1), json={"bulletin_ids": [bulletin["id"]]})
    assert read.get_json() == {"marked": 1}
    changed = client.get("/api/v1/inbox/version", headers={**bearer(w, MEMBER_B1), "If-None-Match": etag})
    assert changed.status_code == 200 and changed.get_json()["unread_bulletins"] == 0
    events = client.get("/api/v1/inbox/events?known_version=old&max_seconds=1", headers=bearer(w, MEMBER_B1))
    body = events.get_data(as_text=True)
    assert events.mimetype == "text/event-stream" and "event: inbox" in body
    # A caller the service refuses gets a JSON error, not a stream that ends at once.
    refused = client.get("/api/v1/inbox/events?max_seconds=1", headers={"Authorization": w.identity.admin()[0][1]})
    assert refused.status_code == 403 and refused.mimetype == "application/json"
    assert refused.get_json()["error"]["reason"] == "not_a_member"
    sent = client.post("/api/v1/feedback", headers=bearer(w, MEMBER_B1), json={
        "unit_id": w.units["cell_b1"], "subject": "Kiến nghị", "body": "Nội dung kiến nghị"})
    assert sent.status_code == 201 and sent.get_json()["status"] == "received"
    # Errors keep their reason; bad input is a 4xx, never a 500.
    denied = client.get(f"/api/v1/feedback/{sent.get_json()['id']}", headers=bearer(w, EDITOR))
    assert denied.status_code == 403 and denied.get_json()["error"]["reason"] == "not_allowed"
    bad = client.post("/api/v1/bulletins", headers=bearer(w, EDITOR), json={"publisher_unit_id": "x", "title": 5})
    assert bad.status_code == 400
    missing = client.get("/api/v1/bulletins/not-an-id", headers=bearer(w, MEMBER_B1))
    assert missing.status_code == 404 and missing.get_json()["error"]["reason"] == "bulletin_not_found"


def test_inbox_item_json_is_the_generic_conversion() -> None:
    from google.protobuf.timestamp_pb2 import Timestamp

    from gateway.convert import to_json
    from gateway.routes.notifications import inbox_item_json
    from sotay.notifications.v1 import notifications_pb2 as pb

    def at(seconds: float) -> Timestamp:
        t = Timestamp()
        t.FromNanoseconds(int(seconds * 1e9))
        return t

    items = [
        pb.InboxItem(),
        pb.InboxItem(id="b1", type=pb.ITEM_TYPE_BULLETIN, bulletin_kind=pb.BULLETIN_KIND_DIRECTIVE, title="Chỉ thị",
                     summary="Nội dung", at=at(1_780_000_000.25), pinned=True, publisher_unit_id="u1",
                     link=pb.ItemLink(document_ids=["d1", "d2"])),
        pb.InboxItem(id="b2", type=pb.ITEM_TYPE_BULLETIN, at=at(1_780_000_000), read_at=at(1_780_000_100.5),
                     link=pb.ItemLink()),
        pb.InboxItem(id="n1", type=pb.ITEM_TYPE_NOTIFICATION, notification_kind=pb.NOTIFICATION_KIND_TASK_ASSIGNED,
                     title="Nhiệm vụ", at=at(1_780_000_000), read_at=Timestamp(),
                     link=pb.ItemLink(meeting_id="m", poll_id="p", task_id="t", feedback_id="f")),
        pb.InboxItem(id="x", type=99, bulletin_kind=98, notification_kind=97),  # values newer than this gateway
    ]
    for item in items:
        assert inbox_item_json(item) == to_json(item)
        assert list(inbox_item_json(item)) == list(to_json(item))  # same fields, same order


def test_rest_feedback_assign_escalate_and_median(rest: tuple[World, FlaskClient]) -> None:
    w, client = rest
    sent = client.post("/api/v1/feedback", headers=bearer(w, MEMBER_A1), json={
        "unit_id": w.units["cell_a1"], "subject": "Đèn đường hỏng", "body": "Đề nghị sửa đèn đường thôn."}).get_json()
    admin_a = w.members[ADMIN_A].account_id
    # The commune admin holds no role on the cell itself: it cannot be assigned the cell's item.
    refused = client.post(f"/api/v1/feedback/{sent['id']}/assign", headers=bearer(w, ADMIN_A),
                          json={"account_id": admin_a})
    assert refused.status_code == 400 and refused.get_json()["error"]["reason"] == "assignee_without_role"
    bad = client.post(f"/api/v1/feedback/{sent['id']}/escalate", headers=bearer(w, ADMIN_A), json={"note": 5})
    assert bad.status_code == 400
    up = client.post(f"/api/v1/feedback/{sent['id']}/escalate", headers=bearer(w, SECRETARY_A1),
                     json={"note": "Thuộc thẩm quyền xã"})
    assert up.status_code == 200 and up.get_json()["unit_id"] == w.units["commune_a"]
    assigned = client.post(f"/api/v1/feedback/{sent['id']}/assign", headers=bearer(w, ADMIN_A),
                           json={"account_id": admin_a, "note": "Đồng chí xử lý"})
    assert assigned.status_code == 200 and assigned.get_json()["assignee_account_id"] == admin_a
    stats = client.get(f"/api/v1/units/{w.units['commune_a']}/feedback-stats", headers=bearer(w, ADMIN_A))
    assert stats.status_code == 200 and stats.get_json()["total"]["received"] == 1
