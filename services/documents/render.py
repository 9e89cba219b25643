"""The HTML text view of a document: one small page, no script, readable on an old phone.

Plain HTML 4-compatible markup with a few lines of inline CSS (no web fonts, no images), in one
<main> landmark (screen readers jump to it; shown as a block by old browsers too); the text is
split into paragraphs and every value is escaped. The original file stays one link
away: `/documents/<id>/download`, the web app's route, which a browser reaches with its session
cookie (a link cannot carry the API's bearer token).
"""

from __future__ import annotations

import html

from services.documents import store
from services.documents.metadata import type_name

# - Long unbreakable runs (web addresses, file names, archive codes, the dotted leader lines of
#   Vietnamese forms "Nơi nhận: ......") wrap instead of widening the page: no sideways scrolling
#   on a 320 px phone (overflow-wrap, and word-wrap for old WebKit browsers).
# - Fonts designed with Vietnamese letters first (phones, Windows, Linux with Noto); Arial or
#   Liberation Sans after them; DejaVu Sans, which has every Vietnamese letter, before the default.
# - 16.8 px text (1.05em), never less than 15.5 px; no text inflation on rotated phones.
_FONTS = '-apple-system,"Segoe UI",Roboto,"Noto Sans",Arial,"Liberation Sans","DejaVu Sans",sans-serif'
_CSS = (
    "html{-webkit-text-size-adjust:100%;text-size-adjust:100%}main{display:block}"
    "body{margin:0 auto;max-width:46em;padding:.6em .75em;font-size:1.05em;line-height:1.6;"
    f"font-family:{_FONTS};color:#111;background:#fff;overflow-wrap:break-word;word-wrap:break-word}}"
    "h1{font-size:1.3em;line-height:1.3;margin:.4em 0}p{margin:.5em 0}"
    ".meta{color:#444;font-size:.92em;border-bottom:1px solid #ccc;padding-bottom:.4em}"
    ".note{background:#fff6d6;padding:.4em}a{color:#0645ad}"
)
_STATE_NOTE = {
    store.TEXT_PENDING: "Nội dung chữ của văn bản đang được chuẩn bị. Vui lòng xem lại sau ít phút.",
    store.TEXT_RUNNING: "Nội dung chữ của văn bản đang được chuẩn bị. Vui lòng xem lại sau ít phút.",
    store.OCR_PENDING: "Văn bản là bản quét; nội dung chữ đang được nhận dạng (OCR). Vui lòng xem lại sau.",
    store.OCR_RUNNING: "Văn bản là bản quét; nội dung chữ đang được nhận dạng (OCR). Vui lòng xem lại sau.",
    store.FAILED: "Không trích xuất được nội dung chữ; hãy tải bản gốc.",
}


def page(doc: store.Doc, version: store.Version, text: str) -> str:
    e = html.escape
    meta = [f"Số: {e(doc.number)}"]
    if doc.doc_type:
        meta.append(e(type_name(doc.doc_type) or doc.doc_type))
    if doc.issuing_body:
        meta.append(e(doc.issuing_body))
    if doc.issued_on:
        y, m, d = doc.issued_on.split("-")
        meta.append(f"ngày {d}/{m}/{y}")
    if doc.signer:
        meta.append(f"Người ký: {e(doc.signer)}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="vi"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(doc.number)} – {e(doc.title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{e(doc.title)}</h1>",
        f'<p class="meta">{" · ".join(meta)}<br>Phiên bản {version.version} · '
        f'<a href="/documents/{e(doc.id)}/download?version={version.version}">Tải bản gốc '
        f"({e(version.filename)}, {max(1, version.size // 1024)} KB)</a></p>",
    ]
    if doc.status == store.WITHDRAWN:
        parts.append('<p class="note">Văn bản này đã bị thu hồi.</p>')
    if doc.summary:
        parts.append(f"<p><b>Trích yếu:</b> {e(doc.summary)}</p>")
    note = _STATE_NOTE.get(version.extraction_state)
    if note:
        parts.append(f'<p class="note">{note}</p>')
    for para in text.split("\n"):
        if para.strip():
            parts.append(f"<p>{e(para)}</p>")
    parts.append("</main></body></html>")
    return "\n".join(parts)
