"""One month of a cell, across every service, as real processes: HTTP → gateway → gRPC → databases,
with events flowing documents/meetings → notifications through the outboxes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.processes import System, login, running_system

pytestmark = pytest.mark.integration


def eventually(check: Callable[[], Any], seconds: float = 45) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def demo_accounts(data: Path) -> dict[str, tuple[str, str]]:
    rows = [line.split() for line in (data / "demo-accounts.txt").read_text(encoding="utf-8").splitlines()]
    by_login = {r[0]: (r[0], r[1]) for r in rows if r}
    phones = [r[0] for r in rows if r and r[0].startswith("09")]
    return {"admin": by_login["admin"], "secretary": by_login[phones[0]], "member": by_login[phones[1]],
            "probationary": by_login[phones[2]], "commune_admin": by_login["admin-xa01"]}


def inbox_titles(system: System, auth: dict[str, str]) -> list[str]:
    reply = requests.get(system.url("/api/v1/inbox"), headers=auth, timeout=10)
    assert reply.status_code == 200, reply.text
    return [item["title"] for item in reply.json()["items"]]


def test_document_meeting_vote_and_inbox_across_services(tmp_path: Path) -> None:
    with running_system(tmp_path) as system:
        accounts = demo_accounts(tmp_path)
        admin = login(system, *accounts["admin"])
        secretary = login(system, *accounts["secretary"])
        member = login(system, *accounts["member"])
        probationary = login(system, *accounts["probationary"])
        province = requests.get(system.url("/api/v1/me"), headers=admin, timeout=10).json()["unit_id"]
        cell = requests.get(system.url("/api/v1/me"), headers=secretary, timeout=10).json()["unit_id"]

        # The province publishes a resolution; a member of a cell finds it loosely and gets told.
        upload = requests.post(
            system.url("/api/v1/documents"), headers=admin, timeout=30,
            files={"file": ("nghi-quyet.txt", "Nghị quyết về công tác xây dựng Đảng năm 2026.".encode(),
                            "text/plain")},
            data={"title": "Nghị quyết về xây dựng Đảng", "number": "05-NQ/TU", "category": "hoc-tap-nghi-quyet",
                  "issued_on": "2026-11-01", "audience_unit_id": province, "status": "published"},
        )
        assert upload.status_code == 201, upload.text
        document_id = upload.json()["id"]

        def found() -> list[str]:
            reply = requests.get(system.url("/api/v1/documents/search"), params={"q": "nghi quyet xay dung dang"},
                                 headers=member, timeout=10)
            assert reply.status_code == 200, reply.text
            return [item["id"] for item in reply.json()["items"]]

        assert eventually(found) == [document_id]
        by_number = requests.get(system.url("/api/v1/documents/search"), params={"q": "05 nq tu"}, headers=member,
                                 timeout=10).json()
        assert [i["id"] for i in by_number["items"]] == [document_id]
        assert eventually(lambda: "Nghị quyết về xây dựng Đảng" in " ".join(inbox_titles(system, member)))

        # The cell's monthly meeting: announce, attend, vote (probationary refused), close the poll.
        meeting = requests.post(system.url("/api/v1/meetings"), headers=secretary, timeout=10, json={
            "cell_unit_id": cell, "kind": "regular", "title": "Sinh hoạt chi bộ tháng 12",
            "starts_at": "2026-12-05T19:30:00+07:00", "mode": "hybrid"})
        assert meeting.status_code == 201, meeting.text
        meeting_id = meeting.json()["id"]
        attached = requests.post(system.url(f"/api/v1/meetings/{meeting_id}/documents"), headers=secretary,
                                 json={"document_id": document_id}, timeout=10)
        assert attached.status_code in (200, 201), attached.text
        announced = requests.post(system.url(f"/api/v1/meetings/{meeting_id}/announce"), headers=secretary,
                                  timeout=10)
        assert announced.status_code == 200, announced.text
        assert eventually(lambda: any("tháng 12" in t for t in inbox_titles(system, member)))

        started = requests.post(system.url(f"/api/v1/meetings/{meeting_id}/start"), headers=secretary, json={},
                                timeout=10)
        assert started.status_code == 200, started.text
        for who in (secretary, member, probationary):
            checked = requests.post(system.url(f"/api/v1/meetings/{meeting_id}/check-in"), headers=who,
                                    json={"idempotency_key": "check-in-1"}, timeout=10)
            assert checked.status_code in (200, 201), checked.text
        poll = requests.post(system.url(f"/api/v1/meetings/{meeting_id}/polls"), headers=secretary, timeout=10,
                             json={"question": "Thông qua nghị quyết tháng 12", "kind": "resolution_adoption",
                                   "ballot": "secret"})
        assert poll.status_code in (200, 201), poll.text
        poll_id = poll.json()["id"]
        vote = {"choice": "approve", "idempotency_key": "vote-1"}
        for who in (secretary, member):
            cast = requests.post(system.url(f"/api/v1/meetings/polls/{poll_id}/votes"), headers=who, json=vote,
                                 timeout=10)
            assert cast.status_code in (200, 201), cast.text
        again = requests.post(system.url(f"/api/v1/meetings/polls/{poll_id}/votes"), headers=member, json=vote,
                              timeout=10)
        assert again.status_code in (200, 201), again.text  # a retry is the same vote, counted once
        refused = requests.post(system.url(f"/api/v1/meetings/polls/{poll_id}/votes"), headers=probationary,
                                json=vote, timeout=10)
        assert refused.status_code in (400, 403), refused.text
        closed = requests.post(system.url(f"/api/v1/meetings/polls/{poll_id}/close"), headers=secretary,
                               timeout=10)
        assert closed.status_code == 200, closed.text
        result = closed.json()["result"]
        # 23 official members, the exempt one absent: 22 in the denominator; 2 votes do not pass.
        assert (result["total"]["approve"], result["denominator"], result["needed"], result["passed"]) == (
            2, 22, 12, False)

        # Errors stay 4xx with a reason across services.
        missing = requests.get(system.url("/api/v1/meetings/00000000-0000-4000-8000-000000000000"),
                               headers=member, timeout=10)
        assert missing.status_code == 404 and missing.json()["error"]["reason"]
