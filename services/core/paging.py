"""Opaque page tokens (an offset) and page-size bounds for list RPCs."""

from __future__ import annotations

import base64
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from services.core.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_OFFSET = 2**31 - 1  # past any list; a bigger (forged) offset would overflow the database's integers


def page_size(requested: int, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    if requested < 0:
        raise InvalidArgument("invalid_page_size", "page_size must not be negative")
    return min(requested or default, maximum)


def page_window(request: Any, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> tuple[int, int]:
    """The size and offset of the page a list request asks for (its `page_size` and `page_token`)."""
    return page_size(request.page_size, default, maximum), decode_token(request.page_token)


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


def counted_page(
    conn: Connection,
    table: str,
    where: str,
    order: str,
    params: dict[str, Any],
    offset: int,
    limit: int,
    columns: str = "*",
) -> tuple[list[Row[Any]], int]:
    """One page of `SELECT columns FROM table WHERE where ORDER BY order` and how many rows match
    in all. `table` may carry an alias ("meetings m"); the SQL pieces are the caller's own, never
    input (values go in `params`)."""
    values = {**params, "lim": limit, "off": offset}
    total = conn.execute(sa.text(f"SELECT COUNT(*) FROM {table} WHERE {where}"), values).scalar_one()
    rows = conn.execute(
        sa.text(f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} LIMIT :lim OFFSET :off"), values
    ).all()
    return list(rows), int(total)
