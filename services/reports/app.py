"""Wiring of the reports service: its servicer on a gRPC server, and its `consume` worker."""

from __future__ import annotations

from services.core.auth import KeySource
from services.core.db import Database
from services.core.entry import Worker, identity_keys
from services.core.server import Register, service_with_event_log
from services.reports import consumers
from services.reports.migrations import MIGRATIONS
from services.reports.servicer import PUBLIC_METHODS, ReportsServicer
from sotay.reports.v1 import reports_pb2, reports_pb2_grpc

SERVICE_NAME = reports_pb2.DESCRIPTOR.services_by_name["ReportsService"].full_name

__all__ = ["MIGRATIONS", "WORKERS", "build"]


def build(db: Database) -> tuple[Register, KeySource, set[str]]:
    servicer = ReportsServicer(db)
    register = service_with_event_log(
        reports_pb2_grpc.add_ReportsServiceServicer_to_server, servicer, SERVICE_NAME, db
    )
    return register, identity_keys(), PUBLIC_METHODS


WORKERS: dict[str, Worker] = {"consume": consumers.run}
