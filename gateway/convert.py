"""Protobuf messages <-> the JSON of the REST API, generically from the descriptors.

JSON conventions: snake_case field names (the proto names); enums as lowercase strings without
their prefix (UNIT_KIND_CELL <-> "cell", the zero value <-> null); timestamps as RFC 3339 UTC
("2025-07-01T08:30:00Z", unset <-> null); an unset message field is null; every field is
present in the output, with its zero value when unset.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import keyword
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

M = TypeVar("M", bound=Message)

TIMESTAMP = Timestamp.DESCRIPTOR.full_name


class ConversionError(ValueError):
    """A JSON value that does not fit the proto field (the gateway answers 400 invalid_field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# ---------- enums ----------


def enum_prefix(enum: EnumDescriptor) -> str:
    """UNIT_KIND_ for UnitKind (from its zero value UNIT_KIND_UNSPECIFIED)."""
    zero = enum.values_by_number[0].name
    return zero.removesuffix("UNSPECIFIED") if zero.endswith("UNSPECIFIED") else ""


def enum_names(enum: EnumDescriptor) -> list[str]:
    """The JSON names of an enum's values, the zero value left out: ["province", ..., "cell"]."""
    prefix = enum_prefix(enum)
    return [v.name.removeprefix(prefix).lower() for v in enum.values if v.number != 0]


def enum_to_json(enum: EnumDescriptor, number: int) -> str | None:
    if number == 0:
        return None
    value = enum.values_by_number.get(number)
    if value is None:  # a value added to the contract after this gateway was built
        return None
    return value.name.removeprefix(enum_prefix(enum)).lower()


def enum_from_json(enum: EnumDescriptor, name: str | None, field: str = "") -> int:
    if not name:
        return 0
    value = enum.values_by_name.get(enum_prefix(enum) + name.upper())
    if value is None or value.number == 0:
        allowed = ", ".join(enum_names(enum))
        raise ConversionError(field or enum.name, f"{field or enum.name} must be one of: {allowed}")
    return int(value.number)


# ---------- messages -> JSON ----------
# Descriptors are typed Any below: the upb runtime's descriptor classes are not the ones the
# protobuf stubs name, and message_type / enum_type are Optional there.


_SCALAR, _MESSAGE, _TIMESTAMP, _ENUM, _BYTES = range(5)


@functools.cache
def _enum_json_names(enum: Any) -> dict[int, str]:
    prefix = enum_prefix(enum)
    return {v.number: v.name.removeprefix(prefix).lower() for v in enum.values if v.number != 0}


def _kind(field: Any) -> int:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _TIMESTAMP if field.message_type.full_name == TIMESTAMP else _MESSAGE
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _ENUM
    return _BYTES if field.type == FieldDescriptor.TYPE_BYTES else _SCALAR


def _value_to_json(kind: int, field: Any, value: Any) -> Any:
    if kind == _SCALAR:
        return value
    if kind == _TIMESTAMP:
        return value.ToJsonString() if (value.seconds or value.nanos) else None
    if kind == _MESSAGE:
        return to_json(value)
    if kind == _ENUM:
        return _enum_json_names(field.enum_type).get(value)  # unknown (newer) values -> None
    return base64.b64encode(value).decode("ascii")


def _is_map(field: Any) -> bool:
    return (
        field.type == FieldDescriptor.TYPE_MESSAGE
        and field.is_repeated
        and field.message_type.GetOptions().map_entry
    )


def _read(field: Any) -> str:
    """Source reading `field` from message `m` (getattr for names that are Python keywords)."""
    return f"getattr(m, {field.name!r})" if keyword.iskeyword(field.name) else f"m.{field.name}"


@functools.cache
def _converter(descriptor: Any) -> Callable[[Message], dict[str, Any]]:
    """A function converting messages of one type, generated once per type: one dict display
    reading each field, so a page of entries costs one call each (about half the time of a loop
    over the fields)."""
    env: dict[str, Any] = {"to_json": to_json, "value": _value_to_json}
    items = []
    field: Any
    for i, field in enumerate(descriptor.fields):
        read, kind = _read(field), _kind(field)
        env[f"f{i}"] = field
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            env[f"f{i}"] = value_field
            expr = f"{{str(k): value({_kind(value_field)}, f{i}, v) for k, v in {read}.items()}}"
        elif field.is_repeated:
            expr = f"{read}[:]" if kind == _SCALAR else f"[value({kind}, f{i}, v) for v in {read}]"
        elif kind == _SCALAR:
            expr = read
        elif kind == _ENUM:
            env[f"e{i}"] = _enum_json_names(field.enum_type)
            expr = f"e{i}.get({read})"  # 0 and unknown (newer) values -> None
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            expr = f"(value({kind}, f{i}, {read}) if m.HasField({field.name!r}) else None)"
        else:
            expr = f"value({kind}, f{i}, {read})"
        items.append(f"{field.name!r}: {expr}")
    source = "def convert(m):\n    return {" + ", ".join(items) + "}\n"
    exec(compile(source, f"<to_json {descriptor.full_name}>", "exec"), env)  # noqa: S102 - from descriptors only
    convert: Callable[[Message], dict[str, Any]] = env["convert"]
    return convert


_by_class: dict[type, Callable[[Message], dict[str, Any]]] = {}


def _convert_for(cls: type[Message]) -> Callable[[Message], dict[str, Any]]:
    # By class: hashing a class is cheap, a descriptor is not (a page converts many messages).
    convert = _by_class.get(cls)
    if convert is None:
        convert = _by_class[cls] = _converter(cls.DESCRIPTOR)
    return convert


def to_json(message: Message) -> dict[str, Any]:
    return _convert_for(type(message))(message)


def to_json_all(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """to_json of each message of a repeated field, with one converter lookup for the lot."""
    if not messages:
        return []
    return list(map(_convert_for(type(messages[0])), messages))


# ---------- JSON -> messages ----------


def _scalar_from_json(field: Any, value: Any, path: str) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        if not isinstance(value, str):
            raise ConversionError(path, f"{path} must be a string")
        return enum_from_json(field.enum_type, value, path)
    if field.type == FieldDescriptor.TYPE_BYTES:
        if isinstance(value, bytes):
            return value
        try:
            return base64.b64decode(value, validate=True)
        except (ValueError, TypeError):
            raise ConversionError(path, f"{path} must be base64") from None
    if isinstance(value, dt.date) and field.type == FieldDescriptor.TYPE_STRING:
        return value.isoformat()
    return value


def _fill(message: Message, data: Mapping[str, Any], prefix: str) -> None:
    descriptor: Any = message.DESCRIPTOR
    for name, value in data.items():
        path = f"{prefix}{name}"
        field: Any = descriptor.fields_by_name.get(name)
        if field is None:
            raise ConversionError(path, f"unknown field {path}")
        if value is None:
            continue
        try:
            if field.type == FieldDescriptor.TYPE_MESSAGE and not field.is_repeated:
                target = getattr(message, name)
                if field.message_type.full_name == TIMESTAMP:
                    if isinstance(value, dt.datetime):
                        target.FromDatetime(value)
                    else:
                        target.FromJsonString(str(value))
                else:
                    if not isinstance(value, Mapping):
                        raise ConversionError(path, f"{path} must be an object")
                    _fill(target, value, f"{path}.")
                    target.SetInParent()
            elif field.is_repeated:
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    container = getattr(message, name)
                    for i, item in enumerate(value):
                        if not isinstance(item, Mapping):
                            raise ConversionError(f"{path}.{i}", f"{path}.{i} must be an object")
                        _fill(container.add(), item, f"{path}.{i}.")
                else:
                    getattr(message, name).extend(_scalar_from_json(field, v, path) for v in value)
            else:
                setattr(message, name, _scalar_from_json(field, value, path))
        except ConversionError:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            # Out-of-range numbers and times, wrong types, strings that are not valid UTF-8...
            raise ConversionError(path, f"{path} has an invalid value") from exc


def from_json(cls: type[M], data: Mapping[str, Any]) -> M:
    """A `cls` message from JSON-like data (pydantic's model_dump); None values are left unset."""
    message = cls()
    _fill(message, data, "")
    return message
