"""gateway.multipart's decoder cuts part data exactly where werkzeug's MultipartDecoder does."""

from __future__ import annotations

import random
from typing import Any

from werkzeug.sansio.multipart import NEED_DATA, Epilogue, MultipartDecoder

from gateway.multipart import _Decoder


def _events(cls: type[MultipartDecoder], boundary: bytes, body: bytes, step: int) -> list[str]:
    decoder = cls(boundary, max_form_memory_size=None, max_parts=100)
    out: list[str] = []
    at = 0
    while True:
        try:
            event: Any = decoder.next_event()
        except ValueError as exc:
            return [*out, f"error {exc}"]
        if event is NEED_DATA:
            if decoder.complete:
                return out
            decoder.receive_data(body[at : at + step] or None)
            at += step
            continue
        out.append(repr(event))
        if isinstance(event, Epilogue):
            return out


def test_same_events_as_werkzeug_for_edgy_bodies_and_any_read_size() -> None:
    rng = random.Random(5)
    head = b'--bnd\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\n'
    pieces = [b"\r\n", b"\n", b"\r", b"--bnd", b"--bnd--", b"x", b"--", b"-", b"--bn",
              b"\r\n--bnd\r\n", b"\r\n--bnd--\r\n", b"\n--bnd \r\n", b"\r--bnd\t\n"]
    tails = [b"", b"\r\n--bnd--\r\n",
             b'\r\n--bnd\r\nContent-Disposition: form-data; name="g"\r\n\r\nv\r\n--bnd--\r\n']
    for _ in range(5000):
        body = head + b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) + rng.choice(tails)
        step = rng.choice([1, 2, 3, 5, 8, 64, 4096])
        assert _events(_Decoder, b"bnd", body, step) == _events(MultipartDecoder, b"bnd", body, step), (body, step)


def test_same_events_for_any_preamble_and_first_boundary() -> None:
    """The first boundary (werkzeug's preamble_re: the line break before it optional), matched by
    hand here rather than compiled per request."""
    rng = random.Random(7)
    pieces = [b"", b"\r\n", b"\n", b"\r", b"x", b"-", b"--", b"--bnd", b"--bn", b" ", b"\t", b"--bnd--",
              b"\r\n--bnd", b"\n--bnd  \n", b"--bnd\x0b\r"]
    part = b'Content-Disposition: form-data; name="f"\r\n\r\nv\r\n--bnd--\r\n'
    for _ in range(5000):
        body = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 8))) + rng.choice([b"", part, b"\r\n" + part])
        step = rng.choice([1, 2, 3, 7, 4096])
        assert _events(_Decoder, b"bnd", body, step) == _events(MultipartDecoder, b"bnd", body, step), (body, step)


def test_same_events_for_a_large_file_between_fields() -> None:
    rng = random.Random(6)
    data = bytes(rng.getrandbits(8) for _ in range(300_000)).replace(b"--", b"-")
    body = (b'--B0undary\r\nContent-Disposition: form-data; name="title"\r\n\r\nNghi quyet\r\n'
            b'--B0undary\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
            + data + b'\r\n--B0undary\r\nContent-Disposition: form-data; name="after"\r\n\r\n\r\n--B0undary--\r\n')
    for step in (7_000, 65_536, 262_144, 1 << 20):
        assert _events(_Decoder, b"B0undary", body, step) == _events(MultipartDecoder, b"B0undary", body, step)
