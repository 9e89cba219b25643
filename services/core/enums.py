"""Protobuf enums <-> the lower-case strings stored in databases: UNIT_KIND_CELL <-> 'cell'."""

from __future__ import annotations

import functools
from typing import Any

from services.core.errors import InvalidArgument


def enum_str(enum: Any, value: int, prefix: str, field: str) -> str:
    """enum value -> 'name' ('' for 0); an unknown number is INVALID_ARGUMENT naming `field`."""
    if value == 0:
        return ""
    try:
        return str(enum.Name(value)).removeprefix(prefix).lower()
    except ValueError:
        raise InvalidArgument(f"invalid_{field}", f"{field} has an unknown value {value}", field=field) from None


@functools.cache
def enum_numbers(enum: Any, prefix: str) -> dict[str, Any]:
    """{'name': number} of an enum, built once (for conversions of many rows)."""
    return {name.removeprefix(prefix).lower(): number for name, number in enum.items()}


def str_enum(enum: Any, value: str | None, prefix: str) -> Any:
    """'name' -> enum value (0 for empty); an unknown name is a KeyError (a bug, not input)."""
    return enum_numbers(enum, prefix)[value] if value else 0
