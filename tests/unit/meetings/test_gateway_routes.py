"""The REST routes of gateway/routes/meetings.py against real identity and meetings servers."""

from __future__ import annotations

import io
from collections.abc import Iterator

import docx
import pytest
from flask.testing import FlaskClient

from gateway import clients
from gateway.app import create_app
from gateway.settings import Settings
from tests.unit.meetings.conftest import STANDARD, World


@pytest.fixture
def rest(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[World, FlaskClient]]:
    """The gateway app over the world's servers (their <NAME>_ADDR are set by running_service)."""
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    clients.reset_after_fork()
    try:
        app = create_app(Settings.from_env())
        app.testing = True
        yield world, app.test_client()
    finally:
        clients.close_all()


def test_a_meeting_over_rest_with_live_etag_and_minutes(rest: tuple[World, FlaskClient]) -> None:
    w, http = rest
    cell = w.cell("Chi bộ REST", w.identity.root_id, STANDARD[:5])

    def call(method: str, path: str, who=None, **kw):  # type: ignore[no-untyped-def]
        token = (who or cell.secretary).auth[0][1]
        headers = {"Authorization": token, **kw.pop("headers", {})}
        return http.open("/api/v1/meetings" + path, method=method, headers=headers, **kw)

    created = call(
        "POST",
        "",
        json={
            "cell_unit_id": cell.id,
            "kind": "regular",
            "title": "Họp tháng 3",
            "starts_at": "2026-03-10T12:30:00Z",
            "mode": "hybrid",
            "agenda": [{"title": "Tình hình tháng"}],
        },
    )
    assert created.status_code == 201, created.get_json()
    m = created.get_json()
    assert m["state"] == "draft" and m["agenda"][0]["title"] == "Tình hình tháng"
    patched = call("PATCH", f"/{m['id']}", json={"place": "Hội trường khối 1"})
    assert patched.status_code == 200 and patched.get_json()["place"] == "Hội trường khối 1"
    locked = call("PATCH", f"/{m['id']}", json={"conclusion": "x"})
    assert locked.status_code == 400 and locked.get_json()["error"]["reason"] == "field_locked"
    assert (
        call(
            "POST",
            f"/{m['id']}/documents",
            json={"document_id": w.document(), "title": "Dự thảo"},
        ).status_code
        == 200
    )
    assert call("POST", f"/{m['id']}/announce").get_json()["roster_size"] == 5
    future = call("POST", f"/{m['id']}/start", json={"started_at": "2099-03-10T12:40:00Z"})
    assert future.status_code == 400 and future.get_json()["error"]["reason"] == "started_at_in_future"
    assert call("POST", f"/{m['id']}/start", json={}).status_code == 200
    live = call("GET", f"/{m['id']}/live", who=cell.people[1])
    etag = live.headers["ETag"]
    assert live.status_code == 200 and live.get_json()["attendance"]["present"] == 0
    unchanged = call("GET", f"/{m['id']}/live", who=cell.people[1], headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == etag
    for p in cell.people:
        assert (
            call(
                "POST", f"/{m['id']}/check-in", who=p, json={"mode": "online"}, headers={"Idempotency-Key": "ci-1"}
            ).status_code
            == 200
        )
    changed = call("GET", f"/{m['id']}/live", who=cell.people[1], headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.get_json()["attendance"]["present"] == 5
    poll = call(
        "POST", f"/{m['id']}/polls", json={"question": "Thông qua", "kind": "resolution_adoption", "ballot": "secret"}
    ).get_json()
    for i, p in enumerate(cell.people):
        voted = call(
            "POST",
            f"/polls/{poll['id']}/votes",
            who=p,
            json={"choice": "approve" if i < 3 else "reject", "idempotency_key": f"k{i}"},
        )
        assert voted.status_code == 200 and voted.get_json() == {"replayed": False, "votes_cast": i + 1}
    again = call(
        "POST",
        f"/polls/{poll['id']}/votes",
        who=cell.people[0],
        json={"choice": "reject", "idempotency_key": "other-device"},
    )
    assert again.status_code == 409 and again.get_json()["error"]["reason"] == "already_voted"
    bad = call("POST", f"/polls/{poll['id']}/votes", json={"choice": "maybe", "idempotency_key": "k"})
    assert bad.status_code == 400
    closed = call("POST", f"/polls/{poll['id']}/close").get_json()
    assert closed["result"]["total"] == {"approve": 3, "reject": 2, "abstain": 0} and closed["result"]["passed"]
    rubric = call("GET", "/rubric").get_json()
    scores = {c["id"]: c["max_points"] for c in rubric["criteria"]}
    # Full marks contradict the record: the resolution is not published yet.
    refused = call("POST", f"/{m['id']}/evaluations", json={"scores": scores, "official": True})
    assert refused.status_code == 400, refused.get_json()
    error = refused.get_json()["error"]
    assert error["reason"] == "score_contradicts_record"
    assert set(error["details"]["criteria"].split(",")) == {"close_follow_up"}
    mine = {c["id"]: c["max_points"] for c in rubric["criteria"] if not c["computed"]}
    graded = call("POST", f"/{m['id']}/evaluations", json={"scores": mine, "official": True})
    assert graded.status_code == 201 and (graded.get_json()["total"], graded.get_json()["rating_label"]) == (90, "Tốt")
    before = call("POST", f"/{m['id']}/close", json={"closed_at": "2026-03-10T14:20:00Z"})  # before it began
    assert before.status_code == 400 and before.get_json()["error"]["reason"] == "closed_before_start"
    assert call("POST", f"/{m['id']}/close", json={"conclusion": "Thống nhất"}).get_json()["state"] == "closed"
    minutes = call("GET", f"/{m['id']}/minutes?format=docx")
    assert minutes.status_code == 200 and "attachment" in minutes.headers["Content-Disposition"]
    text = " ".join(p.text for p in docx.Document(io.BytesIO(minutes.data)).paragraphs)
    assert "Tán thành: 3 (trên ứng dụng 3, tại cuộc họp 0)." in text
    pdf = call("GET", f"/{m['id']}/minutes")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert call("POST", f"/{m['id']}/resolution", json={"text": "Nghị quyết"}).status_code == 200
    task = call(
        "POST",
        f"/{m['id']}/tasks",
        json={"title": "Việc", "due_on": "2026-03-31", "assignee_member_ids": [cell.people[1].member_id]},
    )
    assert task.status_code == 201, task.get_json()
    listed = call("GET", f"/tasks?cell_unit_id={cell.id}").get_json()
    assert [t["id"] for t in listed["items"]] == [task.get_json()["id"]]
    report = http.get(
        f"/api/v1/meetings/compliance?unit_id={w.identity.root_id}&month=2026-03",
        headers={"Authorization": w.admin[0][1]},
    ).get_json()
    assert report["totals"]["cells_all_three_parts"] == 1
    missing = call("GET", "/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and missing.get_json()["error"]["reason"] == "meeting_not_found"
    outsider = w.cell("Chi bộ khác", w.identity.root_id, STANDARD[5:7])
    denied = call("GET", f"/{m['id']}/minutes", who=outsider.people[1])
    assert denied.status_code == 403


def test_the_attendance_sheet_over_rest(rest: tuple[World, FlaskClient]) -> None:
    """POST /meetings/<id>/attendance: one request for the whole sheet, the Idempotency-Key header,
    4xx with the reason for a bad line, nothing written."""
    from tests.unit.meetings.conftest import started

    w, http = rest
    cell = w.cell("Chi bộ REST 2", w.identity.root_id, STANDARD)
    m = started(w, cell, present=[])
    token = cell.secretary.auth[0][1]

    def post(body: dict, key: str = "sheet-key"):  # type: ignore[no-untyped-def,type-arg]
        return http.post(f"/api/v1/meetings/{m.id}/attendance", json=body,
                         headers={"Authorization": token, "Idempotency-Key": key})

    giang, hai = cell.by_name("Vi Thị Giang").member_id, cell.by_name("Đặng Văn Hải").member_id
    bad = post({"rest_present": True, "marks": [{"member_id": giang, "attendance": "absent_excused"}]}, "k0")
    assert bad.status_code == 400 and bad.get_json()["error"]["reason"] == "reason_required"
    assert http.get(f"/api/v1/meetings/{m.id}/attendance", headers={"Authorization": token}).get_json()[
        "totals"]["not_recorded"] == len(STANDARD)
    body = {"rest_present": True, "marks": [
        {"member_id": giang, "attendance": "absent_excused", "reason": "Ốm"},
        {"member_id": hai, "session_status": "transferred", "session_reason": "Đi học"}]}
    first = post(body)
    assert first.status_code == 200, first.get_json()
    sheet = first.get_json()
    assert sheet["changed"] == 9 and not sheet["replayed"] and sheet["totals"]["present"] == 7
    again = post(body)
    assert again.status_code == 200 and again.get_json()["replayed"] and again.get_json()["attendees"] == sheet[
        "attendees"]
    other = post({"rest_present": False}, "sheet-key")
    assert other.status_code == 400 and other.get_json()["error"]["reason"] == "idempotency_key_reused"
    missing = http.post(f"/api/v1/meetings/{m.id}/attendance", json=body, headers={"Authorization": token})
    assert missing.status_code == 400 and missing.get_json()["error"]["reason"] == "idempotency_key_required"
    # One rule (services.core.idempotency): 1-128 printable ASCII characters without spaces, checked by
    # the gateway's schema in a body and by the service for the header.
    for key, reason in (("k" * 129, "idempotency_key_too_long"), ("phiếu-1", "idempotency_key_invalid"),
                        ("two words", "idempotency_key_invalid")):
        refused = post(body, key)
        assert refused.status_code == 400 and refused.get_json()["error"]["reason"] == reason, (key, refused.json)
    assert post(body, "k" * 128).get_json()["changed"] == 0  # the longest key is a new sheet that changes nothing
    opinion = http.post(f"/api/v1/meetings/{m.id}/opinions", json={"text": "Ý kiến", "idempotency_key": "k" * 129},
                        headers={"Authorization": token})
    error = opinion.get_json()["error"]
    assert opinion.status_code == 400 and (error["reason"], error["details"]["field"]) == (
        "invalid_field", "idempotency_key")
    spec = http.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/meetings/{meeting_id}/attendance"]["post"]
    assert "all or nothing" in operation["summary"]


def test_a_meeting_entered_after_it_was_held_over_rest(rest: tuple[World, FlaskClient]) -> None:
    """The times of the paper minutes, with their offset; refused before it began."""
    from tests.unit.meetings.conftest import new_meeting

    w, http = rest
    cell = w.cell("Chi bộ REST 3", w.identity.root_id, STANDARD[:3])
    m = new_meeting(w, cell)  # scheduled 2026-03-10 19:30 in Vietnam
    headers = {"Authorization": cell.secretary.auth[0][1]}
    assert http.post(f"/api/v1/meetings/{m.id}/announce", headers=headers).status_code == 200
    begun = http.post(f"/api/v1/meetings/{m.id}/start", json={"started_at": "2026-03-10T19:40:00+07:00"},
                      headers=headers)
    assert begun.status_code == 200 and begun.get_json()["started_at"] == "2026-03-10T12:40:00Z"
    early = http.post(f"/api/v1/meetings/{m.id}/close", json={"closed_at": "2026-03-10T19:00:00+07:00"},
                      headers=headers)
    assert early.status_code == 400 and early.get_json()["error"]["reason"] == "closed_before_start"
    closed = http.post(f"/api/v1/meetings/{m.id}/close", json={"closed_at": "2026-03-10T21:20:00+07:00"},
                       headers=headers)
    assert closed.status_code == 200 and closed.get_json()["closed_at"] == "2026-03-10T14:20:00Z"
