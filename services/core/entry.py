"""Command line of every service process: `python -m services.<name> serve|relay|migrate`."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable, Sequence

from services.core.auth import KeySource, RevocationCheck, TokenVerifier
from services.core.config import ServerConfig, env, env_float
from services.core.db import Database, Migration
from services.core.errors import Unavailable
from services.core.identity_client import IdentityClient
from services.core.logs import setup_logging
from services.core.metrics import serve_metrics
from services.core.outbox import ensure_epoch, run_relay
from services.core.revocation import identity_watcher
from services.core.server import Register, serve_forever

log = logging.getLogger("sotay.entry")

Worker = Callable[[Database, threading.Event], None]


def identity_keys() -> KeySource:
    """Public keys from the identity service (for every service but identity itself).

    When identity does not answer the fetch fails as UNAVAILABLE: the keys already known are
    kept (an empty answer would replace them), and a token is not called invalid for it."""
    identity = IdentityClient()

    def fetch() -> dict[str, str]:
        try:
            return identity.public_keys()
        except Unavailable:
            log.warning("cannot fetch public keys from identity", exc_info=True)
            raise

    return fetch


def wait_for_signal() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def service_main(
    service: str,
    migrations: Sequence[Migration],
    build: Callable[[Database], tuple[Register, KeySource, set[str]]],
    workers: dict[str, Worker] | None = None,
    argv: Sequence[str] | None = None,
    revocations: Callable[[Database], RevocationCheck] | None = None,
) -> None:
    """`revocations`: how the server learns revoked tokens (default: identity's, by a watcher)."""
    workers = {"relay": lambda db, stop: run_relay(db, service, stop), **(workers or {})}
    parser = argparse.ArgumentParser(prog=f"python -m services.{service}")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate", *workers])
    parser.add_argument("--wait", action="store_true",
                        help="migrate: only wait until the schema is current (applied by the migration Job)")
    args = parser.parse_args(argv)
    setup_logging(service)
    db = Database.for_service(service)
    wait = env_float("MIGRATION_WAIT_SECONDS", 900.0)
    if args.command == "migrate":
        if args.wait:
            db.wait_for_schema(service, migrations, wait)
            return
        applied = db.migrate(service, migrations)
        ensure_epoch(db, service)
        log.info("migrated", extra={"fields": {"applied": applied}})
        return
    if args.command in workers and args.command != "serve":
        # /healthz answers (no loop yet) while the worker waits for its schema; then its loops.
        metrics_port = ServerConfig.from_env(service).metrics_port
        if metrics_port:
            serve_metrics(metrics_port + 100)
    # Kubernetes migrates once per release (a Job): its processes only wait for the schema.
    if env("MIGRATE_ON_START", "true").lower() in ("1", "true", "yes"):
        db.migrate(service, migrations)
    else:
        db.wait_for_schema(service, migrations, wait)
    ensure_epoch(db, service)  # a restored or recovered database starts its log's new epoch
    if args.command == "serve":
        register, keys, public = build(db)
        check = revocations(db) if revocations is not None else identity_watcher(service).start()
        serve_forever(ServerConfig.from_env(service), register, TokenVerifier(keys, revocations=check), public)
        return
    stop = wait_for_signal()
    log.info("worker started", extra={"fields": {"worker": args.command}})
    workers[args.command](db, stop)
    log.info("worker stopped", extra={"fields": {"worker": args.command}})
