"""Wiring of the identity service: servicers on a gRPC server."""

from __future__ import annotations

from services.core.auth import KeySource
from services.core.db import Database
from services.core.entry import Worker
from services.core.server import Register, service_with_event_log
from services.identity import report_facts
from services.identity.accounts import Accounts, Policy
from services.identity.keys import KeyStore
from services.identity.migrations import MIGRATIONS
from services.identity.servicer import PUBLIC_METHODS, IdentityServicer
from sotay.identity.v1 import identity_pb2, identity_pb2_grpc

SERVICE_NAME = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name

__all__ = ["COMMANDS", "MIGRATIONS", "build"]


def build(db: Database) -> tuple[Register, KeySource, set[str]]:
    keys = KeyStore(db)
    keys.signing_key()
    servicer = IdentityServicer(db, keys, Accounts(db, keys, Policy.from_env()))
    register = service_with_event_log(
        identity_pb2_grpc.add_IdentityServiceServicer_to_server, servicer, SERVICE_NAME, db
    )
    return register, keys.public_keys, PUBLIC_METHODS


COMMANDS: dict[str, Worker] = {"report-facts": report_facts.run}  # one-shot
