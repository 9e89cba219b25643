"""Every event topic is declared once, by a message of protos/sotay/events/v1 (services/core/events.py),
is written by the service it is named after, and is read by a consumer of this system or listed
in `events.UNCONSUMED` with the reason it is written all the same."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import services
from services.core import events
from services.core.config import SERVICE_PORTS
from sotay.events.v1.identity_events_pb2 import Member

SERVICES = Path(services.__file__).parent


def read_topics() -> set[str]:
    """The topics the consumers of every service read: importing each module registers them."""
    for module in pkgutil.walk_packages(services.__path__, "services."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    return set().union(*events.SUBSCRIBED.values())


def test_every_topic_is_read_or_listed_as_unconsumed_with_a_reason() -> None:
    read = read_topics()
    unconsumed = {events.topic_of(m): why for m, why in events.UNCONSUMED.items()}
    assert all(len(why.split()) >= 5 for why in unconsumed.values()), "say why the topic is written"
    assert sorted(set(events.TOPICS) - read - set(unconsumed)) == [], "no consumer and not listed as unconsumed"
    assert sorted(read & set(unconsumed)) == [], "read, yet listed as unconsumed"
    # the consumers known here: a renamed or dropped one shows up as well
    assert {"reports", "notifications", "documents units", "documents search indexer"} <= set(events.SUBSCRIBED)


def names_used(folder: Path) -> set[str]:
    """The names and attributes the code in `folder` uses (imports aside)."""
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Name):
                found.add(node.id)
            elif isinstance(node, ast.Attribute):
                found.add(node.attr)
    return found


def test_every_topic_is_written_by_the_service_it_is_named_after() -> None:
    used = {service: names_used(SERVICES / service) for service in SERVICE_PORTS}
    for topic, message in events.TOPICS.items():
        source = events.source_of(topic)
        assert source in SERVICE_PORTS, f"{topic}: not named after a service"
        assert message.__name__ in used[source], f"{topic}: {source} never builds {message.__name__}"


def test_a_message_without_a_topic_is_not_an_event() -> None:
    with pytest.raises(TypeError, match="declares no topic"):
        events.topic_of(Member)  # an item of other messages
