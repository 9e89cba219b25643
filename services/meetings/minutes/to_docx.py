"""Minutes blocks -> a .docx file (python-docx)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt

from services.meetings.minutes.record import Block

FONT = "Times New Roman"  # the usual face of Party documents; Word substitutes when missing


def render(blocks: Sequence[Block], title: str) -> bytes:
    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = FONT  # type: ignore[attr-defined]
    normal.font.size = Pt(13)  # type: ignore[attr-defined]
    doc.core_properties.title = title
    for block in blocks:
        if block.kind == "title":
            p = doc.add_paragraph()
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run = p.add_run(block.text)
            run.bold = True
            run.font.size = Pt(16)
        elif block.kind == "center":
            p = doc.add_paragraph(block.text)
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif block.kind == "heading":
            p = doc.add_paragraph()
            p.add_run(block.text).bold = True
        elif block.kind == "bullet":
            doc.add_paragraph(block.text, style="List Bullet")
        elif block.kind == "signatures":
            table = doc.add_table(rows=1, cols=2)
            for cell, text in zip(table.rows[0].cells, (block.text, block.extra), strict=True):
                head, _, name = text.partition("\n")
                p = cell.paragraphs[0]
                p.alignment = WD_ALIGN_PARAGRAPH.CENTER
                p.add_run(head).bold = True
                cell.add_paragraph("\n\n" + name).alignment = WD_ALIGN_PARAGRAPH.CENTER
        else:
            doc.add_paragraph(block.text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
