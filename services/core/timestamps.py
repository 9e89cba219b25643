"""Epoch seconds, as the services store times, <-> protobuf Timestamps."""

from __future__ import annotations

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp


def timestamp(seconds: float) -> Timestamp:
    t = Timestamp()
    t.FromNanoseconds(int(seconds * 1e9))
    return t


def ts(seconds: float | None) -> Timestamp | None:
    """The time as a Timestamp, or None (the field left unset) for no time: NULL, or 0 where a
    table stores 0 for 'not yet'."""
    return timestamp(seconds) if seconds else None


def epoch_seconds(t: Timestamp) -> float:
    return t.seconds + t.nanos / 1e9


def given_seconds(message: Message, field: str) -> float | None:
    """A Timestamp field of a request in epoch seconds, or None when the caller left it unset."""
    return epoch_seconds(getattr(message, field)) if message.HasField(field) else None
