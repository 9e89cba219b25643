"""Minutes blocks -> a PDF (fpdf2) with a Unicode font (fonts.py)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from fpdf import FPDF

from services.meetings.minutes.fonts import unicode_font
from services.meetings.minutes.record import Block

_D = str.maketrans({"đ": "d", "Đ": "D", "—": "-", "…": "..."})


def _plain(text: str) -> str:
    """Latin-1 text for a core font (only when no Unicode font exists)."""
    decomposed = unicodedata.normalize("NFD", text.translate(_D))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.encode("latin-1", "replace").decode("latin-1")


def render(blocks: Sequence[Block], title: str) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_margins(20, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_title(title)
    font = unicode_font()
    if font is not None:
        pdf.add_font(font.name, "", str(font.regular))
        pdf.add_font(font.name, "B", str(font.bold))
        family, text_of = font.name, (lambda s: s)
    else:
        family, text_of = "Helvetica", _plain
    pdf.add_page()
    width = pdf.epw

    def line(text: str, style: str = "", size: int = 12, align: str = "L", height: float = 6.5) -> None:
        pdf.set_font(family, style, size)
        pdf.multi_cell(width, height, text_of(text), align=align, new_x="LMARGIN", new_y="NEXT")

    for block in blocks:
        if block.kind == "title":
            pdf.ln(3)
            line(block.text, "B", 16, "C", 9)
        elif block.kind == "center":
            line(block.text, "B" if block.text.isupper() else "", 12, "C")
        elif block.kind == "heading":
            pdf.ln(2)
            line(block.text, "B", 12)
        elif block.kind == "bullet":
            pdf.set_x(pdf.l_margin + 5)
            pdf.set_font(family, "", 12)
            pdf.multi_cell(width - 5, 6.5, text_of("- " + block.text), align="L", new_x="LMARGIN", new_y="NEXT")
        elif block.kind == "signatures":
            pdf.ln(6)
            top = pdf.get_y()
            for i, text in enumerate((block.text, block.extra)):
                head, _, name = text.partition("\n")
                pdf.set_xy(pdf.l_margin + i * width / 2, top)
                pdf.set_font(family, "B", 12)
                pdf.cell(width / 2, 7, text_of(head), align="C")
                pdf.set_xy(pdf.l_margin + i * width / 2, top + 25)
                pdf.set_font(family, "", 12)
                pdf.cell(width / 2, 7, text_of(name), align="C")
        else:
            line(block.text)
    return bytes(pdf.output())
