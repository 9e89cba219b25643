"""Benchmarks of the notifications service in a 240,000-member province.

Seeds identity's database with bulk SQL (province -> 65 communes -> 20 grassroots -> 7-8 cells
-> 25 members: 9,620 cells, 240,500 members) and the notifications database with a year of
bulletins (province, commune, cell) and read receipts for one province bulletin, then runs the
notifications server as its own process (identity in this process) and measures, writing
bench/results/<name>.json for each:

  notifications_publish     CreateBulletin to one cell vs to the whole province (p50, ratio ~ 1)
  notifications_inbox       GET /api/v1/inbox (page 20) through the HTTP gateway by 32 members at 32
                            connections (wrk; its Lua script rotates the members' tokens per request):
                            requests/s, p50/p99 and the requests/s ratio to the gateway baseline (a
                            minimal Flask endpoint making one trivial gRPC call, bench/baseline_app.py)
                            under the same gunicorn settings, measured in the same run (target >= 0.6);
                            plus ListInbox over gRPC against a trivial gRPC call, for the service alone
  notifications_read_stats  GetBulletinReadStats of a province bulletin at province level (p50/p99): identity's
                            CountMembers (one grouped query) and one statement of range counts of reads
  notifications_email       e-mail dispatch rate of the delivery worker to the local SMTP server

Usage: python -m bench.notifications [--backend sqlite|postgres] [--seconds 10] [--only inbox,...]
GATEWAY_WORKERS / GATEWAY_THREADS (default 2 / 8) apply to the gateway and to its baseline alike.
Access tokens are minted with identity's signing key (no 240k logins). Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import requests
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.common import ROOT, fresh_postgres_database, latency_summary, percentile, stop, wait_http, write_result
from bench.loadgen import run_wrk
from services.core.auth import Grant, Principal, issue_access_token
from services.core.db import Database
from services.identity.keys import KeyStore
from services.notifications.delivery.worker import DeliveryWorker, Settings
from services.notifications.migrations import MIGRATIONS
from sotay.notifications.v1 import notifications_pb2 as pb
from sotay.notifications.v1 import notifications_pb2_grpc
from tests.support.identity import running_identity

COMMUNES, GRASSROOTS, MEMBERS_PER_CELL, TOTAL_CELLS = 65, 20, 25, 9620
CONCURRENCY = 32
BENCHMARKS = ("publish", "inbox", "read_stats", "email")
ROUNDS = 3  # gateway load: baseline and inbox alternate this many times


def uid() -> str:
    return str(uuid.uuid4())


def seed_identity(db: Database, root: str) -> list[tuple[str, tuple[str, ...]]]:
    """Units and members by bulk SQL; returns (member id, ancestry) of every member."""
    started = time.perf_counter()
    now = time.time()
    units: list[dict[str, Any]] = []
    cells: list[tuple[str, ...]] = []
    per_grassroots = [TOTAL_CELLS // (COMMUNES * GRASSROOTS)] * (COMMUNES * GRASSROOTS)
    for i in range(TOTAL_CELLS - sum(per_grassroots)):
        per_grassroots[i] += 1
    g_index = 0
    for c in range(COMMUNES):
        commune = uid()
        units.append({"id": commune, "name": f"Đảng ủy xã {c}", "kind": "commune", "parent": root,
                      "path": f"/{root}/{commune}/", "depth": 1})
        for g in range(GRASSROOTS):
            grassroots = uid()
            units.append({"id": grassroots, "name": f"Đảng bộ cơ sở {c}-{g}", "kind": "grassroots",
                          "parent": commune, "path": f"/{root}/{commune}/{grassroots}/", "depth": 2})
            for k in range(per_grassroots[g_index]):
                cell = uid()
                units.append({"id": cell, "name": f"Chi bộ {c}-{g}-{k}", "kind": "cell", "parent": grassroots,
                              "path": f"/{root}/{commune}/{grassroots}/{cell}/", "depth": 3})
                cells.append((root, commune, grassroots, cell))
            g_index += 1
    members: list[dict[str, Any]] = []
    chains: list[tuple[str, tuple[str, ...]]] = []
    for chain in cells:
        for _ in range(MEMBERS_PER_CELL):
            mid = uid()
            name = f"Đảng viên {len(members)}"
            members.append({"id": mid, "unit": chain[-1], "name": name, "folded": name.lower()})
            chains.append((mid, chain))
    with db.write() as conn:
        conn.execute(sa.text("INSERT INTO units (id, name, kind, parent_id, path, depth, active, created_at, "
                             "updated_at) VALUES (:id, :name, :kind, :parent, :path, :depth, TRUE, :now, :now)"),
                     [{**u, "now": now} for u in units])
        for start in range(0, len(members), 20000):
            conn.execute(sa.text(
                "INSERT INTO members (id, unit_id, full_name, name_folded, gender, status, exempt, position, active, "
                "created_at, updated_at) VALUES (:id, :unit, :name, :folded, 'other', 'official', FALSE, 'member', "
                "TRUE, :now, :now)"), [{**m, "now": now} for m in members[start:start + 20000]])
    if db.is_postgres:  # as autovacuum would soon after a bulk load: plans need the statistics
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    print(f"identity: {len(units)} units, {len(members)} members in {time.perf_counter() - started:.1f}s",
          flush=True)
    return chains


def seed_notifications(db: Database, chains: list[tuple[str, tuple[str, ...]]], root: str) -> str:
    """A year of bulletins and 60% read receipts for one province bulletin; its id."""
    started = time.perf_counter()
    db.migrate("notifications", MIGRATIONS)
    now = time.time()
    cells = sorted({c for _, c in chains})
    communes = sorted({c[1] for c in cells})
    rng = random.Random(11)
    bulletins, audience = [], []

    def add(unit: str, publisher: str, title: str, at: float) -> str:
        bid = uid()
        bulletins.append({"id": bid, "pub": publisher, "title": title, "at": at, "now": now})
        audience.append({"u": unit, "at": at, "b": bid})
        return bid

    province_ids = [add(root, root, f"Thông báo nội bộ tháng {m}", now - 86400 * 30 * m) for m in range(1, 13)]
    for commune in communes:
        for m in range(12):
            add(commune, commune, f"Thông báo xã tháng {m}", now - 86400 * (30 * m + 3))
    for cell in cells:
        for m in range(3):
            add(cell[-1], cell[-1], f"Thông báo chi bộ {m}", now - 86400 * (30 * m + 5))
    with db.write() as conn:
        for start in range(0, len(bulletins), 10000):
            conn.execute(sa.text(
                "INSERT INTO bulletins (id, publisher_unit_id, kind, title, body_html, body_text, attachments, "
                "publish_at, pinned, fanned_out_at, created_at, updated_at) VALUES (:id, :pub, 'bulletin', :title, "
                "'<p>Nội dung</p>', 'Nội dung', '[]', :at, FALSE, :now, :now, :now)"),
                bulletins[start:start + 10000])
            conn.execute(sa.text("INSERT INTO bulletin_audience (unit_id, publish_at, bulletin_id) "
                                 "VALUES (:u, :at, :b)"), audience[start:start + 10000])
        reads = [{"b": province_ids[0], "m": m, "p": "/" + "/".join(c) + "/", "t": now - rng.random() * 86400}
                 for m, c in chains if rng.random() < 0.6]
        for start in range(0, len(reads), 20000):
            conn.execute(sa.text("INSERT INTO bulletin_reads (bulletin_id, member_id, unit_path, read_at) "
                                 "VALUES (:b, :m, :p, :t)"), reads[start:start + 20000])
    if db.is_postgres:
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    print(f"notifications: {len(bulletins)} bulletins, {len(reads)} reads in {time.perf_counter() - started:.1f}s",
          flush=True)
    return province_ids[0]


def wait_grpc(target: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}")
            try:
                stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                return
            except grpc.RpcError:
                time.sleep(0.2)
    raise SystemExit(f"{target} did not come up")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def concurrent_calls(make_call: Any, seconds: float, workers: int = CONCURRENCY) -> list[float]:
    """Closed loop: `workers` threads call as fast as answers come, for `seconds`."""
    samples: list[list[float]] = [[] for _ in range(workers)]
    stop_at = time.perf_counter() + seconds

    def loop(i: int) -> None:
        call = make_call(i)
        for _ in range(3):
            call()  # warm up
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            call()
            samples[i].append(time.perf_counter() - started)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [s for per in samples for s in per]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"some of {','.join(BENCHMARKS)}")
    args = parser.parse_args()
    only = {b.strip() for b in args.only.split(",") if b.strip()}
    if only - set(BENCHMARKS):
        parser.error(f"--only takes some of {', '.join(BENCHMARKS)}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-notifications-"))
    if args.backend == "postgres":
        identity_url, notif_url = fresh_postgres_database("bench_identity"), fresh_postgres_database("bench_notif")
    else:
        identity_url, notif_url = f"sqlite:///{tmp / 'identity.db'}", f"sqlite:///{tmp / 'notifications.db'}"
    identity_db, notif_db = Database(identity_url), Database(notif_url)
    procs: list[subprocess.Popen[bytes]] = []
    with running_identity(identity_db) as identity:
        chains = seed_identity(identity_db, identity.root_id)
        province_bulletin = seed_notifications(notif_db, chains, identity.root_id)
        kid, key = KeyStore(identity_db).signing_key()

        def token(p: Principal) -> list[tuple[str, str]]:
            return [("authorization", f"Bearer {issue_access_token(key, kid, p, 3600)}")]

        root = identity.root_id
        editor_account = uid()
        with identity_db.write() as conn:
            conn.execute(sa.text("INSERT INTO accounts (id, username, active, created_at) VALUES (:id, 'bench-editor', "
                                 "TRUE, 0)"), {"id": editor_account})
            conn.execute(sa.text("INSERT INTO role_grants (id, account_id, role, unit_id, granted_at) "
                                 "VALUES (:id, :a, 'editor', :u, 0)"), {"id": uid(), "a": editor_account, "u": root})
        editor = token(Principal(editor_account, "", root, (root,), (Grant("editor", root),)))
        port, trivial_port = free_port(), free_port()
        env = {**os.environ, "DATABASE_URL": notif_url.replace("postgresql+psycopg://", "postgresql://"),
               "IDENTITY_ADDR": identity.target, "GRPC_PORT": str(port), "METRICS_PORT": "0",
               "LOG_LEVEL": "WARNING", "SOTAY_DATA_DIR": str(tmp)}  # GRPC_WORKERS: the default, or as set
        log = (tmp / "server.log").open("wb")
        procs.append(subprocess.Popen([sys.executable, "-m", "services.notifications", "serve"], env=env,
                                      cwd=ROOT, stderr=log))
        procs.append(subprocess.Popen([sys.executable, str(ROOT / "bench" / "trivial_grpc_server.py"),
                                       str(trivial_port)], cwd=ROOT))
        try:
            target = f"127.0.0.1:{port}"
            wait_grpc(target, procs[0])
            wait_grpc(f"127.0.0.1:{trivial_port}", procs[1])
            channel = grpc.insecure_channel(target)
            stub = notifications_pb2_grpc.NotificationsServiceStub(channel)
            if "publish" in only:
                run_publish(stub, editor, root, chains, args.backend)
            if "inbox" in only:
                run_inbox(stub, token, chains, Servers(target, identity.target, trivial_port, tmp),
                          args.seconds, args.backend)
            if "read_stats" in only:
                run_read_stats(stub, editor, province_bulletin, args.backend)
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
    if "email" in only:
        run_email(notif_db, chains, args.backend)


def run_publish(stub: Any, editor: Any, root: str, chains: list[tuple[str, tuple[str, ...]]], backend: str) -> None:
    cell = chains[0][1][-1]
    results = {}
    for name, unit in (("one_cell", cell), ("province_240k", root)):
        samples = []
        for i in range(120):
            started = time.perf_counter()
            stub.CreateBulletin(pb.CreateBulletinRequest(publisher_unit_id=unit, title=f"Bench {name} {i}",
                                                         body_html="<p>Nội dung <b>thông báo</b></p>"),
                                metadata=editor, timeout=30)
            samples.append(time.perf_counter() - started)
        results[name] = latency_summary(samples[20:])
    write_result(f"notifications_publish_{backend}", {
        "backend": backend, "audience_members": {"one_cell": MEMBERS_PER_CELL, "province_240k": len(chains)},
        **results,
        "ratio_p50_province_to_cell": round(
            results["province_240k"]["p50_ms"] / results["one_cell"]["p50_ms"], 3),
        "note": "fan-out on read: publishing writes one bulletin row and one audience row per addressed unit",
    })


@dataclass(frozen=True)
class Servers:
    notifications: str  # host:port
    identity: str
    trivial_port: int
    tmp: Path


def run_inbox(stub: Any, token: Any, chains: list[tuple[str, tuple[str, ...]]], servers: Servers,
              seconds: float, backend: str) -> None:
    rng = random.Random(5)
    members = rng.sample(chains, 2000)
    tokens = [token(Principal(uid(), m, c[-1], c)) for m, c in members]
    sample_items = stub.ListInbox(pb.ListInboxRequest(page_size=20), metadata=tokens[0]).total_size
    http = inbox_through_gateway([t[0][1] for t in tokens[:CONCURRENCY]], servers, seconds)
    grpc_level = inbox_over_grpc(stub, tokens, servers.trivial_port, seconds)
    write_result(f"notifications_inbox_{backend}", {
        "backend": backend, "members": len(chains), "inbox_items_per_member": sample_items,
        "gateway": http, "grpc": grpc_level,
        "ratio_rps_to_gateway_baseline": http["ratio_rps_to_baseline"], "target_ratio": 0.6,
    })


def rotating_tokens_script(authorizations: list[str]) -> str:
    """wrk Lua: every request carries the next member's Authorization (each wrk thread starts at
    another offset), so the load really is `len(authorizations)` different members."""
    listed = ",\n  ".join(json.dumps(a) for a in authorizations)
    return (
        f"local tokens = {{\n  {listed}\n}}\n"
        "local counter = 0\n"
        "local next_offset = 0\n"
        "function setup(thread)\n"
        "  thread:set(\"offset\", next_offset)\n"
        f"  next_offset = next_offset + {max(1, len(authorizations) // 2)}\n"
        "end\n"
        "function init(args)\n"
        "  counter = offset or 0\n"
        "end\n"
        "function request()\n"
        "  counter = counter + 1\n"
        "  return wrk.format(nil, nil, {[\"Authorization\"] = tokens[(counter % #tokens) + 1]})\n"
        "end\n"
    )


def run_wrk_members(
    url: str, authorizations: list[str], seconds: float, connections: int = CONCURRENCY
) -> dict[str, Any]:
    """Closed-loop wrk load on a loopback URL, rotating the Authorization header per request."""
    return run_wrk(url, connections=connections, seconds=seconds, lua=rotating_tokens_script(authorizations))


def inbox_through_gateway(authorizations: list[str], servers: Servers, seconds: float) -> dict[str, Any]:
    """The gateway (gunicorn, gateway.app) in front of the notifications server, and the baseline
    app in front of the trivial gRPC server, with the same gunicorn settings; each loaded alone."""
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    settings = {"GATEWAY_WORKERS": os.environ.get("GATEWAY_WORKERS", "2"),
                "GATEWAY_THREADS": os.environ.get("GATEWAY_THREADS", "8")}
    env = {**os.environ, **settings, "SOTAY_DATA_DIR": str(servers.tmp), "METRICS_PORT": "0",
           "LOG_LEVEL": "WARNING", "IDENTITY_ADDR": servers.identity, "NOTIFICATIONS_ADDR": servers.notifications,
           "GATEWAY_BACKENDS": "identity,notifications"}
    env.pop("DATABASE_URL", None)
    gw_bind, base_bind = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    procs = [
        subprocess.Popen([gunicorn, "-c", "python:gateway.gunicorn_conf", "gateway.app:create_app()"],
                         env={**env, "GATEWAY_BIND": gw_bind}, cwd=ROOT,
                         stdout=(servers.tmp / "gateway.log").open("wb"), stderr=subprocess.STDOUT),
        subprocess.Popen([gunicorn, "-c", "python:gateway.gunicorn_conf", "bench.baseline_app:create_app()"],
                         env={**env, "GATEWAY_BIND": base_bind,
                              "BASELINE_GRPC_ADDR": f"127.0.0.1:{servers.trivial_port}"}, cwd=ROOT,
                         stdout=(servers.tmp / "baseline.log").open("wb"), stderr=subprocess.STDOUT),
    ]
    try:
        wait_http(f"http://{gw_bind}/readyz", procs[0])
        wait_http(f"http://{base_bind}/ping", procs[1])
        inbox_url = f"http://{gw_bind}/api/v1/inbox?page_size=20"
        for auth in authorizations:  # every member's page answers, and warms up both sides
            reply = requests.get(inbox_url, headers={"Authorization": auth}, timeout=30)
            assert reply.status_code == 200 and len(reply.json()["items"]) == 20, reply.text[:500]
        names = {"baseline_flask_trivial_grpc": f"http://{base_bind}/ping", "inbox_page20": inbox_url}
        rounds: list[dict[str, Any]] = []
        for r in range(ROUNDS):  # interleaved, so both sides see the same machine (other loads come and go)
            got: dict[str, Any] = {}
            for name, url in names.items():
                print(f"load {r + 1}/{ROUNDS}: {name} for {seconds:.0f}s, {len(authorizations)} members at "
                      f"{CONCURRENCY} connections", flush=True)
                got[name] = run_wrk_members(url, authorizations, seconds)
            got["ratio_rps_to_baseline"] = round(
                got["inbox_page20"]["requests_per_s"] / got["baseline_flask_trivial_grpc"]["requests_per_s"], 3)
            rounds.append(got)
        summary = {
            name: {k: statistics.median(r[name][k] for r in rounds) for k in ("requests_per_s", "p50_ms", "p99_ms")}
            | {"non_2xx": sum(r[name]["non_2xx"] for r in rounds)}
            for name in names
        }
        return {
            "gunicorn": settings, "connections": CONCURRENCY, "members": len(authorizations),
            "seconds_per_run": seconds, "rounds": ROUNDS, "medians_over_rounds": summary,
            "ratio_rps_to_baseline": statistics.median(r["ratio_rps_to_baseline"] for r in rounds),
            "ratio_p50": round(summary["inbox_page20"]["p50_ms"] / summary["baseline_flask_trivial_grpc"]["p50_ms"], 2),
            "per_round": rounds,
        }
    finally:
        stop(procs)


def inbox_over_grpc(stub: Any, tokens: list[Any], trivial_port: int, seconds: float) -> dict[str, Any]:
    """ListInbox straight to the service (2,000 members over 32 threads) vs a trivial gRPC call."""

    def inbox_call(i: int) -> Any:
        mine = tokens[i::CONCURRENCY]
        k = [0]

        def call() -> None:
            k[0] += 1
            stub.ListInbox(pb.ListInboxRequest(page_size=20), metadata=mine[k[0] % len(mine)], timeout=30)

        return call

    trivial = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{trivial_port}"))

    def baseline_call(_i: int) -> Any:
        return lambda: trivial.Check(health_pb2.HealthCheckRequest(), timeout=30)

    base = concurrent_calls(baseline_call, seconds)
    inbox = concurrent_calls(inbox_call, seconds)
    b, s = latency_summary(base), latency_summary(inbox)
    return {
        "concurrency": CONCURRENCY, "members": len(tokens), "seconds": seconds,
        "inbox": {**s, "calls_per_s": round(len(inbox) / seconds, 1)},
        "baseline_trivial_grpc": {**b, "calls_per_s": round(len(base) / seconds, 1)},
        "ratio_p50": round(s["p50_ms"] / b["p50_ms"], 2),
        "ratio_calls_per_s": round(len(inbox) / max(1, len(base)), 3),
        "note": "client threads share this process (and its GIL) with the identity server",
    }


def run_read_stats(stub: Any, editor: Any, bulletin: str, backend: str) -> None:
    samples = []
    reply = None
    for _ in range(40):
        started = time.perf_counter()
        reply = stub.GetBulletinReadStats(pb.GetBulletinReadStatsRequest(bulletin_id=bulletin), metadata=editor,
                                          timeout=60)
        samples.append(time.perf_counter() - started)
    assert reply is not None
    write_result(f"notifications_read_stats_{backend}", {
        "backend": backend, "level": "province (65 child communes)", "members": reply.unit.members,
        "read": reply.unit.read, "children": len(reply.children), **latency_summary(samples[5:]),
        "p99_s": round(percentile(samples[5:], 99), 3),
    })


def run_email(db: Database, chains: list[tuple[str, tuple[str, ...]]], backend: str) -> None:
    env_out = subprocess.run([sys.executable, str(ROOT / "scripts" / "backing-services"), "env", "--json"],
                             capture_output=True, text=True, check=False)
    backing = json.loads(env_out.stdout or "{}")
    if not backing.get("SMTP_HOST"):
        print("no SMTP sink: e-mail benchmark skipped", flush=True)
        return
    subprocess.run([sys.executable, str(ROOT / "scripts" / "backing-services"), "up", "smtp"], check=False,
                   capture_output=True)
    os.environ["SMTP_HOST"], os.environ["SMTP_PORT"] = backing["SMTP_HOST"], backing["SMTP_PORT"]
    n = 1000
    now = time.time()
    with db.write() as conn:
        rows = []
        for i, (member, _) in enumerate(chains[:n]):
            nid = uid()
            conn.execute(sa.text("INSERT INTO notifications (id, member_id, kind, title, body, link, "
                                 "dedupe_key, created_at) VALUES (:id, :m, 'task_assigned', :t, 'Hạn: 2026-12-01', "
                                 "'{}', :d, :now)"),
                         {"id": nid, "m": member, "t": f"Nhiệm vụ {i}", "d": f"bench:{i}", "now": now})
            conn.execute(sa.text("INSERT INTO preferences (member_id, email_enabled, email, webpush_enabled, "
                                 "quiet_start, quiet_end, bulletins_by_channel, updated_at) VALUES "
                                 "(:m, TRUE, :e, FALSE, 0, 0, FALSE, :now) ON CONFLICT DO NOTHING"),
                         {"m": member, "e": f"bench-{i}@example.test", "now": now})
            rows.append({"id": uid(), "item": nid, "m": member, "now": now})
        conn.execute(sa.text("INSERT INTO deliveries (id, item_type, item_id, member_id, channel, status, attempts, "
                             "next_attempt_at, created_at) VALUES (:id, 'notification', :item, :m, 'email', "
                             "'pending', 0, :now, :now)"), rows)
    worker = DeliveryWorker(db, Settings(batch=200, max_attempts=5, base_backoff=30, max_backoff=600))
    started = time.perf_counter()
    sent = 0
    while sent < n:
        counts = worker.dispatch()
        if not any(counts.values()):
            break
        sent += counts["sent"]
    elapsed = time.perf_counter() - started
    write_result(f"notifications_email_{backend}", {
        "backend": backend, "messages": sent, "seconds": round(elapsed, 2),
        "messages_per_s": round(sent / elapsed, 1), "smtp": f"{backing['SMTP_HOST']}:{backing['SMTP_PORT']}",
        "note": "one SMTP connection reused per batch of 200; each message is a multipart text+html e-mail",
    })


if __name__ == "__main__":
    main()
