"""A minimal streaming XLSX writer: sheets of plain rows (text, integers, decimals), a bold frozen
header row and column widths, nothing else. The report's workbook has a province's 115,000
cell-months; openpyxl builds a cell object per value, this writes each row's XML at once.

Text goes inline (`t="inlineStr"`), without the characters XML 1.0 cannot hold; cells carry no
`r` reference (optional in SpreadsheetML: a cell follows the one before it in its row).
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape, quoteattr

Value = str | int | float | None

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
# Characters XML 1.0 cannot hold (openpyxl's ILLEGAL_CHARACTERS_RE): dropped.
ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
STYLES = (
    f'{HEAD}<styleSheet xmlns="{MAIN}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
BOLD = ' s="1"'  # the header's style (cellXfs 1)
CHUNK = 2000  # rows written to the zip at a time
CELLS = 50_000  # a sheet's distinct values whose XML is kept while it is written


def _text(value: str, style: str = "") -> str:
    value = ILLEGAL.sub("", value)
    space = ' xml:space="preserve"' if value != value.strip() else ""
    return f'<c t="inlineStr"{style}><is><t{space}>{escape(value)}</t></is></c>'


def _cell(value: Value) -> str:
    kind = type(value)
    if kind is int:  # the most of a report's cells
        return f"<c><v>{value}</v></c>"
    if value is None or value == "":
        return "<c/>"
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool):
        return f'<c t="b"><v>{int(value)}</v></c>'
    return f"<c><v>{value!r}</v></c>"


class Workbook:
    """Sheets written one after the other into a zip held in memory."""

    def __init__(self) -> None:
        self._out = io.BytesIO()
        self._zip = zipfile.ZipFile(self._out, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        self._sheets: list[str] = []

    def sheet(self, title: str, headers: Sequence[str], rows: Iterable[Sequence[Value]]) -> None:
        """A sheet: the headers (bold, frozen, columns as wide as they are) and then `rows`."""
        self._sheets.append(ILLEGAL.sub("", title)[:31])
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{max(10, min(40, len(h) + 2))}" customWidth="1"/>'
            for i, h in enumerate(headers, start=1)
        )
        with self._zip.open(f"xl/worksheets/sheet{len(self._sheets)}.xml", "w") as part:
            part.write(
                (f'{HEAD}<worksheet xmlns="{MAIN}"><sheetViews><sheetView workbookViewId="0">'
                 '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                 f"</sheetView></sheetViews><cols>{cols}</cols><sheetData>"
                 f'<row r="1">{"".join(_text(h, BOLD) for h in headers)}</row>').encode()
            )
            buffer: list[str] = []
            n = 1
            cell = functools.lru_cache(maxsize=CELLS, typed=True)(_cell)  # a sheet's values repeat
            for row in rows:
                n += 1
                buffer.append(f'<row r="{n}">{"".join(map(cell, row))}</row>')
                if len(buffer) >= CHUNK:
                    part.write("".join(buffer).encode())
                    buffer.clear()
            part.write(("".join(buffer) + "</sheetData></worksheet>").encode())

    def save(self) -> bytes:
        sheets = range(1, len(self._sheets) + 1)
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{CONTENT}.worksheet+xml"/>' for i in sheets
        )
        self._zip.writestr(
            "[Content_Types].xml",
            f'{HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{CONTENT}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{CONTENT}.styles+xml"/>{overrides}</Types>',
        )
        self._zip.writestr(
            "_rels/.rels",
            f'{HEAD}<Relationships xmlns="{PACKAGE_REL}"><Relationship Id="rId1" '
            f'Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        listed = "".join(
            f'<sheet name={quoteattr(t)} sheetId="{i}" r:id="rId{i}"/>'
            for i, t in zip(sheets, self._sheets, strict=True)
        )
        self._zip.writestr("xl/workbook.xml", f'{HEAD}<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>{listed}'
                                              "</sheets></workbook>")
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="{REL}/worksheet" Target="worksheets/sheet{i}.xml"/>' for i in sheets
        )
        styles = len(self._sheets) + 1
        self._zip.writestr(
            "xl/_rels/workbook.xml.rels",
            f'{HEAD}<Relationships xmlns="{PACKAGE_REL}">{rels}'
            f'<Relationship Id="rId{styles}" Type="{REL}/styles" Target="styles.xml"/></Relationships>',
        )
        self._zip.writestr("xl/styles.xml", STYLES)
        self._zip.close()
        return self._out.getvalue()
