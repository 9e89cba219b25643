"""Documents-service test helpers: search indexes and blob stores on every backend, a TCP
proxy that can be cut to simulate a backing server going down, and sample files."""

from __future__ import annotations

import io
import socket
import threading
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from services.documents.search import IndexedDocument, SearchIndex
from services.documents.storage import BlobStore
from tests.conftest import need_backing


@contextmanager
def search_index(kind: str, tmp_path: Path, url: str = "") -> Iterator[SearchIndex]:
    if kind == "fts5":
        from services.documents.search.fts import FtsIndex

        fts = FtsIndex(tmp_path / f"search-{uuid.uuid4().hex[:6]}.db")
        fts.ensure()
        yield fts
        fts.close()
        return
    from services.documents.search.es import ElasticIndex

    es = ElasticIndex(url or need_backing("ELASTICSEARCH_URL"), f"sotay-test-{uuid.uuid4().hex[:10]}")
    try:
        es.ensure()
        yield es
    finally:
        es.drop()
        es.close()


@contextmanager
def blob_store(kind: str, tmp_path: Path, endpoint: str = "") -> Iterator[BlobStore]:
    if kind == "local":
        from services.documents.storage.local import LocalBlobStore

        yield LocalBlobStore(tmp_path / "files")
        return
    from services.documents.storage.s3 import S3BlobStore

    store = S3BlobStore(
        endpoint or need_backing("S3_ENDPOINT"),
        need_backing("S3_ACCESS_KEY"),
        need_backing("S3_SECRET_KEY"),
        f"sotay-test-{uuid.uuid4().hex[:10]}",
        timeout=5.0,
    )
    try:
        yield store
    finally:
        drop_bucket(store.bucket)


def drop_bucket(bucket: str) -> None:
    """Remove a test's S3 bucket with every object version in it."""
    from minio import Minio
    from minio.deleteobjects import DeleteObject

    s3 = Minio(
        need_backing("S3_ENDPOINT"), need_backing("S3_ACCESS_KEY"), need_backing("S3_SECRET_KEY"), secure=False
    )
    if s3.bucket_exists(bucket):
        objects = s3.list_objects(bucket, recursive=True, include_version=True)
        list(s3.remove_objects(bucket, (DeleteObject(o.object_name, o.version_id) for o in objects)))
        s3.remove_bucket(bucket)


def doc(
    doc_id: str,
    title: str,
    audience: tuple[str, ...],
    *,
    body: str = "",
    summary: str = "",
    number: str = "1-TB/TU",
    doc_type: str = "TB",
    category: str = "van-kien-tu-lieu",
    issued_on: str = "2025-01-01",
    issuing_body: str = "Tỉnh ủy Lạng Sơn",
    unit_id: str = "",
    chain: tuple[str, ...] = (),
    version: int = 1,
) -> IndexedDocument:
    from services.documents.numbers import parse_number

    parsed = parse_number(number)
    return IndexedDocument(
        id=doc_id,
        version=version,
        title=title,
        number=parsed.text,
        number_key=parsed.key,
        doc_type=doc_type,
        category=category,
        issuing_body=issuing_body,
        issued_on=issued_on,
        published_at=1.0,
        unit_id=unit_id or audience[0],
        publisher_chain=chain or audience,
        audience_unit_ids=audience,
        summary=summary,
        body=body,
    )


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 to `target`; `cut()` closes every connection and refuses new
    ones (the server behind it looks down), `restore()` serves again on the same port."""

    def __init__(self, target: str) -> None:
        host, port = target.replace("http://", "").rstrip("/").rsplit(":", 1)
        self.target = (host, int(port))
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._listener.close()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self.restore()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def restore(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        if self._server is not None:
            with suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            self._server.close()
            self._server = None
        with self._lock:
            for sock in self._open:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def close(self) -> None:
        self.cut()


# ---------------------------------------------------------------- sample files


def docx_bytes(paragraphs: list[str], header: str = "") -> bytes:
    from xml.sax.saxutils import escape

    body = "".join(f"<w:p><w:r><w:t>{escape(p)}</w:t></w:r></w:p>" for p in paragraphs)
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        )
        z.writestr(
            "word/document.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><w:document {ns}><w:body>{body}</w:body></w:document>',
        )
        if header:
            z.writestr(
                "word/header1.xml",
                f'<?xml version="1.0" encoding="UTF-8"?><w:hdr {ns}><w:p><w:r><w:t>'
                f"{escape(header)}</w:t></w:r></w:p></w:hdr>",
            )
    return out.getvalue()


def odt_bytes(paragraphs: list[str]) -> bytes:
    from xml.sax.saxutils import escape

    body = "".join(f"<text:p>{escape(p)}</text:p>" for p in paragraphs)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED)
        z.writestr(
            "content.xml",
            '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
            'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
            f"{body}</office:text></office:body></office:document-content>",
        )
    return out.getvalue()


def pdf_bytes(lines: list[str]) -> bytes:
    """A PDF with a real text layer (fpdf2, a Unicode font from the system)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("dejavu", "", _font())
    pdf.set_font("dejavu", size=12)
    for line in lines:
        pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _font() -> str:
    for candidate in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ):
        if Path(candidate).exists():
            return candidate
    raise RuntimeError("no TrueType font with Vietnamese glyphs (apt-get install fonts-dejavu-core)")


def image_pdf_bytes(lines: list[str]) -> bytes:
    """A 'scanned' PDF: the text drawn into an image, no text layer."""
    from fpdf import FPDF

    png = text_png(lines)
    pdf = FPDF()
    pdf.add_page()
    pdf.image(io.BytesIO(png), x=10, y=10, w=190)
    return bytes(pdf.output())


def text_png(lines: list[str]) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(_font(), 36)
    image = Image.new("L", (1700, 120 + 60 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((60, 60 + 60 * i), line, fill=0, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
