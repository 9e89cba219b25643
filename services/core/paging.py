"""Opaque page tokens (an offset) and page-size bounds for list RPCs."""

from __future__ import annotations

import base64

from services.core.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_OFFSET = 2**31 - 1  # past any list; a bigger (forged) offset would overflow the database's integers


def page_size(requested: int, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    if requested < 0:
        raise InvalidArgument("invalid_page_size", "page_size must not be negative")
    return min(requested or default, maximum)


def decode_token(token: str) -> int:
    if not token:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o:"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument("invalid_page_token", "page_token is not valid") from exc
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidArgument("invalid_page_token", "page_token is not valid")
    return offset


def next_token(offset: int, size: int, returned: int, total: int) -> str:
    nxt = offset + returned
    if returned < size or nxt >= total:
        return ""
    return base64.urlsafe_b64encode(f"o:{nxt}".encode()).decode()
