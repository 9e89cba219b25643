"""Wiring of the meetings service: servicers on a gRPC server."""

from __future__ import annotations

from services.core.auth import KeySource
from services.core.db import Database
from services.core.documents_client import DocumentsClient
from services.core.entry import Worker, identity_keys
from services.core.identity_client import IdentityClient
from services.core.server import Register, service_with_event_log
from services.meetings import report_facts, rubric
from services.meetings.ballots import BallotBox, load_key, load_previous_keys
from services.meetings.migrations import MIGRATIONS
from services.meetings.servicer import MeetingsServicer
from services.meetings.tasks import run_reminders
from sotay.meetings.v1 import meetings_pb2, meetings_pb2_grpc

SERVICE_NAME = meetings_pb2.DESCRIPTOR.services_by_name["MeetingsService"].full_name

__all__ = ["COMMANDS", "MIGRATIONS", "WORKERS", "build"]


def build(db: Database) -> tuple[Register, KeySource, set[str]]:
    box = BallotBox(load_key(), load_previous_keys())
    servicer = MeetingsServicer(db, IdentityClient(), box, rubric.current(), DocumentsClient())
    register = service_with_event_log(
        meetings_pb2_grpc.add_MeetingsServiceServicer_to_server, servicer, SERVICE_NAME, db
    )
    return register, identity_keys(), set()


# Long-running background processes (`python -m services.meetings <name>`).
WORKERS: dict[str, Worker] = {"reminders": run_reminders}
COMMANDS: dict[str, Worker] = {"report-facts": report_facts.run}  # one-shot
