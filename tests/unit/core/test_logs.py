"""LOG_FORMAT: JSON lines for machines, short text lines for a person at a terminal."""

from __future__ import annotations

import json
import logging

import pytest

from services.core.logs import JsonFormatter, TextFormatter, formatter


def record(level: int = logging.INFO, **fields: object) -> logging.LogRecord:
    made = logging.LogRecord("sotay.rpc", level, __file__, 1, "rpc", None, None)
    made.fields = fields  # type: ignore[attr-defined]
    return made


def test_text_lines_carry_the_service_the_message_and_its_fields() -> None:
    line = TextFormatter("identity").format(record(method="/x.Y/Z", code="OK", ms=1.5))
    time_part, rest = line.split(" ", 1)
    assert len(time_part) == 8 and time_part.count(":") == 2
    assert rest.split() == ["identity", "rpc", "method=/x.Y/Z", "code=OK", "ms=1.5"]
    assert "WARNING" in TextFormatter("identity").format(record(logging.WARNING))


def test_log_format_chooses_the_formatter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert isinstance(formatter("gateway"), JsonFormatter)
    assert json.loads(formatter("gateway").format(record(code="OK")))["code"] == "OK"
    monkeypatch.setenv("LOG_FORMAT", "text")
    assert isinstance(formatter("gateway"), TextFormatter)
