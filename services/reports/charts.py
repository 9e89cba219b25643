"""The review's charts, one model drawn two ways: SVG for the web page (no script; a <title>, a
<desc> and a text table beside it for screen readers) and PNG for the DOCX report (Pillow).

A chart is a list of bars, each a value out of a whole, drawn as horizontal bars (rates) or as
columns (counts per month)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from html import escape
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from services.reports.figures import Report, percent

COLOURS = ("#b71c1c", "#1565c0", "#2e7d32", "#6a1b9a")


@dataclass(frozen=True)
class Series:
    label: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    desc: str
    labels: tuple[str, ...]  # one per bar group
    series: tuple[Series, ...]
    unit: str  # "%" or ""
    columns: bool = False  # columns (months) instead of horizontal bars

    @property
    def top(self) -> float:
        if self.unit == "%":
            return 100.0
        return max([1.0, *(v for s in self.series for v in s.values)])

    def value_text(self, value: float) -> str:
        return f"{value:g}{self.unit}" if self.unit else f"{value:g}"


@dataclass(frozen=True)
class Figures:
    """What the charts show, from a figures.Report (the DOCX) or a GetReportResponse (the web)."""

    unit_name: str
    period_label: str
    rates: tuple[float, float, float, float, float, float]  # activated, active, attendance, study, read, on time
    rollout_cells: int
    rollout_exempt_cells: int
    cells: tuple[int, int, int, int, int]  # using, part 1, part 2, part 3, all three
    months: dict[str, tuple[int, int]]  # 'YYYY-MM' -> (held, all three), every month of the period


def of_report(r: Report) -> list[Chart]:
    s = r.meetings
    held = {month: (counts.held, counts.all_three) for month, counts in r.months}
    return of_figures(Figures(
        r.unit_name, r.period.label,
        (r.adoption.activated_percent, r.adoption.active_percent, s.meetings.attendance_percent, r.study_percent,
         r.bulletins.read_percent, r.tasks.on_time_percent),
        s.rollout_cells, s.rollout_exempt_cells,
        (s.cells_using, s.cells_part1, s.cells_part2, s.cells_part3, s.cells_all_three), held,
    ))


def of_figures(f: Figures) -> list[Chart]:
    rates = Chart(
        "rates",
        "Tỷ lệ chính",
        f"Các tỷ lệ của {f.unit_name}, {f.period_label}",
        ("Đã kích hoạt", "Đăng nhập trong kỳ", "Dự sinh hoạt", "Học tập văn bản", "Đọc thông báo",
         "Nhiệm vụ đúng hạn"),
        (Series("Tỷ lệ", f.rates),),
        "%",
    )
    parts = Chart(
        "parts",
        "Chi bộ thực hiện 3 phần",
        f"Trong {f.rollout_cells} chi bộ triển khai (không kể {f.rollout_exempt_cells} chi bộ miễn)",
        ("Sinh hoạt trên nền tảng", "Phần 1", "Phần 2", "Phần 3", "Đủ 3 phần"),
        (Series("Tỷ lệ chi bộ", tuple(percent(n, f.rollout_cells) for n in f.cells)),),
        "%",
    )
    months = Chart(
        "months",
        "Cuộc họp theo tháng",
        "Cuộc họp trên nền tảng và cuộc họp đủ 3 phần, theo tháng"
        + (f" năm {next(iter(f.months))[:4]}" if len({m[:4] for m in f.months}) == 1 else ""),
        tuple(m[5:] if len({m[:4] for m in f.months}) == 1 else f"{m[5:]}/{m[2:4]}" for m in f.months),
        (Series("Cuộc họp", tuple(v[0] for v in f.months.values())),
         Series("Đủ 3 phần", tuple(v[1] for v in f.months.values()))),
        "",
        columns=True,
    )
    return [rates, parts, months]


# ---------- SVG ----------
# No viewBox: the drawing takes the page's width (x in %) and keeps its text at the page's size, so
# labels stay readable on a 320 px phone instead of shrinking with the picture.


def _svg_open(chart: Chart, height: int) -> str:
    k = chart.key
    return (f'<svg width="100%" height="{height}" role="img" aria-labelledby="{k}-t {k}-d" class="chart" '
            f'xmlns="http://www.w3.org/2000/svg"><title id="{k}-t">{escape(chart.title)}</title>'
            f'<desc id="{k}-d">{escape(chart.desc)}</desc>')


def _pc(value: float) -> str:
    return f"{round(value, 2):g}%"


def svg(chart: Chart) -> str:
    """Inline SVG: role=img, <title> and <desc>; values are written on the bars as text too.
    Horizontal bars: each label on its own line above its bars, so a long label never squeezes them."""
    if chart.columns:
        return _svg_columns(chart)
    label, bar, gap, reach = 19, 16, 10, 82.0  # px, px, px, % of the width the longest bar may take
    group = label + bar * len(chart.series) + gap
    out = [_svg_open(chart, len(chart.labels) * group)]
    for i, text in enumerate(chart.labels):
        y = i * group
        out.append(f'<text x="0" y="{y + 13}">{escape(text)}</text>')
        for k, series in enumerate(chart.series):
            value = series.values[i]
            w = reach * value / chart.top
            yy = y + label + k * bar
            out.append(f'<rect x="0" y="{yy}" width="{_pc(w)}" height="{bar - 3}" fill="{COLOURS[k % 4]}"/>')
            out.append(f'<text x="{_pc(w + 1.5)}" y="{yy + bar - 5}">{escape(chart.value_text(value))}</text>')
    out.append("</svg>")
    return "".join(out)


def _svg_columns(chart: Chart) -> str:
    n = max(1, len(chart.labels))
    few = n <= 6  # values are written on the columns only when they fit (the table has them all)
    every = 1 if n <= 6 or max(len(x) for x in chart.labels) <= 2 else -(-n // 6)  # long labels: every k-th
    base, plot, left = 150, 120, 2.0  # px, px, %
    group = (100 - left) / n  # % per label
    col = group * 0.72 / len(chart.series)
    out = [_svg_open(chart, base + 46), f'<line x1="0" y1="{base}" x2="100%" y2="{base}" stroke="#555"/>']
    for i, text in enumerate(chart.labels):
        x = left + i * group
        for k, series in enumerate(chart.series):
            value = series.values[i]
            h = round(plot * value / chart.top, 1)
            xx = x + k * col
            out.append(f'<rect x="{_pc(xx)}" y="{base - h}" width="{_pc(col * 0.9)}" height="{h}" '
                       f'fill="{COLOURS[k % 4]}"/>')
            if few:
                out.append(f'<text x="{_pc(xx + col * 0.45)}" y="{base - h - 3}" text-anchor="middle" '
                           f'font-size="11">{escape(chart.value_text(value))}</text>')
        if i % every == 0:
            out.append(f'<text x="{_pc(x + col * len(chart.series) / 2)}" y="{base + 15}" '
                       f'text-anchor="middle" font-size="11">{escape(text)}</text>')
    for k, series in enumerate(chart.series):
        out.append(f'<rect x="{_pc(k * 50)}" y="{base + 30}" width="11" height="11" fill="{COLOURS[k % 4]}"/>'
                   f'<text x="{_pc(k * 50)}" dx="16" y="{base + 40}">{escape(series.label)}</text>')
    out.append("</svg>")
    return "".join(out)


# ---------- PNG (for the DOCX report) ----------

FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_FILES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def png(chart: Chart, scale: int = 2) -> bytes:
    """The chart as a PNG (drawn at `scale` for print)."""
    font, small = _font(13 * scale), _font(11 * scale)
    s = scale
    if chart.columns:
        n = max(1, len(chart.labels))
        group = (22 * len(chart.series) + 12) * s
        width, height, base, plot = max(40 * s + n * group, 300 * s), 260 * s, 200 * s, 170 * s
        image = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(image)
        draw.line((30 * s, base, width, base), fill="#555555", width=s)
        for i, label in enumerate(chart.labels):
            x = 34 * s + i * group
            for k, series in enumerate(chart.series):
                value = series.values[i]
                h = plot * value / chart.top
                xx = x + k * 22 * s
                draw.rectangle((xx, base - h, xx + 20 * s, base), fill=COLOURS[k % 4])
                draw.text((xx + 10 * s, base - h - 2 * s), chart.value_text(value), fill="black", font=small,
                          anchor="md")
            draw.text((x + group / 2 - 6 * s, base + 4 * s), label, fill="black", font=small, anchor="ma")
        for k, series in enumerate(chart.series):
            x = 34 * s + k * 120 * s
            draw.rectangle((x, base + 30 * s, x + 12 * s, base + 42 * s), fill=COLOURS[k % 4])
            draw.text((x + 18 * s, base + 28 * s), series.label, fill="black", font=small)
    else:
        bar, gap, left, plot = 18 * s, 10 * s, 190 * s, 320 * s
        group = bar * len(chart.series) + gap
        width, height = left + plot + 70 * s, len(chart.labels) * group + 20 * s
        image = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(image)
        for i, label in enumerate(chart.labels):
            y = 10 * s + i * group
            draw.text((left - 8 * s, y + bar / 2), label, fill="black", font=font, anchor="rm")
            for k, series in enumerate(chart.series):
                value = series.values[i]
                w = plot * value / chart.top
                yy = y + k * bar
                draw.rectangle((left, yy, left + max(w, 1), yy + bar - 3 * s), fill=COLOURS[k % 4])
                draw.text((left + w + 4 * s, yy + bar / 2), chart.value_text(value), fill="black", font=small,
                          anchor="lm")
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
