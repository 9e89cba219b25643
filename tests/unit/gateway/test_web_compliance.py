"""The committee's compliance page leaves the cells exempt from the rollout out of its totals, as
the review report does, and still shows when the reports service cannot say which cells are exempt."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from flask import Flask

from gateway.web import committee, session
from sotay.identity.v1 import identity_pb2 as ipb
from sotay.meetings.v1 import meetings_pb2 as mpb
from sotay.reports.v1 import reports_pb2 as rpb
from tests.unit.gateway.test_errors import FakeRpcError
from tests.unit.gateway.test_web_staff import signed_in_as


def row(cell: str, meetings: int, *parts: bool) -> mpb.CellCompliance:
    p1, p2, p3 = parts
    return mpb.CellCompliance(cell_unit_id=cell, cell_name=cell, meetings=meetings, part1_documents=p1,
                              part2_meeting=p2, part3_follow_up=p3, all_three_parts=p1 and p2 and p3)


TOTALS = mpb.ComplianceTotals(cells=13, cells_using_platform=12, cells_part1=9, cells_part2=8, cells_part3=5,
                              cells_all_three_parts=4, meetings=15)


def test_an_idle_exempt_cell_leaves_only_the_denominator() -> None:
    # The report's example: 12 of 13 cells meet; the police cell does not, and is exempt.
    counted = committee.without_exempt(TOTALS, [row("police", 0, False, False, False)])
    assert (counted.totals.cells, counted.exempt, counted.rollout_cells) == (13, 1, 12)
    t = counted.totals
    assert (t.cells_using_platform, t.cells_all_three_parts, t.meetings) == (12, 4, 15)
    assert counted.percent(t.cells_using_platform) == 100


def test_an_exempt_cell_that_met_leaves_its_parts_and_meetings_out_once() -> None:
    done = row("army", 2, True, True, True)
    counted = committee.without_exempt(TOTALS, [done, done, row("police", 0, False, False, False)])
    assert (counted.exempt, counted.rollout_cells) == (2, 11)
    t = counted.totals
    assert (t.cells_using_platform, t.cells_part1, t.cells_part2, t.cells_part3) == (11, 8, 7, 4)
    assert (t.cells_all_three_parts, t.meetings) == (3, 13)
    assert counted.percent(t.cells_all_three_parts) == 27


def test_with_no_exemption_the_totals_stand_and_an_all_exempt_unit_has_no_percent() -> None:
    counted = committee.without_exempt(TOTALS, [])
    assert (counted.rollout_cells, counted.totals.cells_using_platform, counted.totals.cells_part3) == (13, 12, 5)
    alone = committee.without_exempt(mpb.ComplianceTotals(cells=1), [row("police", 0, False, False, False)])
    assert alone.rollout_cells == 0 and alone.percent(alone.totals.cells_using_platform) is None


class Reports:
    def __init__(self, pages: list[Any]) -> None:
        self.pages, self.asked = pages, []

    def ListCellExemptions(self, request: rpb.ListCellExemptionsRequest) -> rpb.ListCellExemptionsResponse:
        self.asked.append(request.page_token)
        page = self.pages.pop(0)
        if isinstance(page, Exception):
            raise page
        return page


def test_exemptions_follow_the_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    stub = Reports([
        rpb.ListCellExemptionsResponse(exemptions=[rpb.CellExemption(unit_id="a", reason="x")], next_page_token="t"),
        rpb.ListCellExemptionsResponse(exemptions=[rpb.CellExemption(unit_id="b", reason="y")]),
    ])
    monkeypatch.setattr(committee, "reports", lambda: stub)
    found = committee.exemptions("commune")
    assert found is not None and [e.unit_id for e in found] == ["a", "b"]
    assert stub.asked == ["", "t"]


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                  grpc.StatusCode.PERMISSION_DENIED])
def test_exemptions_unknown_when_the_reports_service_fails(monkeypatch: pytest.MonkeyPatch,
                                                           code: grpc.StatusCode) -> None:
    monkeypatch.setattr(committee, "reports", lambda: Reports([FakeRpcError(code, "down")]))
    assert committee.exemptions("commune") is None


def test_a_lapsed_session_is_not_hidden_as_a_missing_list(monkeypatch: pytest.MonkeyPatch) -> None:
    expired = FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "expired")
    monkeypatch.setattr(committee, "reports", lambda: Reports([expired]))
    with pytest.raises(grpc.RpcError):
        committee.exemptions("commune")


class Meetings:
    """GetComplianceReport of a commune with a met cell and an idle police cell."""

    def __init__(self) -> None:
        self.cells = [row("cell-a", 1, True, True, True), row("police", 0, False, False, False)]

    def GetComplianceReport(self, request: mpb.GetComplianceReportRequest) -> mpb.GetComplianceReportResponse:
        cells = [c for c in self.cells if request.unit_id in ("commune", c.cell_unit_id)]
        return mpb.GetComplianceReportResponse(totals=mpb.ComplianceTotals(
            cells=len(cells), cells_using_platform=sum(1 for c in cells if c.meetings),
            cells_all_three_parts=sum(1 for c in cells if c.all_three_parts)), cells=cells)


def compliance_page(app: Flask, monkeypatch: pytest.MonkeyPatch, reports: Reports) -> str:
    signed_in_as(monkeypatch, ("admin", "commune"))
    monkeypatch.setattr(session, "fresh_access_token", lambda me: me.access)
    unit = ipb.Unit(id="commune", name="Đảng ủy xã")
    monkeypatch.setattr(committee, "place", lambda: committee.Place(unit, [unit]))
    monkeypatch.setattr(committee, "meetings", Meetings)
    monkeypatch.setattr(committee, "reports", lambda: reports)
    reply = app.test_client().get("/committee/compliance?unit=commune")
    assert reply.status_code == 200
    return reply.get_data(as_text=True)


def test_the_page_counts_the_police_cell_apart(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = rpb.ListCellExemptionsResponse(exemptions=[rpb.CellExemption(unit_id="police", reason="Công an xã")])
    html = compliance_page(app, monkeypatch, Reports([listed]))
    assert "1/1 chi bộ (không tính 1 chi bộ được miễn)" in html
    assert "Miễn triển khai</strong>: Công an xã" in html


def test_the_page_shows_without_the_reports_service(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    html = compliance_page(app, monkeypatch, Reports([FakeRpcError(grpc.StatusCode.UNAVAILABLE, "down")]))
    assert "Chưa tải được danh sách chi bộ miễn triển khai" in html
    assert "1/2 chi bộ" in html and "Miễn triển khai" not in html
