"""Incoming files: size limit, checksum, type by content (never the client's word), safe names.

Uploads arrive in chunks and are spooled (memory up to 8 MiB, then a temporary file) and hashed
with SHA-256 on the way: the file's identity, the client's integrity check, and the payload hash
the S3 put is signed with (the server verifies the stored bytes against it), one hash for all.
The kind is decided from the bytes: magic numbers for PDF and images,
the zip structure for DOCX and ODT (checked for zip bombs before anything is read), strict
UTF-8/UTF-16 for plain text. A declared MIME type or file extension that disagrees with the
content is refused.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from services.core.errors import InvalidArgument

SPOOL_MEMORY = 8 * 1024 * 1024
ZIP_MAX_ENTRIES = 5000
ZIP_MAX_TOTAL = 200 * 1024 * 1024  # uncompressed bytes in a DOCX/ODT
ZIP_MAX_RATIO = 200  # uncompressed / compressed, per entry over 1 MiB

PDF, DOCX, ODT, TEXT, PNG, JPEG, TIFF = "pdf", "docx", "odt", "text", "png", "jpeg", "tiff"
CONTENT_TYPES = {
    PDF: "application/pdf",
    DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ODT: "application/vnd.oasis.opendocument.text",
    TEXT: "text/plain; charset=utf-8",
    PNG: "image/png",
    JPEG: "image/jpeg",
    TIFF: "image/tiff",
}
EXTENSIONS = {
    PDF: (".pdf",),
    DOCX: (".docx",),
    ODT: (".odt",),
    TEXT: (".txt", ".text"),
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg"),
    TIFF: (".tif", ".tiff"),
}
IMAGES = (PNG, JPEG, TIFF)
_ALIASES = {
    "application/x-pdf": PDF,
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "image/x-png": PNG,
    "text/plain": TEXT,
}
_GENERIC = {"", "application/octet-stream", "binary/octet-stream", "application/x-download"}
_KNOWN_EXT = {ext: kind for kind, exts in EXTENSIONS.items() for ext in exts}
_KNOWN_EXT.update(
    {
        ext: "other"
        for ext in (
            ".doc",
            ".xls",
            ".xlsx",
            ".ppt",
            ".pptx",
            ".zip",
            ".exe",
            ".html",
            ".htm",
            ".rtf",
            ".odp",
            ".ods",
            ".gif",
            ".webp",
            ".bmp",
            ".svg",
        )
    }
)


@dataclass(frozen=True)
class Received:
    spool: IO[bytes]
    size: int
    sha256: str


@contextmanager
def receive(chunks: Iterable[bytes], max_bytes: int, expected_sha256: str = "") -> Iterator[Received]:
    """Spool the chunks, enforcing the size limit and the client's checksum when given."""
    digest = hashlib.sha256()
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY) as spool:
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise InvalidArgument(
                    "file_too_large",
                    f"a file may have at most {max_bytes // (1024 * 1024)} MiB",
                    limit_bytes=max_bytes,
                )
            digest.update(chunk)
            spool.write(chunk)
        if size == 0:
            raise InvalidArgument("empty_file", "the file is empty")
        sha = digest.hexdigest()
        expected = expected_sha256.strip().lower()
        if expected and expected != sha:
            raise InvalidArgument("checksum_mismatch", "the file's SHA-256 differs from the one sent", sha256=sha)
        spool.seek(0)
        yield Received(spool, size, sha)  # type: ignore[arg-type]


def sniff(spool: IO[bytes]) -> str:
    """The file's kind from its content, or INVALID_ARGUMENT unsupported_file_type."""
    spool.seek(0)
    head = spool.read(8192)
    spool.seek(0)
    if head.startswith(b"%PDF-") or (b"%PDF-" in head[:1024] and head.lstrip()[:5] == b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(spool)
    if _is_text(spool):
        return TEXT
    raise InvalidArgument(
        "unsupported_file_type", "the file is not a PDF, DOCX, ODT, plain-text, PNG, JPEG or TIFF file"
    )


def _zip_kind(spool: IO[bytes]) -> str:
    try:
        with zipfile.ZipFile(spool) as archive:
            infos = archive.infolist()
            check_zip(infos)
            names = {i.filename for i in infos}
            if "word/document.xml" in names and "[Content_Types].xml" in names:
                return DOCX
            if "mimetype" in names and "content.xml" in names:
                mimetype = read_member(archive, "mimetype", 200).strip()
                if mimetype == b"application/vnd.oasis.opendocument.text":
                    return ODT
    except zipfile.BadZipFile as exc:
        raise InvalidArgument("corrupt_file", "the file is a damaged zip archive") from exc
    finally:
        spool.seek(0)
    raise InvalidArgument("unsupported_file_type", "a zip archive that is neither a DOCX nor an ODT document")


def check_zip(infos: list[zipfile.ZipInfo]) -> None:
    """Refuse archives whose entries would expand out of proportion (zip bombs)."""
    if len(infos) > ZIP_MAX_ENTRIES:
        raise InvalidArgument("archive_too_large", f"the document has more than {ZIP_MAX_ENTRIES} parts")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > 1024 * 1024 and info.file_size > ZIP_MAX_RATIO * max(info.compress_size, 1):
            raise InvalidArgument(
                "archive_bomb", "the document expands out of proportion (zip bomb)", entry=info.filename[:100]
            )
    if total > ZIP_MAX_TOTAL:
        raise InvalidArgument(
            "archive_bomb",
            f"the document expands to more than {ZIP_MAX_TOTAL // (1024 * 1024)} MiB (zip bomb)",
        )


def read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """Read one entry, never more than `limit` bytes whatever its header claims."""
    with archive.open(name) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise InvalidArgument("archive_bomb", "a part of the document is larger than allowed", entry=name[:100])
    return data


# Unicode category Cc (C0, DEL, C1) except tab, line feed, form feed and carriage return.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def _is_text(spool: IO[bytes]) -> bool:
    sample = spool.read(64 * 1024)
    spool.seek(0)
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in sample:
        return False
    try:
        decoded = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a multi-byte character cut at the sample's end
            return False
        decoded = sample[: exc.start].decode("utf-8")
    return len(_CONTROLS.findall(decoded)) <= len(decoded) // 100


def _mime(kind: str) -> str:
    return CONTENT_TYPES[kind].split(";")[0]


def check_declared(kind: str, content_type: str, filename: str) -> None:
    """A declared MIME type or extension naming another kind than the content is a lie: refused."""
    declared = content_type.split(";", 1)[0].strip().lower()
    if declared not in _GENERIC:
        named = _ALIASES.get(declared) or next(
            (k for k, v in CONTENT_TYPES.items() if v.split(";")[0] == declared), "other"
        )
        if named != kind:
            raise InvalidArgument(
                "content_type_mismatch",
                f"the file was sent as {declared[:80]} but its content is {_mime(kind)}",
                declared=declared[:80],
                detected=_mime(kind),
            )
    dot = filename.rfind(".")
    if dot > 0:
        ext_kind = _KNOWN_EXT.get(filename[dot:].lower())
        if ext_kind is not None and ext_kind != kind:
            raise InvalidArgument(
                "extension_mismatch",
                f"the file name ends in {filename[dot:][:10]} but its content is {_mime(kind)}",
            )


_UNSAFE = re.compile(r"[^\w.\- ()]+", re.UNICODE)


def safe_filename(raw: str, kind: str) -> str:
    """A display name only (never a path): no directories, control characters or odd dots."""
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").rsplit("/", 1)[-1])
    name = _UNSAFE.sub("_", "".join(ch for ch in name if unicodedata.category(ch)[0] != "C"))
    name = name.strip(" ._")[:120]
    ext = EXTENSIONS[kind][0]
    stem = name[: name.rfind(".")] if "." in name else name
    stem = stem.strip(" ._") or "tai-lieu"
    return f"{stem}{ext}"
