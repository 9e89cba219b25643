"""Text out of a stored file: PDF text layer, DOCX, ODT, plain text; OCR (Vietnamese) for scans.

Extraction never trusts the file: sizes are bounded, XML is parsed with defusedxml, and a
damaged file is INVALID_ARGUMENT `corrupt_file`. A PDF with (almost) no text layer and every
image is left for the OCR worker (`python -m services.documents ocr`), which runs Tesseract
(`tesseract-ocr-vie`) on pages rendered by `pdftoppm` (poppler-utils).

Two entry points:
- `extract(kind, spool)`: the whole text (the background worker; the upload of a small file).
- `extract_top(kind, spool, chars)`: what an upload needs on its request path. It checks the
  file's structure as `extract` does (damage, encryption, zip bombs, page count, image size) and
  returns at least the first `chars` characters of the text exactly as `extract` would give them
  (`complete=False`), so a check of the top of the text (the classification stamp) has the same
  verdict as on the whole text; or the whole text (`complete=True`) when that is cheap: a small
  file, a PDF of a few pages, a scan, an unusual layout. The prefix is exact because it ends on a
  paragraph (page, line) boundary and `normalise` works line by line.
"""

from __future__ import annotations

import codecs
import logging
import shutil
import subprocess
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Generator, Iterable
from contextlib import closing
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
# extract_top reads the whole text when its source is at most this big (plain text, DOCX/ODT XML)
# or the PDF has at most INLINE_PDF_PAGES pages: little enough for the request path (upload
# step times: bench/documents.py upload).
INLINE_TEXT_BYTES = 64 * 1024
INLINE_PDF_PAGES = 4
_READ_BLOCK = 16 * 1024

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
TEXT_NS = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
STYLE_NS = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
OFFICE_NS = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_DOCX = ({f"{W}p"}, f"{W}tab", f"{W}br", f"{W}body")
_ODT = ({f"{TEXT_NS}p", f"{TEXT_NS}h"}, f"{TEXT_NS}tab", f"{TEXT_NS}line-break", f"{OFFICE_NS}text")


@dataclass(frozen=True)
class Extracted:
    text: str
    source: str  # text_layer | docx | odt | plain | "" (needs OCR)
    needs_ocr: bool
    complete: bool = True  # False: `text` is only the top of the whole text (extract_top)


def extract(kind: str, spool: IO[bytes]) -> Extracted:
    spool.seek(0)
    try:
        if kind == files.PDF:
            return _pdf(spool)
        if kind == files.DOCX:
            with _open_zip(spool) as archive:
                return Extracted(_docx(archive), "docx", False)
        if kind == files.ODT:
            with _open_zip(spool) as archive:
                return Extracted(_odt(archive), "odt", False)
        if kind == files.TEXT:
            return Extracted(_plain(spool.read(MAX_TEXT_CHARS * 4)), "plain", False)
        if kind in files.IMAGES:
            _check_image(spool)
            return Extracted("", "", True)
    finally:
        spool.seek(0)
    raise InvalidArgument("unsupported_file_type", f"no text extraction for {kind}")


def extract_top(kind: str, spool: IO[bytes], chars: int, budget: int = INLINE_TEXT_BYTES) -> Extracted:
    """At least the first `chars` characters of `extract(kind, spool).text`, or all of it."""
    spool.seek(0)
    try:
        if kind == files.PDF:
            return _pdf(spool, top_chars=chars)
        if kind == files.DOCX:
            with _open_zip(spool) as archive:
                return _zip_top(archive, "docx", chars, budget)
        if kind == files.ODT:
            with _open_zip(spool) as archive:
                return _zip_top(archive, "odt", chars, budget)
        if kind == files.TEXT:
            return _plain_top(spool, chars, budget)
    finally:
        spool.seek(0)
    return extract(kind, spool)


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


def _plain_top(spool: IO[bytes], chars: int, budget: int) -> Extracted:
    spool.seek(0, 2)
    size = spool.tell()
    spool.seek(0)
    if size > budget:
        first = spool.read(_READ_BLOCK)
        decoder = codecs.getincrementaldecoder("utf-16" if first[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig")()
        decoded, block, read = "", first, 0
        try:
            while block and read <= max(budget, 16 * chars):
                read += len(block)
                decoded += decoder.decode(block)
                # Whole lines only (normalise works line by line): the first line end past `chars`
                # characters, or the last one read when whitespace made that too short.
                for cut in (decoded.find("\n", chars), decoded.rfind("\n")):
                    if cut >= chars:
                        top = normalise(decoded[:cut])
                        if len(top) >= chars:
                            return Extracted(top, "plain", False, complete=False)
                block = spool.read(_READ_BLOCK)
        except UnicodeDecodeError:
            pass  # extract() decides (UTF-16 without a byte order mark, or a damaged file)
    spool.seek(0)
    return extract(files.TEXT, spool)


# ---------------------------------------------------------------- PDF


def _pdf(spool: IO[bytes], top_chars: int = 0) -> Extracted:
    """The text layer; with `top_chars`, only the first pages when there are many and the
    first has text (a scanned first page means the whole file is read: OCR may be needed)."""
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
        partial = bool(top_chars) and pages > INLINE_PDF_PAGES
        parts: list[str] = []
        total = 0
        for page in reader.pages:
            chunk = page.extract_text() or ""
            parts.append(chunk)
            total += len(chunk)
            if total > MAX_TEXT_CHARS:
                break
            if partial and len(parts) == 1 and _visible(chunk) < MIN_CHARS_PER_PAGE:
                partial = False
            if partial and total >= top_chars:
                top = normalise("\n\n".join(parts))
                if len(top) >= top_chars:
                    return Extracted(top, "text_layer", False, complete=False)
    except InvalidArgument:
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged files: all mean a bad upload
        raise InvalidArgument("corrupt_file", "the PDF is damaged and cannot be read") from exc
    text = normalise("\n\n".join(parts))
    if _visible(text) < MIN_CHARS_PER_PAGE * pages:
        return Extracted(text, "", True)
    return Extracted(text, "text_layer", False)


def _visible(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())


# ---------------------------------------------------------------- DOCX and ODT


def _paragraphs(nodes: Iterable[Any], paragraph_tags: set[str], tab: str, brk: str) -> list[str]:
    """The text of every paragraph element among `nodes` (in document order), nested ones too."""
    out: list[str] = []
    for para in nodes:
        if para.tag not in paragraph_tags:
            continue
        pieces: list[str] = []
        for node in para.iter():
            if node.tag == tab:
                pieces.append("\t")
            elif node.tag == brk:
                pieces.append("\n")
            # A paragraph's own text (ODT keeps it there), not that of a nested paragraph.
            if node.text and (node is para or node.tag not in paragraph_tags | {tab, brk}):
                pieces.append(node.text)
            if node is not para and node.tail and node.tag not in paragraph_tags:
                pieces.append(node.tail)
        out.append("".join(pieces))
    return out


def _xml_text(data: bytes, paragraph_tags: set[str], tab: str, brk: str) -> list[str]:
    try:
        root = ElementTree.fromstring(data)
    except Exception as exc:  # defusedxml refuses entities; a parse error is a damaged file
        raise InvalidArgument("corrupt_file", "the document's XML is damaged") from exc
    return _paragraphs(root.iter(), paragraph_tags, tab, brk)


class _Irregular(Exception):
    """A paragraph outside the body container: the streamed top would not be exact."""


def _body_blocks(
    archive: zipfile.ZipFile, name: str, layout: tuple[set[str], str, str, str]
) -> Generator[list[str], None, None]:
    """The paragraphs of each child of the body container (w:body, office:text), streamed: the
    concatenation of the blocks is what `_xml_text` gives for the whole part. Raises _Irregular
    when a paragraph lies outside the container."""
    tags, tab, brk, container = layout
    try:
        info = archive.getinfo(name)
    except KeyError as exc:
        raise InvalidArgument("corrupt_file", "the document is damaged", entry=name) from exc
    if info.file_size > MAX_XML_BYTES:
        raise InvalidArgument("archive_bomb", "a part of the document is larger than allowed", entry=name[:100])
    depth, inside = 0, 0  # inside: depth of the container once seen
    parent: Any = None
    with archive.open(info) as stream:
        for event, elem in ElementTree.iterparse(stream, events=("start", "end")):
            if event == "start":
                depth += 1
                if not inside and elem.tag == container:
                    inside, parent = depth, elem
                elif elem.tag in tags and (not inside or depth <= inside):
                    raise _Irregular
                continue
            if inside and depth == inside + 1:
                yield _paragraphs(elem.iter(), tags, tab, brk)
                parent.remove(elem)
            depth -= 1


def _zip_top(archive: zipfile.ZipFile, kind: str, chars: int, budget: int) -> Extracted:
    main = "word/document.xml" if kind == "docx" else "content.xml"
    whole = _docx if kind == "docx" else _odt
    sizes = {i.filename: i.file_size for i in archive.infolist()}
    extra = _docx_headers(archive) if kind == "docx" else ["styles.xml"]
    if sizes.get(main, 0) + sum(sizes.get(n, 0) for n in extra) <= budget:
        return Extracted(whole(archive), kind, False)
    lines = _docx_header_lines(archive) if kind == "docx" else _odt_header_lines(archive)
    try:
        with closing(_body_blocks(archive, main, _DOCX if kind == "docx" else _ODT)) as blocks:
            raw = sum(len(line) for line in lines)
            for block in blocks:
                lines += block
                raw += sum(len(line) + 1 for line in block)
                if raw >= chars:  # normalising only shortens: check the real length now
                    top = normalise("\n".join(lines))
                    if len(top) >= chars:
                        return Extracted(top, kind, False, complete=False)
    except _Irregular:
        pass
    except InvalidArgument:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise InvalidArgument("corrupt_file", "the document is damaged", entry=main) from exc
    except RuntimeError as exc:  # encrypted entries
        raise InvalidArgument("encrypted_file", "the document is password-protected") from exc
    except Exception as exc:  # defusedxml refuses entities; a parse error is a damaged file
        raise InvalidArgument("corrupt_file", "the document's XML is damaged") from exc
    return Extracted(whole(archive), kind, False)


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


def _docx_headers(archive: zipfile.ZipFile) -> list[str]:
    names = archive.namelist()
    return sorted(n for n in names if n.startswith("word/header") and n.endswith(".xml"))[:6]


def _docx_header_lines(archive: zipfile.ZipFile) -> list[str]:
    # Headers first: a classification stamp is often printed there.
    lines: list[str] = []
    for name in _docx_headers(archive):
        lines += _xml_text(_member(archive, name), {f"{W}p"}, f"{W}tab", f"{W}br")
    return lines


def _docx(archive: zipfile.ZipFile) -> str:
    lines = _docx_header_lines(archive)
    lines += _xml_text(_member(archive, "word/document.xml"), {f"{W}p"}, f"{W}tab", f"{W}br")
    return normalise("\n".join(lines))


def _odt_header_lines(archive: zipfile.ZipFile) -> list[str]:
    tags = {f"{TEXT_NS}p", f"{TEXT_NS}h"}
    lines: list[str] = []
    if "styles.xml" in archive.namelist():
        try:
            root = ElementTree.fromstring(_member(archive, "styles.xml"))
        except Exception as exc:
            raise InvalidArgument("corrupt_file", "the document's XML is damaged") from exc
        for header in root.iter(f"{STYLE_NS}header"):
            lines += ["".join(p.itertext()) for p in header.iter() if p.tag in tags]
    return lines


def _odt(archive: zipfile.ZipFile) -> str:
    tags = {f"{TEXT_NS}p", f"{TEXT_NS}h"}
    lines = _odt_header_lines(archive)
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
