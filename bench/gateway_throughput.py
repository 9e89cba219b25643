"""Benchmark (a) of the foundation: the gateway under 32 concurrent connections.

Measures, in one run, with the same gunicorn settings (GATEWAY_WORKERS, GATEWAY_THREADS):
  - authenticated GET /api/v1/me (a member's account: token check, GetMe, profile),
  - a 50-member page of a cell: GET /api/v1/units/<cell>/members?page_size=50,
  - the baseline: a minimal Flask endpoint making one trivial gRPC call to a trivial server.
The page comes from identity's roster cache (roster_cache.py) unless the run sets
IDENTITY_ROSTER_CACHE_ENTRIES=0. Reports requests/s, p50, p99, CPU time per request of each
process (identity, gateway, the baseline's app and trivial server, PostgreSQL) and each ratio
(requests/s) to the baseline; target >= 0.6. The three loads run in alternated short rounds,
so that the machine's slow spells (a shared 2-core VM drifts by a fifth from minute to minute)
fall on every path alike; figures are the rounds' means.
Usage: python -m bench.gateway_throughput [--seconds 8] [--rounds 4] [--postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from bench.common import fresh_postgres_database, machine, stop, wait_http, write_result
from bench.loadgen import run_wrk
from services.cli import grpc_healthy
from services.core.db import Database
from services.identity import members, units
from services.identity.accounts import create_admin, hash_password
from services.identity.members import Profile
from services.identity.migrations import MIGRATIONS
from services.identity.roster_cache import RosterCache
from tests.support.processes import free_port

PASSWORD = "bench-password-2026"


def prepare(db: Database) -> str:
    db.migrate("identity", MIGRATIONS)
    _, root = create_admin(db, "bench-admin", PASSWORD)
    with db.write() as conn:
        commune = units.create(conn, "Đảng ủy xã Bench", "commune", root)
        cell = units.create(conn, "Chi bộ Bench", "cell", commune.id)
        for i in range(60):
            members.create(
                conn, cell.id,
                Profile(full_name=f"Đảng viên {i:03d}", phone=f"09130{i:05d}", party_card_number=f"BN{i:06d}",
                        position="secretary" if i == 0 else "member"),
                hash_password(PASSWORD) if i == 0 else None,
            )
    return str(cell.id)


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def cpu_watch(procs: list[subprocess.Popen[bytes]]) -> dict[str, list[psutil.Process]]:
    """The processes whose CPU time is reported, by role (gunicorn masters with their workers)."""
    roles = ["identity", "gateway", "trivial grpc server", "baseline app"]
    watched: dict[str, list[psutil.Process]] = {}
    for role, p in zip(roles, procs, strict=True):
        proc = psutil.Process(p.pid)
        watched[role] = [proc, *proc.children(recursive=True)]
    return watched


def cpu_seconds(watched: dict[str, list[psutil.Process]], postgres: bool) -> dict[str, dict[int, float]]:
    """CPU seconds so far by role and process; PostgreSQL's processes are listed anew each time
    (a backend starts with each new connection)."""
    roles = dict(watched)
    if postgres:
        roles["postgresql"] = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]
    out: dict[str, dict[int, float]] = {}
    for role, ps in roles.items():
        out[role] = {}
        for p in ps:
            with contextlib.suppress(psutil.Error):
                times = p.cpu_times()
                out[role][p.pid] = times.user + times.system
    return out


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    return {role: sum(t - before.get(role, {}).get(pid, 0.0) for pid, t in now.items()) for role, now in after.items()}


def _mean(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("requests_per_s", "p50_ms", "p90_ms", "p99_ms")
    out: dict[str, Any] = {k: round(sum(r[k] for r in runs) / len(runs), 2) for k in keys}
    out["non_2xx"] = sum(r["non_2xx"] for r in runs)
    out["cpu_ms_per_request"] = {
        k: round(sum(r["cpu_ms_per_request"].get(k, 0.0) for r in runs) / len(runs), 3)
        for k in runs[0]["cpu_ms_per_request"]
    }
    out["runs"] = runs
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4, help="alternated rounds of the three loads (4)")
    parser.add_argument("--postgres", action="store_true", help="identity on the loopback PostgreSQL")
    args = parser.parse_args()
    py = sys.executable
    gunicorn = str(Path(py).with_name("gunicorn"))
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        env = dict(os.environ, SOTAY_DATA_DIR=tmp, METRICS_PORT="0", LOG_LEVEL="WARNING",
                   GATEWAY_WORKERS=os.environ.get("GATEWAY_WORKERS", "2"),
                   GATEWAY_THREADS=os.environ.get("GATEWAY_THREADS", "8"),
                   IDENTITY_ADDR=f"127.0.0.1:{free_port()}", GATEWAY_BACKENDS="identity")
        if args.postgres:
            env["DATABASE_URL"] = fresh_postgres_database("bench_gateway")
        else:
            env.pop("DATABASE_URL", None)
        db = Database(env["DATABASE_URL"] if args.postgres else f"sqlite:///{data / 'identity.db'}")
        cell = prepare(db)
        db.dispose()
        gw_bind, base_bind, trivial = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}", free_port()
        try:
            procs.append(start([py, "-m", "services.identity", "serve"], env, data / "identity.log"))
            procs.append(start([gunicorn, "-c", "python:gateway.gunicorn_conf", "gateway.app:create_app()"],
                               dict(env, GATEWAY_BIND=gw_bind), data / "gateway.log"))
            procs.append(start([py, "-m", "bench.trivial_grpc_server", str(trivial)], env, data / "trivial.log"))
            procs.append(start([gunicorn, "-c", "python:gateway.gunicorn_conf", "bench.baseline_app:create_app()"],
                               dict(env, GATEWAY_BIND=base_bind, BASELINE_GRPC_ADDR=f"127.0.0.1:{trivial}"),
                               data / "baseline.log"))
            while not grpc_healthy(env["IDENTITY_ADDR"]):
                time.sleep(0.2)
            wait_http(f"http://{gw_bind}/readyz")
            wait_http(f"http://{base_bind}/ping")
            token = requests.post(f"http://{gw_bind}/api/v1/auth/login", timeout=10,
                                  json={"username": "0913000000", "password": PASSWORD}).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            page = requests.get(f"http://{gw_bind}/api/v1/units/{cell}/members?page_size=50", headers=auth,
                                timeout=10).json()
            assert len(page["items"]) == 50, page
            names = {"baseline_flask_trivial_grpc": (f"http://{base_bind}/ping", {}),
                     "me": (f"http://{gw_bind}/api/v1/me", auth),
                     "cell_members_page50": (f"http://{gw_bind}/api/v1/units/{cell}/members?page_size=50", auth)}
            watched = cpu_watch(procs)
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
            for r in range(args.rounds):  # alternated, so a change in the machine's load hits every path
                for name, (url, headers) in names.items():
                    print(f"load: {name} (round {r + 1}) for {args.seconds}s at 32 connections ...", flush=True)
                    before = cpu_seconds(watched, args.postgres)
                    run = run_wrk(url, headers, connections=32, seconds=args.seconds)
                    used = cpu_used(before, cpu_seconds(watched, args.postgres))
                    done = run["requests_per_s"] * args.seconds
                    run["cpu_ms_per_request"] = {k: round(v * 1000 / done, 3) for k, v in used.items() if v > 0.05}
                    runs[name].append(run)
            results = {name: _mean(rs) for name, rs in runs.items()}
            base = results["baseline_flask_trivial_grpc"]["requests_per_s"]
            for name in ("me", "cell_members_page50"):
                results[name]["ratio_rps_to_baseline"] = round(results[name]["requests_per_s"] / base, 3)
                results[name]["ratio_per_round"] = [
                    round(m["requests_per_s"] / b["requests_per_s"], 3)
                    for m, b in zip(runs[name], runs["baseline_flask_trivial_grpc"], strict=True)
                ]
            write_result(f"gateway_throughput_{'postgres' if args.postgres else 'sqlite'}", {
                "backend": "postgres" if args.postgres else "sqlite",
                "gunicorn": {"workers": env["GATEWAY_WORKERS"], "threads": env["GATEWAY_THREADS"]},
                # Pages of a unit's own roster come from identity's roster cache unless this is 0.
                "identity_roster_cache_entries": RosterCache().entries,
                "connections": 32, "seconds": args.seconds, "rounds": args.rounds, "target_ratio": 0.6,
                "machine": machine(),
                **results,
            })
        finally:
            stop(procs)


if __name__ == "__main__":
    main()
