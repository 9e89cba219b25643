"""The workbook stores text XLSX cannot hold (control characters in a unit name) without failing."""

from __future__ import annotations

import io

import openpyxl

from services.reports import figures, periods, workbook


def test_control_characters_are_dropped_not_fatal() -> None:
    report = figures.Report(
        periods.parse("2024"), "u", "Tỉnh\x01 ủy", figures.Membership(members=3), figures.Adoption(),
        figures.MeetingsSummary(), [figures.CellRow("c", "Chi\x02 bộ 1", "Đảng ủy\x03")], [], [], [], 0,
        figures.FeedbackCounts(),
    )
    wb = openpyxl.load_workbook(io.BytesIO(workbook.render(report)))
    summary = {row[0]: row[1] for row in wb["Tổng hợp"].iter_rows(min_row=2, values_only=True)}
    assert summary["Đơn vị"] == "Tỉnh ủy" and summary["Đảng viên"] == 3 and summary["Kỳ báo cáo"] == "năm 2024"
    assert [c.value for c in wb["Chi bộ"][2][:2]] == ["Chi bộ 1", "Đảng ủy"]
