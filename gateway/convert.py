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
import operator
from collections.abc import Callable, Mapping
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


@functools.cache
def _plan(descriptor: Any) -> list[tuple[str, str, int, Any]]:
    """Per message type, once: (name, shape, kind, field) with shape map/list/optional/plain."""
    plan = []
    field: Any
    for field in descriptor.fields:
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            plan.append((field.name, "map", _kind(value_field), value_field))
        elif field.is_repeated:
            plan.append((field.name, "list", _kind(field), field))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            plan.append((field.name, "optional", _kind(field), field))
        else:
            plan.append((field.name, "plain", _kind(field), field))
    return plan


@functools.cache
def _converter(descriptor: Any) -> Callable[[Message], dict[str, Any]]:
    """A function converting messages of one type: every field read at once (attrgetter), then
    only the fields that are not plain scalars fixed up. Built once per message type."""
    plan = _plan(descriptor)
    names = tuple(name for name, *_ in plan)
    read = operator.attrgetter(*names) if len(names) > 1 else (lambda m: (getattr(m, names[0]),))
    enums = [(i, name, _enum_json_names(field.enum_type)) for i, (name, shape, kind, field) in enumerate(plan)
             if shape == "plain" and kind == _ENUM]
    others = [(i, name, shape, kind, field) for i, (name, shape, kind, field) in enumerate(plan)
              if not (shape == "plain" and kind in (_SCALAR, _ENUM))]

    def convert(message: Message) -> dict[str, Any]:
        values = read(message) if names else ()
        out = dict(zip(names, values, strict=False))  # same length by construction
        for i, name, json_names in enums:
            out[name] = json_names.get(values[i])  # 0 and unknown (newer) values -> None
        for i, name, shape, kind, field in others:
            value = values[i]
            if shape == "plain":
                out[name] = _value_to_json(kind, field, value)
            elif shape == "optional":
                out[name] = _value_to_json(kind, field, value) if message.HasField(name) else None
            elif shape == "list":
                out[name] = [_value_to_json(kind, field, v) for v in value]
            else:
                out[name] = {str(k): _value_to_json(kind, field, v) for k, v in value.items()}
        return out

    return convert


_by_class: dict[type, Callable[[Message], dict[str, Any]]] = {}


def to_json(message: Message) -> dict[str, Any]:
    # By class: hashing a class is cheap, a descriptor is not (a page converts many messages).
    convert = _by_class.get(type(message))
    if convert is None:
        convert = _by_class[type(message)] = _converter(message.DESCRIPTOR)
    return convert(message)


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
        except (ValueError, TypeError) as exc:
            # Out-of-range numbers, wrong types, strings that are not valid UTF-8...
            raise ConversionError(path, f"{path} has an invalid value") from exc


def from_json(cls: type[M], data: Mapping[str, Any]) -> M:
    """A `cls` message from JSON-like data (pydantic's model_dump); None values are left unset."""
    message = cls()
    _fill(message, data, "")
    return message
