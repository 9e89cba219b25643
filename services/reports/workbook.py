"""The report as an XLSX workbook: one sheet per table, numbers as numbers (openpyxl)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from services.reports.figures import MeetingCounts, Report

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Cell = str | int | float
MEETING_HEADERS = ["Số cuộc họp", "Phần 1", "Phần 2", "Phần 3", "Đủ 3 phần", "Có mặt", "Triệu tập", "Tỷ lệ dự họp (%)"]


def _meetings(m: MeetingCounts) -> list[Cell]:
    return [m.held, m.part1, m.part2, m.part3, m.all_three, m.attended, m.expected, m.attendance_percent]


def _sheet(wb: openpyxl.Workbook, title: str, headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> None:
    """A sheet streamed row by row (write-only: a province's 115,000 cell-months stay fast)."""
    ws = wb.create_sheet(title)
    ws.freeze_panes = "A2"
    for i, header in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(10, min(40, len(header) + 2))
    bold = Font(bold=True)
    top = []
    for header in headers:
        cell = WriteOnlyCell(ws, value=header)
        cell.font = bold
        top.append(cell)
    ws.append(top)
    for row in rows:  # control characters (which a unit name may hold) cannot be stored in XLSX
        ws.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in row])


def summary_rows(r: Report) -> list[tuple[str, Cell]]:
    m, a, s = r.membership, r.adoption, r.meetings
    return [
        ("Đơn vị", r.unit_name),
        ("Kỳ báo cáo", r.period.label),
        ("Đảng viên", m.members),
        ("Đảng viên chính thức", m.official),
        ("Đảng viên dự bị", m.probationary),
        ("Miễn công tác và sinh hoạt đảng", m.exempt),
        ("Đảng viên nam", m.male),
        ("Đảng viên nữ", m.female),
        ("Đã kích hoạt (cài đặt, sử dụng)", a.activated),
        ("Tỷ lệ kích hoạt (%)", a.activated_percent),
        ("Đăng nhập trong kỳ", a.active),
        ("Tỷ lệ đăng nhập trong kỳ (%)", a.active_percent),
        ("Chi bộ", s.cells),
        ("Chi bộ không triển khai (miễn)", s.rollout_exempt_cells),
        ("Chi bộ triển khai", s.rollout_cells),
        ("Chi bộ sinh hoạt trên nền tảng", s.cells_using),
        ("Chi bộ thực hiện phần 1 (gửi tài liệu trước)", s.cells_part1),
        ("Chi bộ thực hiện phần 2 (điểm danh, đánh giá, biểu quyết)", s.cells_part2),
        ("Chi bộ thực hiện phần 3 (đưa nghị quyết, giao nhiệm vụ)", s.cells_part3),
        ("Chi bộ thực hiện đủ 3 phần", s.cells_all_three),
        ("Cuộc họp trên nền tảng", s.meetings.held),
        ("Cuộc họp đủ 3 phần", s.meetings.all_three),
        ("Tỷ lệ dự họp (%)", s.meetings.attendance_percent),
        ("Văn bản đăng tải", r.documents_posted),
        ("Đảng viên học tập", r.studied_members),
        ("Tỷ lệ học tập (%)", r.study_percent),
        ("Phản ánh, kiến nghị nhận", r.feedback.received),
        ("Phản ánh, kiến nghị đã trả lời", r.feedback.answered),
        ("Phản ánh, kiến nghị chuyển lên cấp trên", r.feedback.escalated),
        ("Thông báo nội bộ", r.bulletins.bulletins),
        ("Lượt đọc thông báo", r.bulletins.read),
        ("Lượt đọc cần có", r.bulletins.expected),
        ("Tỷ lệ đọc thông báo (%)", r.bulletins.read_percent),
        ("Nhiệm vụ đến hạn", r.tasks.due),
        ("Nhiệm vụ hoàn thành đúng hạn", r.tasks.on_time),
        ("Nhiệm vụ hoàn thành trễ hạn", r.tasks.late),
        ("Nhiệm vụ quá hạn chưa xong", r.tasks.overdue),
        ("Tỷ lệ đúng hạn (%)", r.tasks.on_time_percent),
    ]


def render(r: Report) -> bytes:
    wb = openpyxl.Workbook(write_only=True)
    _sheet(wb, "Tổng hợp", ["Chỉ tiêu", "Số liệu"], summary_rows(r))
    names = {c.unit_id: c.name for c in r.cells}
    _sheet(
        wb,
        "Chi bộ",
        [
            "Chi bộ", "Trực thuộc", "Không triển khai (lý do)", "Đảng viên", "Chính thức", "Dự bị", "Miễn sinh hoạt",
            "Nam", "Nữ", "Đã kích hoạt", "Đăng nhập trong kỳ", "Tỷ lệ kích hoạt (%)", *MEETING_HEADERS,
            "Đủ 3 phần", "Đảng viên học tập", "Phản ánh nhận", "Đã trả lời", "Chuyển lên",
            "Tỷ lệ đọc thông báo (%)", "Nhiệm vụ đến hạn", "Đúng hạn", "Tỷ lệ đúng hạn (%)",
        ],
        [
            [
                c.name, c.parent_name, c.exempt_reason or "", c.membership.members, c.membership.official,
                c.membership.probationary, c.membership.exempt, c.membership.male, c.membership.female,
                c.adoption.activated, c.adoption.active, c.adoption.activated_percent, *_meetings(c.meetings),
                "Có" if c.did("all_three") else "Không", c.studied_members, c.feedback.received,
                c.feedback.answered, c.feedback.escalated, c.bulletins.read_percent, c.tasks.due, c.tasks.on_time,
                c.tasks.on_time_percent,
            ]
            for c in r.cells
        ],
    )
    _sheet(
        wb,
        "Sinh hoạt theo tháng",
        ["Chi bộ", "Tháng", *MEETING_HEADERS],
        ([names.get(unit_id, unit_id), month, *_meetings(m)] for unit_id, month, m in r.cell_months),
    )
    _sheet(wb, "Văn bản", ["Đơn vị", "Văn bản đăng tải"],
           [[name, n] for _, name, n in r.documents_by_unit])
    _sheet(
        wb,
        "Học tập",
        ["Loại", "Văn bản đăng tải", "Lượt học tập", "Đảng viên học tập", "Tỷ lệ (%)"],
        [[c.category, c.documents_posted, c.study_marks, c.studied_members, c.study_percent] for c in r.categories],
    )
    _sheet(
        wb,
        "Thông báo",
        ["Loại", "Thông báo", "Lượt đọc cần có", "Lượt đọc", "Tỷ lệ đọc (%)"],
        [[k, b.bulletins, b.expected, b.read, b.read_percent] for k, b in r.bulletin_kinds],
    )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
