"""The report as an XLSX workbook: one sheet per table, numbers as numbers (xlsx.py)."""

from __future__ import annotations

from services.reports.figures import MeetingCounts, Report
from services.reports.xlsx import Workbook

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Cell = str | int | float
MEETING_HEADERS = ["Số cuộc họp", "Phần 1", "Phần 2", "Phần 3", "Đủ 3 phần", "Có mặt", "Triệu tập", "Tỷ lệ dự họp (%)"]


def _meetings(m: MeetingCounts) -> list[Cell]:
    return [m.held, m.part1, m.part2, m.part3, m.all_three, m.attended, m.expected, m.attendance_percent]


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
    wb = Workbook()
    wb.sheet("Tổng hợp", ["Chỉ tiêu", "Số liệu"], summary_rows(r))
    names = {c.unit_id: c.name for c in r.cells}
    wb.sheet(
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
    wb.sheet(
        "Sinh hoạt theo tháng",
        ["Chi bộ", "Tháng", *MEETING_HEADERS],
        ([names.get(unit_id, unit_id), month, *_meetings(m)] for unit_id, month, m in r.cell_months),
    )
    wb.sheet("Văn bản", ["Đơn vị", "Văn bản đăng tải"],
           [[name, n] for _, name, n in r.documents_by_unit])
    wb.sheet(
        "Học tập",
        ["Loại", "Văn bản đăng tải", "Lượt học tập", "Đảng viên học tập", "Tỷ lệ (%)"],
        [[c.category, c.documents_posted, c.study_marks, c.studied_members, c.study_percent] for c in r.categories],
    )
    wb.sheet(
        "Thông báo",
        ["Loại", "Thông báo", "Lượt đọc cần có", "Lượt đọc", "Tỷ lệ đọc (%)"],
        [[k, b.bulletins, b.expected, b.read, b.read_percent] for k, b in r.bulletin_kinds],
    )
    return wb.save()
