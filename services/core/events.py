"""Typed domain events: one protobuf message per outbox topic (protos/sotay/events/v1/*_events.proto),
the topic declared once, by the message's `(sotay.events.v1.topic)` option.

- Producers call `services.core.outbox.emit(conn, key, message)`; the topic comes from the message.
- The outbox stores the payload as JSON (`encode`: protobuf's JSON mapping with the proto field
  names, every field printed), the shape the hand-built payloads had before the messages, so
  rows stored then still parse (`decode`) and a stored event reads as it did (docs/design.md).
- Consumers subscribe by message class (`Subscriptions`): each event arrives decoded into the
  class its producer built, and the subscription says which topics to fetch from which source.
- `UNCONSUMED`: the topics no service of this system reads, and why they are written all the same
  (tests/unit/core/test_event_topics.py checks every topic is read or listed there).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from sqlalchemy.engine import Connection

from sotay.events.v1 import (
    documents_events_pb2,
    identity_events_pb2,
    meetings_events_pb2,
    notifications_events_pb2,
    reports_events_pb2,
    topic_pb2,
)

if TYPE_CHECKING:
    from services.core.outbox import Event

M = TypeVar("M", bound=Message)

MODULES = (identity_events_pb2, meetings_events_pb2, documents_events_pb2, notifications_events_pb2,
           reports_events_pb2)


def topic_of(message: Message | type[Message]) -> str:
    """The topic a message class (or one of its messages) is the payload of."""
    topic = message.DESCRIPTOR.GetOptions().Extensions[topic_pb2.topic]
    if not topic:
        raise TypeError(f"{message.DESCRIPTOR.full_name} is not an event: it declares no topic")
    return topic


def _declared() -> dict[str, type[Message]]:
    found: dict[str, type[Message]] = {}
    for module in MODULES:
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            topic = descriptor.GetOptions().Extensions[topic_pb2.topic]
            if topic in found:
                raise RuntimeError(f"topic {topic} is declared twice")
            if topic:
                found[topic] = getattr(module, descriptor.name)
    return found


# Every topic of the system and its message.
TOPICS = _declared()

# Topics written that no service of this system reads, and why they are written all the same.
UNCONSUMED: dict[type[Message], str] = {
    meetings_events_pb2.PollClosed: "no service needs it yet (a poll's result is read from the meeting); "
                                    "the log keeps when each poll closed and whether it passed, for an "
                                    "audit or a later reader, beside poll.opened",
    reports_events_pb2.ExemptionSet: "the reports service owns the exemptions and reads its own table; the "
                                     "event is the history of who was exempt since when, for an audit or "
                                     "a later reader",
}


def snapshot_field(snapshot: Message | type[Message]) -> str:
    """The one field of a snapshot message (`*Facts`, the backfill): the list of its items."""
    (field,) = snapshot.DESCRIPTOR.fields
    return str(field.name)


def snapshot_items(snapshot: Message) -> list[Any]:
    return list(getattr(snapshot, snapshot_field(snapshot)))


def source_of(topic: str) -> str:
    """The service that writes a topic (its first part)."""
    return topic.split(".", 1)[0]


def encode(message: Message) -> str:
    """The JSON stored in the outbox and served as `payload_json`."""
    return json.dumps(
        json_format.MessageToDict(message, always_print_fields_with_no_presence=True,
                                  preserving_proto_field_name=True, unquote_int64_if_possible=True),
        ensure_ascii=False,
    )


def decode(cls: type[M], payload: Any) -> M:
    """A stored payload (a JSON object) as a `cls`; fields it does not know (a newer producer's)
    are ignored. ValueError when it is not one."""
    if not isinstance(payload, dict):
        raise ValueError("the payload is not a JSON object")
    message = cls()
    try:
        json_format.ParseDict(_legacy(payload, cls.DESCRIPTOR), message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise ValueError(str(exc)) from exc
    return message


def _legacy(payload: dict[str, Any], descriptor: Any) -> dict[str, Any]:
    """A payload hand-built before the messages: SQLite's 0/1 where a bool belongs (the backfill
    snapshots copied columns as they were) becomes false/true."""
    fixed = dict(payload)
    for name, value in payload.items():
        field = descriptor.fields_by_name.get(name)
        if field is None:
            continue
        if field.type == FieldDescriptor.TYPE_BOOL and type(value) is int:
            fixed[name] = bool(value)
        elif field.message_type is not None and isinstance(value, list):
            fixed[name] = [_legacy(v, field.message_type) if isinstance(v, dict) else v for v in value]
    return fixed


# Consumer name -> the topics it reads (tests/unit/core/test_event_topics.py).
SUBSCRIBED: dict[str, set[str]] = {}


def subscribe(consumer: str, *messages: type[Message]) -> list[str]:
    """Record that `consumer` reads these messages; their topics, to fetch."""
    topics = [topic_of(m) for m in messages]
    SUBSCRIBED.setdefault(consumer, set()).update(topics)
    return topics


@dataclass(frozen=True)
class On(Generic[M]):
    """Apply each event of `message`'s topic with `apply(conn, message)`."""

    message: type[M]
    apply: Callable[[Connection, M], object]

    def __call__(self, conn: Connection, event: Event) -> None:
        self.apply(conn, decode(self.message, event.payload))


class Subscriptions:
    """A consumer's handler (an outbox `Handler`): each event of a subscribed topic decoded into its
    message and applied, other topics skipped; an event that cannot be applied is logged and
    skipped (outbox.dispatch)."""

    def __init__(self, consumer: str, *handlers: On[Any]) -> None:
        from services.core.outbox import dispatch  # outbox imports this module

        self.topics = subscribe(consumer, *(h.message for h in handlers))
        self._handle = dispatch({topic: h for topic, h in zip(self.topics, handlers, strict=True)})

    def sources(self) -> dict[str, list[str]]:
        """The topics to fetch, by the service that writes them."""
        found: dict[str, list[str]] = {}
        for topic in self.topics:
            found.setdefault(source_of(topic), []).append(topic)
        return found

    def __call__(self, conn: Connection, event: Event) -> None:
        self._handle(conn, event)
