"""The study-status page (gateway.web.study) over stand-in documents and identity stubs: whom it
is offered to, which unit and filter it asks the documents service for, what it shows of the
answer, and a refusal from the service as a page that says so."""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest
from flask import Flask

from gateway.web import session, staff, study
from sotay.documents.v1 import documents_pb2 as dpb
from sotay.identity.v1 import identity_pb2 as ipb
from tests.unit.gateway.test_errors import FakeRpcError
from tests.unit.gateway.test_web_staff import signed_in_as as staff_signed_in_as

UNITS = {
    "commune-1": ipb.Unit(id="commune-1", name="Đảng ủy xã Một", ancestor_ids=["root-1"]),
    "cell-1": ipb.Unit(id="cell-1", name="Chi bộ Khối 1", ancestor_ids=["root-1", "commune-1"]),
    "cell-2": ipb.Unit(id="cell-2", name="Chi bộ Khối 2", ancestor_ids=["root-1", "commune-1"]),
}


class Done:
    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


class Call:
    def __init__(self, answer: Any) -> None:
        self.answer, self.asked = answer, []

    def __call__(self, request: Any) -> Any:
        self.asked.append(request)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer(request) if callable(self.answer) else self.answer

    def future(self, request: Any) -> Done:
        return Done(self(request))


class Stubs:
    def __init__(self, status: Any) -> None:
        doc = dpb.Document(id="doc-1", status=dpb.DOCUMENT_STATUS_PUBLISHED,
                           metadata=dpb.DocumentMetadata(title="Nghị quyết số 5", number="05-NQ/ĐU"))
        self.GetDocument = Call(dpb.GetDocumentResponse(document=doc))
        self.ListStudyStatus = Call(status)
        self.GetUnit = Call(lambda r: ipb.GetUnitResponse(unit=UNITS[r.id]))
        self.ListUnits = Call(ipb.ListUnitsResponse(units=[UNITS["cell-1"], UNITS["cell-2"]]))


def entry(name: str, unit: str = "cell-1", at: int = 0) -> dpb.StudyEntry:
    done = dpb.StudyEntry(full_name=name, unit_id=unit, studied=bool(at))
    if at:
        done.studied_at.seconds = at
    return done


CELL_REPLY = dpb.ListStudyStatusResponse(
    entries=[entry("Nông Văn Chưa"), entry("Lý Thị Chưa")], total_members=25, total_studied=18,
    units=[dpb.UnitStudySummary(unit_id="cell-1", members=25, studied=18)], next_page_token="b2Oj",
)
COMMUNE_REPLY = dpb.ListStudyStatusResponse(
    entries=[entry("Nông Văn Chưa")], total_members=50, total_studied=30,
    units=[dpb.UnitStudySummary(unit_id="cell-2", members=25, studied=12),
           dpb.UnitStudySummary(unit_id="cell-1", members=25, studied=18)],
)


@pytest.fixture
def stubs(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(status: Any) -> Stubs:
        made = Stubs(status)
        monkeypatch.setattr(study, "documents", lambda: made)
        monkeypatch.setattr(study.clients, "identity", lambda: made)
        return made
    return install


def signed_in_as(monkeypatch: pytest.MonkeyPatch, *grants: tuple[str, str]) -> None:
    """As tests.unit.gateway.test_web_staff's, with a session not due for a refresh."""
    staff_signed_in_as(monkeypatch, *grants)
    token = session.current().access
    monkeypatch.setattr(session, "current", lambda: session.Session(
        access=token, refresh="refresh-token", expires_at=time.time() + 3600, unit_id="cell-1"))


def get(app: Flask, path: str) -> tuple[int, str]:
    reply = app.test_client().get(path, headers={"Accept-Language": "vi"})
    return reply.status_code, reply.get_data(as_text=True)


def test_a_plain_member_is_refused_before_any_call(
    app: Flask, monkeypatch: pytest.MonkeyPatch, stubs: Any
) -> None:
    made = stubs(CELL_REPLY)
    signed_in_as(monkeypatch)
    status, html = get(app, "/documents/doc-1/studied")
    assert status == 403 and "Chỉ chi ủy của chi bộ" in html
    assert made.ListStudyStatus.asked == []


def test_a_secretary_sees_the_cell_count_and_who_has_not(
    app: Flask, monkeypatch: pytest.MonkeyPatch, stubs: Any
) -> None:
    made = stubs(CELL_REPLY)
    signed_in_as(monkeypatch, ("cell_secretary", "cell-1"))
    status, html = get(app, "/documents/doc-1/studied")
    asked = made.ListStudyStatus.asked[0]
    assert (asked.unit_id, asked.filter, asked.page_token) == ("cell-1", dpb.STUDY_FILTER_NOT_STUDIED, "")
    assert status == 200 and "18/25 đảng viên đã học tập" in html
    assert "Nông Văn Chưa" in html and "Chưa học tập (7)" in html and "Đã học tập (18)" in html
    assert "page=b2Oj" in html and 'id="study-units"' not in html  # one cell: no table of units
    assert made.ListUnits.asked == []
    assert 'href="/documents/doc-1"' in html  # back to the member's page of the document


def test_the_switch_asks_for_who_has_with_the_day(
    app: Flask, monkeypatch: pytest.MonkeyPatch, stubs: Any
) -> None:
    made = stubs(dpb.ListStudyStatusResponse(entries=[entry("Hoàng Văn Đã", at=1_764_900_000)], total_members=25,
                                             total_studied=1))
    signed_in_as(monkeypatch, ("cell_deputy", "cell-1"))
    status, html = get(app, "/documents/doc-1/studied?show=done&page=b2Oj&unit=../x")
    asked = made.ListStudyStatus.asked[0]
    assert (asked.unit_id, asked.filter, asked.page_token) == ("cell-1", dpb.STUDY_FILTER_STUDIED, "b2Oj")
    assert status == 200 and "Hoàng Văn Đã" in html and "học tập ngày 05/12/2025" in html


def test_a_committee_sees_its_units_and_drills_into_one(
    app: Flask, monkeypatch: pytest.MonkeyPatch, stubs: Any
) -> None:
    stubs(COMMUNE_REPLY)
    signed_in_as(monkeypatch, ("editor", "commune-1"))
    status, html = get(app, "/documents/doc-1/studied")
    assert status == 200 and "30/50 đảng viên đã học tập" in html
    table = html.split('id="study-units"')[1].split("</table>")[0]
    assert table.index("Chi bộ Khối 1") < table.index("Chi bộ Khối 2")  # by name
    assert 'href="/documents/doc-1/studied?unit=cell-2"' in table
    assert 'href="/committee/documents/doc-1?unit=commune-1"' in html  # back to the committee's page

    stubs(CELL_REPLY)
    status, html = get(app, "/documents/doc-1/studied?unit=cell-1")
    assert status == 200 and "Quay lại tình hình học tập của Đảng ủy xã Một" in html
    assert 'href="/documents/doc-1/studied?unit=commune-1"' in html


def test_a_unit_too_large_to_name_shows_its_children_without_names(
    app: Flask, monkeypatch: pytest.MonkeyPatch, stubs: Any
) -> None:
    made = stubs(dpb.ListStudyStatusResponse(
        total_members=240_000, total_studied=150_000, by_child_unit=True,
        units=[dpb.UnitStudySummary(unit_id="cell-1", members=120_000, studied=90_000),
               dpb.UnitStudySummary(unit_id="cell-2", members=120_000, studied=60_000)]))
    signed_in_as(monkeypatch, ("editor", "commune-1"))
    status, html = get(app, "/documents/doc-1/studied")
    assert status == 200 and "150000/240000 đảng viên đã học tập" in html
    assert 'href="/documents/doc-1/studied?unit=cell-2"' in html and "Quá nhiều đảng viên để liệt kê tên" in html
    assert 'id="study-names"' not in html and "Chưa học tập (" not in html
    assert [(r.parent_id, r.subtree) for r in made.ListUnits.asked] == [("commune-1", False)]  # the children only

    stubs(FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, "addressed to part of it"))
    status, html = get(app, "/documents/doc-1/studied")
    assert status == 400 and "hãy mở từng đơn vị trực thuộc" in html


def test_a_refusal_of_the_service_is_a_page_that_says_so(
    app: Flask, monkeypatch: pytest.MonkeyPatch, stubs: Any
) -> None:
    stubs(FakeRpcError(grpc.StatusCode.PERMISSION_DENIED, "needs an officer role"))
    signed_in_as(monkeypatch, ("cell_committee", "cell-1"))
    status, html = get(app, "/documents/doc-1/studied?unit=cell-2")
    assert status == 403 and "không theo dõi việc học tập của đơn vị này" in html


def test_the_home_unit_is_the_nearest_one_followed(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    assert study.home_unit(UNITS["cell-1"], ["commune-1"]) == "commune-1"
    assert study.home_unit(UNITS["cell-1"], ["commune-1", "cell-1"]) == "cell-1"
    assert study.home_unit(UNITS["cell-2"], ["cell-1"]) == "cell-1"
    signed_in_as(monkeypatch, ("editor", "commune-1"), ("cell_secretary", "cell-1"), ("admin", "commune-1"))
    with app.test_request_context("/"):
        assert staff.study_units() == ["cell-1", "commune-1"]
