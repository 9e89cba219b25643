"""Benchmark (a) of the foundation: the gateway under 32 concurrent connections.

Measures, in one run, with the same gunicorn settings (GATEWAY_WORKERS, GATEWAY_THREADS):
  - authenticated GET /api/v1/me (a member's account: token check, GetMe, profile),
  - a 50-member page of a cell: GET /api/v1/units/<cell>/members?page_size=50,
  - the baseline: a minimal Flask endpoint making one trivial gRPC call to a trivial server.
Reports requests/s, p50, p99 and each ratio (requests/s) to the baseline; target >= 0.6.
Usage: python -m bench.gateway_throughput [--seconds 15] [--postgres]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench.common import fresh_postgres_database, write_result
from bench.loadgen import run_wrk
from services.cli import grpc_healthy
from services.core.db import Database
from services.identity import members, units
from services.identity.accounts import create_admin, hash_password
from services.identity.members import Profile
from services.identity.migrations import MIGRATIONS
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


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
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
            results = {}
            for name, url, headers in [
                ("baseline_flask_trivial_grpc", f"http://{base_bind}/ping", {}),
                ("me", f"http://{gw_bind}/api/v1/me", auth),
                ("cell_members_page50", f"http://{gw_bind}/api/v1/units/{cell}/members?page_size=50", auth),
            ]:
                print(f"load: {name} for {args.seconds}s at 32 connections ...", flush=True)
                results[name] = run_wrk(url, headers, connections=32, seconds=args.seconds)
            base = results["baseline_flask_trivial_grpc"]["requests_per_s"]
            for name in ("me", "cell_members_page50"):
                results[name]["ratio_rps_to_baseline"] = round(results[name]["requests_per_s"] / base, 3)
            write_result(f"gateway_throughput_{'postgres' if args.postgres else 'sqlite'}", {
                "backend": "postgres" if args.postgres else "sqlite",
                "gunicorn": {"workers": env["GATEWAY_WORKERS"], "threads": env["GATEWAY_THREADS"]},
                "connections": 32, "seconds": args.seconds, "target_ratio": 0.6, **results,
            })
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=20)


if __name__ == "__main__":
    main()
