"""The review report (báo cáo sơ kết) as a DOCX document in the usual layout (python-docx):

  heading block   the superior committee and the issuing committee, "*", the number (Số …-BC/…)
                  on the left; "ĐẢNG CỘNG SẢN VIỆT NAM" and "<place>, ngày … tháng … năm …" right
  title           BÁO CÁO / Sơ kết việc triển khai Nền tảng số Sổ tay Đảng viên, <period>
  I–IV            the situation, the results (figures filled in: sentences, tables, charts as
                  PNG), the assessment and the proposals — the committee's own text left as
                  editable paragraphs marked "[…]" to replace.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.table import Table
from docx.text.paragraph import Paragraph

from services.core.days import CALENDAR
from services.core.errors import InvalidArgument
from services.reports import charts
from services.reports.figures import Report

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MAX_HEADING = 200
TO_EDIT = "[Nội dung do cấp ủy bổ sung.]"


@dataclass(frozen=True)
class Heading:
    committee: str = ""
    number: str = ""
    place: str = ""

    def check(self) -> None:
        for name in ("committee", "number", "place"):
            if len(getattr(self, name)) > MAX_HEADING:
                raise InvalidArgument("text_too_long", f"{name} has at most {MAX_HEADING} characters", field=name)


def _clean(text: str) -> str:
    """XML cannot hold control characters (a unit name may)."""
    return "".join(ch for ch in text if ch in "\t\n" or ord(ch) >= 32)


def _para(doc: object, text: str = "", *, bold: bool = False, italic: bool = False, size: int = 14,
          align: WD_ALIGN_PARAGRAPH | None = None, indent: bool = True) -> Paragraph:
    p: Paragraph = doc.add_paragraph()  # type: ignore[attr-defined]
    if align is not None:
        p.alignment = align
    elif indent:
        p.paragraph_format.first_line_indent = Cm(1)
        p.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    if text:
        run = p.add_run(_clean(text))
        run.bold, run.italic, run.font.size = bold, italic, Pt(size)
    return p


def _table(doc: object, headers: list[str], rows: list[list[object]]) -> Table:
    table: Table = doc.add_table(rows=1, cols=len(headers))  # type: ignore[attr-defined]
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, headers, strict=True):
        cell.text = ""
        run = cell.paragraphs[0].add_run(text)
        run.bold, run.font.size = True, Pt(11)
    for row in rows:
        cells = table.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            cell.text = ""
            run = cell.paragraphs[0].add_run(_clean(f"{value:g}" if isinstance(value, float) else str(value)))
            run.font.size = Pt(11)
    return table


def _chart(doc: object, chart: charts.Chart) -> None:
    _para(doc, chart.title, bold=True, size=12, align=WD_ALIGN_PARAGRAPH.CENTER)
    doc.add_picture(io.BytesIO(charts.png(chart)), width=Cm(15))  # type: ignore[attr-defined]
    doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER  # type: ignore[attr-defined]
    _para(doc, chart.desc, italic=True, size=11, align=WD_ALIGN_PARAGRAPH.CENTER)


def _heading_block(doc: object, r: Report, h: Heading, today: dt.date) -> None:
    table: Table = doc.add_table(rows=1, cols=2)  # type: ignore[attr-defined]
    left, right = table.rows[0].cells
    committee = (h.committee or r.unit_name).upper()
    lines_left = [(committee, True), ("*", False), (f"Số {h.number or '   -BC/ĐU'}", False)]
    place = h.place or "……"
    lines_right = [("ĐẢNG CỘNG SẢN VIỆT NAM", True), ("", False),
                   (f"{place}, ngày {today.day:02d} tháng {today.month} năm {today.year}", False)]
    for cell, lines in ((left, lines_left), (right, lines_right)):
        cell.text = ""
        for i, (text, bold) in enumerate(lines):
            p = cell.paragraphs[0] if i == 0 else cell.add_paragraph()
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run = p.add_run(_clean(text))
            run.bold, run.font.size = bold, Pt(13)
            run.italic = cell is right and i == 2


def render(r: Report, heading: Heading, today: dt.date | None = None) -> bytes:
    today = today or dt.datetime.now(CALENDAR).date()
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"
    style.element.rPr.rFonts.set(qn("w:eastAsia"), "Times New Roman")
    style.font.size = Pt(14)
    for section in doc.sections:
        section.left_margin, section.right_margin = Cm(3), Cm(2)
        section.top_margin, section.bottom_margin = Cm(2), Cm(2)
    _heading_block(doc, r, heading, today)
    _para(doc, "BÁO CÁO", bold=True, size=16, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(doc, f"Sơ kết việc triển khai Nền tảng số Sổ tay Đảng viên, {r.period.label}", bold=True,
          align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(doc, "[Căn cứ văn bản chỉ đạo của cấp trên …] " + f"{r.unit_name} báo cáo kết quả như sau:")

    m, a, s = r.membership, r.adoption, r.meetings
    _para(doc, "I. TÌNH HÌNH CHUNG", bold=True, indent=False)
    _para(doc, "1. Về hệ thống tổ chức đảng, đội ngũ đảng viên", bold=True)
    _para(doc, f"{r.unit_name} hiện nay có {s.cells} chi bộ với {m.members} đảng viên. Trong đó: đảng viên chính "
               f"thức {m.official} đồng chí, đảng viên dự bị {m.probationary} đồng chí; đảng viên nam {m.male} "
               f"đồng chí, đảng viên nữ {m.female} đồng chí; miễn công tác và sinh hoạt đảng {m.exempt} đồng chí.")
    _para(doc, "2. Công tác lãnh đạo, chỉ đạo, tổ chức thực hiện", bold=True)
    _para(doc, TO_EDIT)

    _para(doc, "II. KẾT QUẢ ỨNG DỤNG NỀN TẢNG SỐ", bold=True, indent=False)
    _para(doc, "1. Cài đặt, sử dụng", bold=True)
    _para(doc, f"Toàn đảng bộ có {a.activated}/{a.members} đảng viên đã cài đặt, khai thác, sử dụng, đạt "
               f"{a.activated_percent:g}%; {a.active} đảng viên đăng nhập trong kỳ ({a.active_percent:g}%).")
    _para(doc, "2. Áp dụng Nền tảng số trong sinh hoạt chi bộ", bold=True)
    exempt = [c for c in r.cells if c.rollout_exempt]
    note = "; ".join(f"{c.name} không triển khai: {c.exempt_reason}" for c in exempt)
    _para(doc, f"Số chi bộ triển khai sinh hoạt trên nền tảng: {s.cells_using}/{s.rollout_cells}"
               + (f" ({note})" if note else "") + f"; trong đó {s.cells_all_three}/{s.rollout_cells} chi bộ thực "
               "hiện đủ 3 phần (gửi tài liệu họp trước khi tổ chức sinh hoạt; điểm danh, đánh giá cuộc họp, biểu "
               "quyết thông qua nghị quyết; đưa nghị quyết lên ứng dụng, giao nhiệm vụ). "
               f"Có {s.meetings.held} cuộc họp trên nền tảng, {s.meetings.all_three} cuộc đủ 3 phần; tỷ lệ đảng "
               f"viên dự sinh hoạt {s.meetings.attendance_percent:g}%.")
    parts, rates, months = charts.of_report(r)[1], charts.of_report(r)[0], charts.of_report(r)[2]
    _chart(doc, parts)
    _chart(doc, months)
    if len(r.cells) <= 300:
        _para(doc, "Kết quả theo chi bộ:", italic=True)
        _table(doc, ["Chi bộ", "Đảng viên", "Đã kích hoạt", "Cuộc họp", "Đủ 3 phần", "Dự họp (%)", "Ghi chú"], [
            [c.name, c.membership.members, c.adoption.activated, c.meetings.held,
             "Có" if c.did("all_three") else "Không", c.meetings.attendance_percent,
             f"Không triển khai: {c.exempt_reason}" if c.rollout_exempt else ""]
            for c in r.cells
        ])
    else:
        _para(doc, f"Kết quả của {len(r.cells)} chi bộ: xem bảng tính (XLSX) kèm theo.", italic=True)
    _para(doc, "3. Đăng tải văn bản, học tập nghị quyết, thông báo nội bộ, phản ánh, kiến nghị", bold=True)
    _para(doc, f"Trong kỳ đã đăng tải {r.documents_posted} văn bản; {r.studied_members} đảng viên đã học tập "
               f"({r.study_percent:g}%). Thông báo nội bộ: {r.bulletins.bulletins} thông báo, tỷ lệ đọc "
               f"{r.bulletins.read_percent:g}%. Phản ánh, kiến nghị: nhận {r.feedback.received}, đã trả lời "
               f"{r.feedback.answered}, chuyển lên cấp trên {r.feedback.escalated}. Nhiệm vụ đến hạn trong kỳ: "
               f"{r.tasks.due}, hoàn thành đúng hạn {r.tasks.on_time} ({r.tasks.on_time_percent:g}%).")
    _table(doc, ["Loại văn bản", "Đăng tải", "Lượt học tập", "Đảng viên học tập", "Tỷ lệ (%)"], [
        [c.category, c.documents_posted, c.study_marks, c.studied_members, c.study_percent] for c in r.categories
    ])
    _chart(doc, rates)

    _para(doc, "III. ĐÁNH GIÁ CHUNG", bold=True, indent=False)
    for title in ("1. Ưu điểm", "2. Hạn chế, nguyên nhân", "3. Phương hướng, nhiệm vụ, giải pháp thời gian tới"):
        _para(doc, title, bold=True)
        _para(doc, TO_EDIT)
    _para(doc, "IV. ĐỀ XUẤT, KIẾN NGHỊ", bold=True, indent=False)
    _para(doc, TO_EDIT)
    signature: Table = doc.add_table(rows=1, cols=2)
    left, right = signature.rows[0].cells
    left.text = "Nơi nhận:\n- …;\n- Lưu."
    right.text = ""
    p = right.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.add_run("T/M ĐẢNG ỦY\n").bold = True
    p.add_run("[chức vụ, họ và tên người ký]")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
