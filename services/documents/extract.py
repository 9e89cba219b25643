"""Text out of a stored file: PDF text layer, DOCX, ODT, plain text; OCR (Vietnamese) for scans.

Extraction never trusts the file: sizes are bounded, XML is parsed with defusedxml, and a
damaged file is INVALID_ARGUMENT `corrupt_file`. A PDF with (almost) no text layer and every
image is left for the OCR worker (`python -m services.documents ocr`), which runs Tesseract
(`tesseract-ocr-vie`) on pages rendered by `pdftoppm` (poppler-utils).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from defusedxml import ElementTree

from services.core.errors import InvalidArgument
from services.documents import files

log = logging.getLogger("sotay.documents.extract")

MAX_TEXT_CHARS = 5_000_000
MAX_XML_BYTES = 60 * 1024 * 1024
MAX_PDF_PAGES = 2000
MIN_CHARS_PER_PAGE = 40  # below this on average, a PDF is treated as scanned
OCR_MAX_PAGES = 200
OCR_DPI = 300
OCR_LANG = "vie"

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
TEXT_NS = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
STYLE_NS = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"


@dataclass(frozen=True)
class Extracted:
    text: str
    source: str  # text_layer | docx | odt | plain | "" (needs OCR)
    needs_ocr: bool


def extract(kind: str, spool: IO[bytes]) -> Extracted:
    spool.seek(0)
    try:
        if kind == files.PDF:
            return _pdf(spool)
        if kind == files.DOCX:
            return Extracted(_docx(spool), "docx", False)
        if kind == files.ODT:
            return Extracted(_odt(spool), "odt", False)
        if kind == files.TEXT:
            return Extracted(_plain(spool.read(MAX_TEXT_CHARS * 4)), "plain", False)
        if kind in files.IMAGES:
            _check_image(spool)
            return Extracted("", "", True)
    finally:
        spool.seek(0)
    raise InvalidArgument("unsupported_file_type", f"no text extraction for {kind}")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()[:MAX_TEXT_CHARS]


def _plain(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            return normalise(data.decode(encoding))
        except UnicodeDecodeError:
            continue
    raise InvalidArgument("corrupt_file", "the text file is not valid UTF-8 or UTF-16")


def _pdf(spool: IO[bytes]) -> Extracted:
    from pypdf import PdfReader

    try:
        reader = PdfReader(spool, strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidArgument("encrypted_file", "the PDF is password-protected")
        pages = len(reader.pages)
        if pages == 0:
            raise InvalidArgument("corrupt_file", "the PDF has no pages")
        if pages > MAX_PDF_PAGES:
            raise InvalidArgument("too_many_pages", f"a PDF may have at most {MAX_PDF_PAGES} pages")
        parts: list[str] = []
        total = 0
        for page in reader.pages:
            chunk = page.extract_text() or ""
            parts.append(chunk)
            total += len(chunk)
            if total > MAX_TEXT_CHARS:
                break
    except InvalidArgument:
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged files: all mean a bad upload
        raise InvalidArgument("corrupt_file", "the PDF is damaged and cannot be read") from exc
    text = normalise("\n\n".join(parts))
    visible = sum(1 for ch in text if not ch.isspace())
    if visible < MIN_CHARS_PER_PAGE * pages:
        return Extracted(text, "", True)
    return Extracted(text, "text_layer", False)


def _xml_text(data: bytes, paragraph_tags: set[str], tab: str, brk: str) -> list[str]:
    try:
        root = ElementTree.fromstring(data)
    except Exception as exc:  # defusedxml refuses entities; a parse error is a damaged file
        raise InvalidArgument("corrupt_file", "the document's XML is damaged") from exc
    out: list[str] = []
    for para in root.iter():
        if para.tag not in paragraph_tags:
            continue
        pieces: list[str] = []
        for node in para.iter():
            if node.tag == tab:
                pieces.append("\t")
            elif node.tag == brk:
                pieces.append("\n")
            if node.text and node.tag not in paragraph_tags | {tab, brk}:
                pieces.append(node.text)
            if node is not para and node.tail and node.tag not in paragraph_tags:
                pieces.append(node.tail)
        out.append("".join(pieces))
    return out


def _open_zip(spool: IO[bytes]) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(spool)
    except zipfile.BadZipFile as exc:
        raise InvalidArgument("corrupt_file", "the document is a damaged zip archive") from exc
    files.check_zip(archive.infolist())
    return archive


def _member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return files.read_member(archive, name, MAX_XML_BYTES)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
        raise InvalidArgument("corrupt_file", "the document is damaged", entry=name) from exc
    except RuntimeError as exc:  # encrypted entries
        raise InvalidArgument("encrypted_file", "the document is password-protected") from exc
    except zipfile.LargeZipFile as exc:
        raise InvalidArgument("archive_bomb", "a part of the document is too large") from exc


def _docx(spool: IO[bytes]) -> str:
    with _open_zip(spool) as archive:
        names = archive.namelist()
        headers = sorted(n for n in names if n.startswith("word/header") and n.endswith(".xml"))
        lines: list[str] = []
        # Headers first: a classification stamp is often printed there.
        for name in [*headers[:6], "word/document.xml"]:
            lines += _xml_text(_member(archive, name), {f"{W}p"}, f"{W}tab", f"{W}br")
    return normalise("\n".join(lines))


def _odt(spool: IO[bytes]) -> str:
    tags = {f"{TEXT_NS}p", f"{TEXT_NS}h"}
    with _open_zip(spool) as archive:
        lines: list[str] = []
        if "styles.xml" in archive.namelist():
            try:
                root = ElementTree.fromstring(_member(archive, "styles.xml"))
            except Exception as exc:
                raise InvalidArgument("corrupt_file", "the document's XML is damaged") from exc
            for header in root.iter(f"{STYLE_NS}header"):
                lines += ["".join(p.itertext()) for p in header.iter() if p.tag in tags]
        lines += _xml_text(_member(archive, "content.xml"), tags, f"{TEXT_NS}tab", f"{TEXT_NS}line-break")
    return normalise("\n".join(lines))


def _check_image(spool: IO[bytes]) -> None:
    from PIL import Image

    try:
        with Image.open(spool) as image:
            width, height = image.size
    except Exception as exc:
        raise InvalidArgument("corrupt_file", "the image is damaged") from exc
    if width * height > 120_000_000:
        raise InvalidArgument("image_too_large", "the image has too many pixels")


# ---------------------------------------------------------------- OCR


class OcrUnavailable(RuntimeError):
    pass


def ocr_available() -> bool:
    return shutil.which("tesseract") is not None


def ocr(kind: str, path: Path, timeout: float = 600.0) -> str:
    """Vietnamese OCR of an image or of every page of a PDF (rendered by pdftoppm)."""
    if not ocr_available():
        raise OcrUnavailable("tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-vie)")
    with tempfile.TemporaryDirectory(prefix="sotay-ocr-") as tmp:
        images: list[Path]
        if kind == files.PDF:
            if shutil.which("pdftoppm") is None:
                raise OcrUnavailable("pdftoppm is not installed (apt-get install poppler-utils)")
            _run(
                [
                    "pdftoppm",
                    "-r",
                    str(OCR_DPI),
                    "-gray",
                    "-png",
                    "-l",
                    str(OCR_MAX_PAGES),
                    str(path),
                    f"{tmp}/page",
                ],
                timeout,
            )
            images = sorted(Path(tmp).glob("page*.png"))
        else:
            images = [path]
        pages = [_run(["tesseract", str(img), "stdout", "-l", OCR_LANG, "--psm", "3"], timeout) for img in images]
    return normalise("\n\n".join(pages))


def _run(argv: list[str], timeout: float) -> str:
    done: Any = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise InvalidArgument("ocr_failed", done.stderr.decode("utf-8", "replace")[-300:] or "OCR failed")
    return str(done.stdout.decode("utf-8", "replace"))
