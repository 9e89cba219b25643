"""A Unicode TrueType font that renders Vietnamese in the PDF minutes.

Looked for in this order:
1. MEETINGS_PDF_FONT (and MEETINGS_PDF_FONT_BOLD): paths to TTF files;
2. Source Sans Pro from the PyPI package `font-source-sans-pro` (OFL; covers Vietnamese);
3. DejaVu Sans from Debian's `fonts-dejavu-core` in /usr/share/fonts (when the image has it).
When none is found the PDF is still produced with a core font, diacritics removed, and a warning
is logged (the DOCX minutes are unaffected).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from services.core.config import env

log = logging.getLogger("sotay.meetings.minutes")

DEBIAN_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class FontFiles:
    name: str
    regular: Path
    bold: Path


def _source_sans() -> FontFiles | None:
    try:
        import font_source_sans_pro  # type: ignore[import-untyped]
    except ImportError:
        return None
    folder = Path(font_source_sans_pro.__file__).resolve().parent / "files"
    regular, bold = folder / "SourceSansPro-Regular.ttf", folder / "SourceSansPro-Bold.ttf"
    return FontFiles("SourceSansPro", regular, bold if bold.exists() else regular) if regular.exists() else None


def _dejavu() -> FontFiles | None:
    regular, bold = DEBIAN_DEJAVU / "DejaVuSans.ttf", DEBIAN_DEJAVU / "DejaVuSans-Bold.ttf"
    return FontFiles("DejaVuSans", regular, bold if bold.exists() else regular) if regular.exists() else None


@lru_cache(maxsize=1)
def unicode_font() -> FontFiles | None:
    configured = env("MEETINGS_PDF_FONT")
    if configured:
        regular = Path(configured)
        bold = Path(env("MEETINGS_PDF_FONT_BOLD") or configured)
        if regular.exists() and bold.exists():
            return FontFiles("Configured", regular, bold)
        log.warning("MEETINGS_PDF_FONT %s not found; looking for another font", configured)
    found = _source_sans() or _dejavu()
    if found is None:
        log.warning("no Unicode TTF font found: PDF minutes will be written without diacritics")
    return found
