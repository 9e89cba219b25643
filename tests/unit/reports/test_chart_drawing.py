"""The web page's SVG charts: every label and value is written as text at the page's font size
(no viewBox scaling it down on a phone), bars are proportional, and names are escaped."""

import re

from services.reports import charts

FIGURES = charts.Figures(
    "Đảng ủy xã <A&B>", "năm 2026", (100.0, 50.0, 87.2, 0.0, 25.0, 64.3), 12, 1, (12, 6, 3, 0, 0),
    {f"2026-{m:02d}": (m, m // 2) for m in range(1, 13)},
)


def drawings() -> dict[str, tuple[charts.Chart, str]]:
    return {c.key: (c, charts.svg(c)) for c in charts.of_figures(FIGURES)}


def texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_no_viewbox_so_text_keeps_the_page_size_and_width_follows_the_page() -> None:
    for _, drawing in drawings().values():
        assert "viewBox" not in drawing
        assert drawing.startswith('<svg width="100%"')
        assert 'role="img"' in drawing


def test_every_label_and_value_is_written() -> None:
    for chart, drawing in drawings().values():
        written = texts(drawing)
        for label in chart.labels:
            assert label in written, (chart.key, label)
        if not chart.columns:
            for series in chart.series:
                for value in series.values:
                    assert chart.value_text(value) in written


def test_rate_bars_are_proportional() -> None:
    _, drawing = drawings()["rates"]
    widths = [float(w) for w in re.findall(r'<rect x="0" y="\d+" width="([\d.]+)%"', drawing)]
    assert len(widths) == 6
    assert widths[0] == 2 * widths[1] == 4 * widths[4]
    assert widths[3] == 0
    assert max(widths) < 100


def test_long_month_labels_are_thinned_but_the_table_has_them_all() -> None:
    two_years = {f"{y}-{m:02d}": (m, 1) for y in (2025, 2026) for m in range(1, 13)}
    chart = charts.of_figures(charts.Figures("X", "2 năm", FIGURES.rates, 12, 0, (1, 1, 1, 1, 1), two_years))[2]
    assert len(chart.labels) == 24
    written = [t for t in texts(charts.svg(chart)) if "/" in t]
    assert written == ["01/25", "05/25", "09/25", "01/26", "05/26", "09/26"]


def test_names_are_escaped() -> None:
    _, drawing = drawings()["rates"]
    assert "&lt;A&amp;B&gt;" in drawing
    assert "<A&B>" not in drawing
