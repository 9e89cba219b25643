"""Logs on stderr, each line carrying the request id of the call it belongs to: JSON (one object
a line, for machines) or, with LOG_FORMAT=text, short lines for a person at a terminal."""

from __future__ import annotations

import json
import logging
import sys
import time

from services.core.config import env
from services.core.context import current_request_id


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = current_request_id()
        if rid:
            entry["request_id"] = rid
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`17:10:27 identity  rpc method=/sotay... code=OK ms=1.2`: local time, the service, the level
    when it is not INFO, the message and its fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        parts = [time.strftime("%H:%M:%S", time.localtime(record.created)), f"{self.service:<13}"]
        if record.levelno != logging.INFO:
            parts.append(record.levelname)
        parts.append(record.getMessage())
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            parts.extend(f"{k}={v}" for k, v in fields.items())
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def formatter(service: str) -> logging.Formatter:
    """The formatter LOG_FORMAT chooses: `json` (default) or `text`."""
    return JsonFormatter(service) if env("LOG_FORMAT", "json") == "json" else TextFormatter(service)


def setup_logging(service: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(env("LOG_LEVEL", "INFO").upper())
