"""Multipart uploads relayed while they arrive.

    form = StreamedForm.read(file_field="file")   # the fields before the file part
    form.fields, form.filename, form.content_type
    for chunk in form.chunks(): ...                # the file, read from the socket as it is used

The route validates `fields` and starts its gRPC call with them, and `chunks()` feeds the call
from the socket: the service receives the file while the client still sends it, and the gateway
never stores it. The file's chunks end only once the whole body is read, so what follows the file
is checked before the service sees the end of the file:

- a field after the file, when the fields before it already made the request (`complete`), is
  refused (400): the request was started without it;
- a file sent before the fields the request needs is spooled (as werkzeug does) while the rest
  of the body is read; the request then starts from the spool;
- a body that ends early, is malformed or is too big raises in `chunks()`: the gRPC call is
  cancelled (nothing stored) and `raise_failure()` re-raises the reason for the HTTP answer.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from flask import request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.sansio.multipart import (
    LINE_BREAK_RE,
    NEED_DATA,
    Data,
    Epilogue,
    Field,
    File,
    MultipartDecoder,
    Preamble,
    State,
)

from gateway.errors import ApiError

# What reading a body can raise: bad framing, too big, cut short, gunicorn's chunked decoding.
READ_ERRORS = (ApiError, HTTPException, ValueError, OSError, ParseException)

# Below werkzeug's max_form_memory_size (Flask's default 500 kB), which counts buffered bytes.
READ_BYTES = 256 * 1024
SPOOL_MEMORY = 1024 * 1024  # a file sent before the fields: in memory up to this, then on disk
MAX_PARTS = 100


def _malformed(message: str) -> ApiError:
    return ApiError(400, "malformed_multipart", message)


@dataclass
class StreamedForm:
    fields: dict[str, list[str]]
    filename: str = ""
    content_type: str = ""
    has_file: bool = False
    _events: Iterator[Any] | None = None
    _file_field: str = ""
    _spool: IO[bytes] | None = None
    _complete: Callable[[dict[str, list[str]]], bool] = field(default=lambda _f: True)
    _failure: BaseException | None = None
    _max_field_bytes: int | None = None

    @classmethod
    def read(cls, file_field: str, complete: Callable[[dict[str, list[str]]], bool]) -> StreamedForm:
        """Read the body up to the file part named `file_field` (or to its end when there is
        none). `complete(fields)` says whether the fields read so far make a whole request; when
        they do not, a file part is spooled and the rest of the body read first."""
        if request.mimetype != "multipart/form-data":
            raise ApiError(415, "unsupported_media_type", "send a multipart/form-data body")
        boundary = request.mimetype_params.get("boundary", "").encode("latin-1", "replace")
        if not boundary:
            raise _malformed("the multipart body has no boundary")
        limit = request.max_form_memory_size
        form = cls({}, _file_field=file_field, _complete=complete, _max_field_bytes=limit)
        form._events = _events(boundary, request.stream, limit)
        form._read_fields()
        return form

    # ---------- the body ----------

    def _next(self) -> Any:
        assert self._events is not None
        try:
            return next(self._events)
        except StopIteration:
            raise _malformed("the multipart body ended before its closing boundary") from None

    def _field_value(self) -> str:
        parts, size = [], 0
        while True:
            event = self._next()
            if not isinstance(event, Data):
                raise _malformed("a form field is cut short")
            parts.append(event.data)
            size += len(event.data)
            if self._max_field_bytes is not None and size > self._max_field_bytes:
                raise RequestEntityTooLarge()
            if not event.more_data:
                return b"".join(parts).decode("utf-8", "replace")

    def _read_fields(self) -> None:
        """Fields until the file part (streamed unless the fields are not complete yet)."""
        while True:
            event = self._next()
            if isinstance(event, Epilogue):
                self._events = None
                return
            if isinstance(event, Field):
                self.fields.setdefault(event.name, []).append(self._field_value())
            elif isinstance(event, File):
                if event.name != self._file_field or self.has_file:
                    raise ApiError(400, "invalid_field", f"{event.name}: unexpected file",
                                   {"field": event.name, "problem": "unexpected"})
                self.has_file = True
                self.filename = event.filename
                self.content_type = (event.headers.get("content-type") or "").split(";")[0].strip()
                if self._complete(self.fields):
                    return
                self._spool_file()
            else:
                raise _malformed("the multipart body is not well formed")

    def _file_data(self) -> Iterator[bytes]:
        while True:
            event = self._next()
            if not isinstance(event, Data):
                raise _malformed("the file part is cut short")
            if event.data:
                yield event.data
            if not event.more_data:
                return

    def _spool_file(self) -> None:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - closed by chunks()
        for data in self._file_data():
            spool.write(data)
        spool.seek(0)
        self._spool = spool

    def _rest(self) -> None:
        """What follows the file: the closing boundary only, unless fields were still missing."""
        spooled = self._spool is not None
        while self._events is not None:
            event = self._next()
            if isinstance(event, Epilogue):
                self._events = None
            elif isinstance(event, Field) and spooled:
                self.fields.setdefault(event.name, []).append(self._field_value())
            elif isinstance(event, Field):
                raise ApiError(400, "invalid_field", f"{event.name}: send the form fields before the file",
                               {"field": event.name, "problem": "after_file"})
            else:
                raise ApiError(400, "invalid_field", "the body has more than one file", {"field": self._file_field,
                                                                                         "problem": "repeated"})

    def finish_fields(self) -> None:
        """For a spooled file: read the fields after it (call before validating `fields`)."""
        if self._spool is not None:
            self._rest()

    # ---------- the file ----------

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes; ends once the whole body is read. Errors are kept for raise_failure()."""
        try:
            if self._spool is not None:
                with self._spool as spool:
                    while block := spool.read(READ_BYTES):
                        yield block
                return
            yield from self._file_data()
            self._rest()
        except READ_ERRORS as exc:
            self._failure = exc
            raise

    def raise_failure(self) -> None:
        """Re-raise what stopped `chunks()` (a call it fed was cancelled because of it)."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            if isinstance(failure, ApiError | HTTPException):
                raise failure
            raise _malformed(f"the upload could not be read: {failure}")


_LINE_BREAKS = (b"\r\n", b"\n", b"\r")  # werkzeug's LINE_BREAK alternatives, in its order
_BLANKS = b" \t\x0b\x0c"  # [^\S\n\r]: whitespace but line breaks


class _Match:
    __slots__ = ("_data", "_end", "_start", "_tail")

    def __init__(self, data: bytes | bytearray, start: int, tail: int, end: int) -> None:
        self._data, self._start, self._tail, self._end = data, start, tail, end

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self, _index: int) -> bytes:
        return bytes(self._data[self._tail : self._end])


class _Delimiter:
    """werkzeug's per-boundary expressions, matched by hand: `(LB)--boundary(--h*LB?|h*LB)`, the
    line break optional before the first boundary (preamble_re) and required before the others
    (boundary_re). Not compiled per request, the boundary being new each time (bench/documents.py upload)."""

    def __init__(self, boundary: bytes, line_break_optional: bool) -> None:
        self.delimiter = b"--" + boundary
        self.starts: tuple[bytes, ...] = (*_LINE_BREAKS, b"") if line_break_optional else _LINE_BREAKS

    def match(self, data: bytes | bytearray, pos: int) -> _Match | None:
        for line_break in self.starts:
            if not data.startswith(line_break, pos):
                continue
            at = pos + len(line_break)
            if not data.startswith(self.delimiter, at):
                continue
            tail = at + len(self.delimiter)
            end = self._suffix_end(data, tail)
            if end is not None:
                return _Match(data, pos, tail, end)
        return None

    def search(self, data: bytes | bytearray, pos: int = 0) -> _Match | None:
        """The leftmost match at or after `pos` (every match has the delimiter 0-2 bytes in)."""
        tried = pos - 1
        at = data.find(self.delimiter, pos)
        while at != -1:
            for begin in range(max(tried + 1, at - 2), at + 1):
                found = self.match(data, begin)
                if found is not None:
                    return found
            tried = at
            at = data.find(self.delimiter, at + 1)
        return None

    @staticmethod
    def _suffix_end(data: bytes | bytearray, at: int) -> int | None:
        closing = data.startswith(b"--", at)
        end = at + 2 if closing else at
        while end < len(data) and data[end] in _BLANKS:
            end += 1
        for line_break in _LINE_BREAKS:
            if data.startswith(line_break, end):
                return end + len(line_break)
        return end if closing else None


class _Decoder(MultipartDecoder):
    """werkzeug's decoder, with part data cut where werkzeug cuts it, found faster.

    werkzeug finds the boundary after part data with a regular expression searched from the start
    of its buffer (it begins with an alternation, so the search tries every position: ~1 ms for a
    256 KiB read) and copies the data twice more. Here the two expressions are matched by hand
    (_Delimiter: `bytes.find` locates each `--boundary`, then the line break before it is checked)
    rather than compiled per request, and the data is copied once."""

    def __init__(
        self, boundary: bytes, max_form_memory_size: int | None = None, *, max_parts: int | None = None
    ) -> None:
        # MultipartDecoder.__init__ (werkzeug 3.1.9), without its two re.compile calls.
        self.buffer = bytearray()
        self.complete = False
        self.max_form_memory_size = max_form_memory_size
        self.max_parts = max_parts
        self.state = State.PREAMBLE
        self.boundary = boundary
        self.preamble_re = _Delimiter(boundary, line_break_optional=True)  # type: ignore[assignment]
        self.boundary_re = _Delimiter(boundary, line_break_optional=False)  # type: ignore[assignment]
        self._search_position = 0
        self._parts_decoded = 0

    def _parse_data(self, data: bytes | bytearray, *, start: bool) -> tuple[bytes, int, bool]:
        data_start = 0
        if start:
            first = LINE_BREAK_RE.match(data)
            data_start = first.end() if first is not None else 0
        match = self.boundary_re.search(data)
        if match is None:
            data_end = del_index = self._partial_boundary_at(data, data_start)
        else:
            self.state = State.EPILOGUE if match.group(1).startswith(b"--") else State.PART
            data_end, del_index = match.start(), match.end()
        return bytes(memoryview(data)[data_start:data_end]), del_index, match is None

    def _partial_boundary_at(self, data: bytes | bytearray, data_start: int) -> int:
        """werkzeug's _last_partial_boundary_index(data[data_start:]) + data_start, without the copy."""
        length = len(data) - data_start
        complete = length - len(b"\r\n--" + self.boundary)
        ends = []
        for char in (b"\n", b"\r"):
            last = data.rfind(char, data_start)
            last = length if last == -1 else last - data_start
            ends.append(length if last < complete else last)
        return min(ends) + data_start


def _events(boundary: bytes, stream: IO[bytes], max_field_bytes: int | None) -> Iterator[Any]:
    decoder = _Decoder(boundary, max_form_memory_size=max_field_bytes, max_parts=MAX_PARTS)
    while True:
        try:
            event = decoder.next_event()
        except ValueError as exc:
            raise _malformed(f"the multipart body is not well formed: {exc}") from None
        if event is NEED_DATA:
            if decoder.complete:
                return
            data = stream.read(READ_BYTES)
            decoder.receive_data(data or None)
            continue
        if isinstance(event, Preamble):
            continue
        yield event
        if isinstance(event, Epilogue):
            return

