"""Wiring of the notifications service: servicers on a gRPC server, and its workers."""

from __future__ import annotations

import threading

from services.core.auth import KeySource
from services.core.db import Database
from services.core.entry import Worker, identity_keys
from services.core.server import Register, service_with_event_log
from services.notifications import events, feedback, report_facts
from services.notifications.delivery import worker as delivery
from services.notifications.migrations import MIGRATIONS
from services.notifications.servicer import PUBLIC_METHODS, NotificationsServicer
from sotay.notifications.v1 import notifications_pb2, notifications_pb2_grpc

SERVICE_NAME = notifications_pb2.DESCRIPTOR.services_by_name["NotificationsService"].full_name

__all__ = ["COMMANDS", "MIGRATIONS", "WORKERS", "build"]


def build(db: Database) -> tuple[Register, KeySource, set[str]]:
    servicer = NotificationsServicer(db)
    register = service_with_event_log(
        notifications_pb2_grpc.add_NotificationsServiceServicer_to_server, servicer, SERVICE_NAME, db
    )
    return register, identity_keys(), PUBLIC_METHODS


def _escalate(db: Database, stop: threading.Event) -> None:
    feedback.run_escalation(db, stop)


WORKERS: dict[str, Worker] = {"consume": events.run, "delivery": delivery.run, "escalate": _escalate}
COMMANDS: dict[str, Worker] = {"report-facts": report_facts.run}  # one-shot
