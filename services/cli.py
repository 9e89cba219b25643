"""`sotay`: run the whole system on one machine, and administer it.

  sotay up                 start every service and the gateway on the embedded backends
  sotay create-admin       make an account administering the top unit (province)
  sotay import-members F   import members from a CSV/XLSX file
  sotay migrate            bring every service's database schema up to date
  sotay backup DIR         every service's database, the document files (docs/operations.md)
  sotay backup --keep N ROOT   the same into ROOT/<UTC time>, keeping the newest N complete ones
  sotay restore DIR        put a backup back (services stopped), rebuild the search index
  sotay restore --latest ROOT  the same from the newest complete backup of `backup --keep`
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.core.backup import (
    SUMMARY,
    Part,
    backup_service,
    finish_dated,
    latest_complete,
    prune,
    restore_service,
    start_dated,
)
from services.core.clients import grpc_target
from services.core.config import (
    METRICS_PORTS,
    data_dir,
    env,
    env_float,
    env_int,
    secure_data_files,
    service_addr,
    write_private,
)
from services.core.db import Database, Migration
from services.core.logs import setup_logging
from services.core.outbox import ensure_epoch
from services.identity.migrations import MIGRATIONS as IDENTITY_MIGRATIONS
from services.supervisor import Backoff, Supervisor

# Every service `sotay up` runs; each has services/<name>/app.py with MIGRATIONS (and WORKERS).
SERVICES = ("identity", "documents", "meetings", "notifications", "reports")


def service_app(name: str) -> object:
    return importlib.import_module(f"services.{name}.app")


def migrations_of(name: str) -> list[Migration]:
    return list(service_app(name).MIGRATIONS)  # type: ignore[attr-defined]


def workers_of(name: str) -> list[str]:
    """The service's background processes: the outbox relay and its own workers."""
    return ["relay", *getattr(service_app(name), "WORKERS", {})]


@dataclass(frozen=True)
class Process:
    name: str
    argv: list[str]
    grpc_service: str = ""  # health-checked when set
    replica: int = 0  # 0, 1, … : which copy (its ports are the replica's own)
    worker_metrics: int = 0  # a worker's /metrics and /healthz port (WORKER_METRICS_BASE + …)

    @property
    def is_gateway(self) -> bool:
        return self.argv[0].endswith("gunicorn")


WORKER_METRICS_STEP = 20  # worker j of replica k: SOTAY_WORKER_METRICS_PORT + 20·k + j under `sotay up`


def processes(replicas: int = 1) -> list[Process]:
    py = sys.executable
    procs = []
    for k in range(replicas):
        j, base = 0, worker_metrics_base()
        for service in SERVICES:
            procs.append(Process(replica_name(service, k), [py, "-m", f"services.{service}", "serve"], service, k))
            for worker in workers_of(service):
                port = base + WORKER_METRICS_STEP * k + j if base else 0
                procs.append(Process(replica_name(f"{service}-{worker}", k),
                                     [py, "-m", f"services.{service}", worker], replica=k, worker_metrics=port))
                j += 1
        gunicorn = str(Path(py).with_name("gunicorn"))
        procs.append(Process(replica_name("gateway", k),
                             [gunicorn, "-c", "python:gateway.gunicorn_conf", "gateway.app:create_app()"], replica=k))
    return procs


def worker_metrics_base() -> int:
    """First port of the workers' metrics under `sotay up` (0: none). Off by default when the
    servers' METRICS_PORT is 0, so that `METRICS_PORT=0` still means no metrics port at all."""
    default = 0 if os.environ.get("METRICS_PORT") == "0" else 9300
    return env_int("SOTAY_WORKER_METRICS_PORT", default)


def replica_name(name: str, k: int) -> str:
    return name if k == 0 else f"{name}.{k + 1}"


PORT_STEP = 100  # replica k listens on the first replica's port + k × PORT_STEP (unless addresses are listed)


def replica_addrs(service: str, replicas: int) -> list[str]:
    """The addresses of a service's replicas: those listed in <SERVICE>_ADDR (comma-separated), the
    missing ones on the first one's port + k × PORT_STEP."""
    listed = [a.strip() for a in service_addr(service).split(",") if a.strip()]
    host, port = listed[0].rsplit(":", 1)
    return [listed[k] if k < len(listed) else f"{host}:{int(port) + k * PORT_STEP}" for k in range(replicas)]


def gateway_binds(replicas: int) -> list[str]:
    """GATEWAY_BIND of each gateway replica: the first's address(es), ports moved by k × PORT_STEP."""
    first = [b.strip() for b in env("GATEWAY_BIND", "127.0.0.1:8080").split(",") if b.strip()]
    return [",".join(f"{b.rsplit(':', 1)[0]}:{int(b.rsplit(':', 1)[1]) + k * PORT_STEP}" for b in first)
            for k in range(replicas)]


def process_env(proc: Process, data: Path, replicas: int = 1) -> dict[str, str]:
    env = dict(os.environ, SOTAY_DATA_DIR=str(data))
    if "LOG_FORMAT" not in os.environ and sys.stderr.isatty():
        env["LOG_FORMAT"] = "text"  # a person is reading: short lines rather than JSON
    env.setdefault("GATEWAY_BACKENDS", ",".join(SERVICES))
    if not proc.grpc_service and not proc.is_gateway:  # workers share this host: each a port of its own
        env["METRICS_PORT"] = str(proc.worker_metrics - 100) if proc.worker_metrics else "0"  # served at + 100
    if replicas > 1:
        for service in SERVICES:  # every client balances over every replica (round_robin)
            env[f"{service.upper()}_ADDR"] = ",".join(replica_addrs(service, replicas))
        if proc.grpc_service:
            env["GRPC_PORT"] = replica_addrs(proc.grpc_service, replicas)[proc.replica].rsplit(":", 1)[1]
            metrics = env_int("METRICS_PORT", METRICS_PORTS[proc.grpc_service])
            env["METRICS_PORT"] = str(metrics + 10 * proc.replica if metrics else 0)
        elif proc.is_gateway:
            env["GATEWAY_BIND"] = gateway_binds(replicas)[proc.replica]
            env["GATEWAY_CONTROL_SOCKET"] = ""  # one path cannot serve two masters
    return env


def up_replicas(args: argparse.Namespace) -> int:
    """`--replicas`, else SOTAY_REPLICAS, else 1."""
    replicas = args.replicas if args.replicas is not None else env_int("SOTAY_REPLICAS", 1)
    if replicas < 1:
        raise SystemExit("--replicas must be 1 or more")
    return int(replicas)


def migrate_all() -> None:
    for service in SERVICES:
        db = Database.for_service(service)
        applied = db.migrate(service, migrations_of(service))
        ensure_epoch(db, service)
        print(f"{service}: migrations applied {applied or 'none (up to date)'}")
        db.dispose()


def grpc_healthy(target: str, timeout: float = 1.0) -> bool:
    with grpc.insecure_channel(grpc_target(target)) as channel:  # one address, or replicas: any of them
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:  # noqa: S310 - our own loopback URL
            return bool(reply.status == 200)
    except OSError:
        return False


def supervisor_backoff() -> Backoff:
    """Restart delays of `sotay up` (SOTAY_RESTART_BACKOFF, SOTAY_RESTART_MAX_BACKOFF seconds)."""
    return Backoff(
        base=env_float("SOTAY_RESTART_BACKOFF", 1.0),
        max_delay=env_float("SOTAY_RESTART_MAX_BACKOFF", 30.0),
    )


def cmd_up(args: argparse.Namespace) -> int:
    replicas = up_replicas(args)
    data = data_dir()
    print(f"data directory: {data}")
    os.umask(0o077)  # whatever the services write in the data directory is the owner's alone
    secure_data_files(data)
    migrate_all()
    from services.identity.seed import is_empty, seed_demo

    identity_db = Database.for_service("identity")
    demo = seed_demo(identity_db) if is_empty(identity_db) else []
    identity_db.dispose()
    stop = {"now": False}

    def on_signal(_sig: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    supervisor = Supervisor(supervisor_backoff())
    for proc in processes(replicas):
        supervisor.add(proc.name, proc.argv, process_env(proc, data, replicas))
    gateway_url = "http://" + env("GATEWAY_BIND", "127.0.0.1:8080").split(",")[0].strip()
    try:
        if not _wait_ready(supervisor, replicas, stop):
            return 1
        accounts = data / "demo-accounts.txt"
        if demo:
            lines = [f"  {a.login:<14} {a.password:<14} {a.who}" for a in demo]
            write_private(accounts, "\n".join(lines) + "\n")
        print(banner(gateway_url, data, accounts), flush=True)
        while not stop["now"]:
            supervisor.poll()  # a crashed process is started again, after a growing delay
            time.sleep(0.2)
        return 0
    finally:
        supervisor.stop()
        print("stopped")


def banner(gateway_url: str, data: Path, accounts: Path) -> str:
    """What a person needs once everything is up: where to open it and whom to sign in as."""
    rule = "─" * 72
    lines = ["", rule, f"Sổ tay Đảng viên is running: open {gateway_url}/ in a browser",
             f"  API      {gateway_url}/api/v1  (described at {gateway_url}/api/v1/openapi.json)",
             f"  data     {data}"]
    if accounts.exists():
        lines += [f"  demo accounts (also in {accounts}):", "  login          password       who",
                  *accounts.read_text(encoding="utf-8").rstrip("\n").splitlines()]
    lines += ["  Ctrl-C stops everything.", rule]
    return "\n".join(lines)


def _wait_ready(supervisor: Supervisor, replicas: int, stop: dict[str, bool]) -> bool:
    deadline = time.monotonic() + 60 * replicas
    binds = gateway_binds(replicas)
    pending = {p.name: p for p in processes(replicas) if p.grpc_service or p.is_gateway}
    while pending and time.monotonic() < deadline and not stop["now"]:
        supervisor.poll()
        for name, proc in list(pending.items()):
            if proc.grpc_service:
                ok = grpc_healthy(replica_addrs(proc.grpc_service, replicas)[proc.replica])
            else:
                ok = http_ok(f"http://{binds[proc.replica].split(',')[0]}/healthz")
            if ok:
                print(f"  {name}: ready")
                del pending[name]
        time.sleep(0.2)
    if pending:
        looping = [name for name in supervisor.crash_looping() if name in pending]
        print(f"not ready: {', '.join(pending)}" + (f" (crashing: {', '.join(looping)})" if looping else ""),
              file=sys.stderr)
    return not pending


def cmd_create_admin(args: argparse.Namespace) -> int:
    from services.identity.accounts import create_admin

    db = Database.for_service("identity")
    db.migrate("identity", IDENTITY_MIGRATIONS)
    account_id, root_id = create_admin(db, args.username, args.password)
    print(f"admin {args.username!r} (account {account_id}) administers unit {root_id}")
    return 0


def cmd_import_members(args: argparse.Namespace) -> int:
    import sqlalchemy as sa
    from tqdm import tqdm

    from services.identity.importer import import_members

    db = Database.for_service("identity")
    db.migrate("identity", IDENTITY_MIGRATIONS)
    with db.read() as conn:
        root = conn.execute(sa.text("SELECT id FROM units WHERE parent_id IS NULL")).scalar()
    unit_id = args.unit or root
    if not unit_id:
        print("no units yet: run `sotay create-admin` first", file=sys.stderr)
        return 2
    path = Path(args.file)
    fmt = "xlsx" if path.suffix.lower() == ".xlsx" else "csv"
    with path.open("rb") as stream, tqdm(unit="rows", desc="import") as bar:
        last = [0]

        def progress(done: int) -> None:
            bar.update(done - last[0])
            last[0] = done

        report = import_members(db, unit_id, stream, fmt, dry_run=args.dry_run, actor="cli", progress=progress)
    print(
        f"rows {report.rows}: created {report.created}, updated {report.updated}, "
        f"unchanged {report.unchanged}, rejected {report.rejected}"
    )
    for err in report.errors[:50]:
        print(f"  row {err.row}: {err.column or '-'}: {err.reason}: {err.message}")
    if len(report.errors) > 50:
        print(f"  ... and {len(report.errors) - 50} more")
    return 1 if report.rejected else 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    migrate_all()
    return 0


def backup_parts(service: str) -> tuple[Part, ...]:
    """What a service backs up besides its database (services/<name>/backup.py PARTS)."""
    try:
        module = importlib.import_module(f"services.{service}.backup")
    except ModuleNotFoundError:
        return ()
    return tuple(module.PARTS)


def positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def cmd_backup(args: argparse.Namespace) -> int:
    """`sotay backup DIR`: each service's database (and documents' files) into DIR/<service>.
    With `--keep N`, DIR is a root of dated backups (services.core.backup)."""
    if args.keep is not None and args.service:
        print("--keep backs up every service (a dated folder holds a whole backup): leave out --service",
              file=sys.stderr)
        return 2
    root = Path(args.dir)
    previous = latest_complete(root) if args.keep is not None else None
    if args.keep is not None:
        target = start_dated(root)
    else:
        target = root
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
    started = time.monotonic()
    report = {}
    for service in args.service or SERVICES:
        db = Database.for_service(service)
        report[service] = backup_service(service, db, target / service, backup_parts(service),
                                         previous / service if previous else None)
        db.dispose()
        print(f"{service}: backed up in {report[service]['seconds']} s {report[service]['steps']}")
    summary = {"seconds": round(time.monotonic() - started, 3), "services": report}
    write_private(target / SUMMARY, json.dumps(summary, indent=2))
    if args.keep is None:
        print(f"backup in {target} ({summary['seconds']} s)")
        return 0
    target = finish_dated(target)
    print(f"backup in {target} ({summary['seconds']} s)")
    pruned = prune(root, args.keep, target)
    print(f"kept {len(pruned.kept)} of at most {args.keep}: {', '.join(pruned.kept)}")
    if pruned.removed:
        print(f"removed {', '.join(pruned.removed)}")
    if pruned.incomplete:
        print(f"incomplete, left in place (a failed or running backup): {', '.join(pruned.incomplete)}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """`sotay restore DIR`: put the backup back, service by service (each must be stopped).
    With `--latest`, DIR is a root of dated backups: the newest complete one."""
    source = Path(args.dir)
    if args.latest:
        newest = latest_complete(source)
        if newest is None:
            print(f"{source} holds no complete dated backup (<UTC time>/{SUMMARY})", file=sys.stderr)
            return 1
        print(f"restoring {newest}")
        source = newest
    services = args.service or SERVICES
    serving = [s for s in services if grpc_healthy(service_addr(s).split(",")[0], timeout=0.5)]
    if serving and not args.force:
        print(f"stop these services before restoring their databases: {', '.join(serving)} (or --force)")
        return 1
    started = time.monotonic()
    report = {}
    for service in services:
        db = Database.for_service(service)
        report[service] = restore_service(service, db, source / service, migrations_of(service),
                                          backup_parts(service))
        db.dispose()
        print(f"{service}: restored in {report[service]['seconds']} s {report[service]['steps']}")
    summary = {"seconds": round(time.monotonic() - started, 3), "services": report}
    (source / "restore.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(f"restored from {source} ({summary['seconds']} s); start the services again")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sotay", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run every service and the gateway on the embedded defaults")
    up.add_argument("--replicas", type=int, default=None,
                    help="copies of every server, worker and gateway (default SOTAY_REPLICAS or 1); "
                         "PostgreSQL (DATABASE_URL with {service}) advised beyond 1")
    up.set_defaults(fn=cmd_up)
    admin = sub.add_parser("create-admin", help="make an account administering the top unit")
    admin.add_argument("--username", required=True)
    admin.add_argument("--password", required=True)
    admin.set_defaults(fn=cmd_create_admin)
    imp = sub.add_parser("import-members", help="import members from a CSV or XLSX file")
    imp.add_argument("file")
    imp.add_argument("--unit", default="", help="unit the file's unit codes belong under (default: the top unit)")
    imp.add_argument("--dry-run", action="store_true")
    imp.set_defaults(fn=cmd_import_members)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)
    backup = sub.add_parser("backup", help="back up every service's database and the document files")
    backup.add_argument("dir")
    backup.add_argument("--service", action="append", choices=SERVICES, help="only this service (repeatable)")
    backup.add_argument("--keep", type=positive_int, metavar="N",
                        help="write DIR/<UTC time>/ and remove all but the newest N complete backups in DIR")
    backup.set_defaults(fn=cmd_backup)
    restore = sub.add_parser("restore", help="restore a backup (the services stopped), rebuild search")
    restore.add_argument("dir")
    restore.add_argument("--service", action="append", choices=SERVICES, help="only this service (repeatable)")
    restore.add_argument("--force", action="store_true", help="even when a service answers at its address")
    restore.add_argument("--latest", action="store_true",
                         help="DIR holds dated backups (backup --keep): restore the newest complete one")
    restore.set_defaults(fn=cmd_restore)
    args = parser.parse_args(argv)
    setup_logging("sotay")
    try:
        return int(args.fn(args))
    except Exception as exc:  # a clear message instead of a traceback for operators
        from services.core.errors import ServiceError

        if isinstance(exc, ServiceError):
            print(f"error: {exc.message} ({exc.reason})", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
