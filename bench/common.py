"""Shared helpers for benchmarks: timing statistics, results files, test servers."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return 0.0
    k = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "count": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3) if ms else 0.0,
    }


def time_calls(fn: Callable[[], Any], n: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def machine() -> dict[str, Any]:
    """What else the machine was doing: a benchmark on a shared box says so with its numbers."""
    return {"cpus": os.cpu_count(), "load_average_1_5_15min": [round(x, 2) for x in os.getloadavg()]}


def stop(procs: list[subprocess.Popen[Any]], timeout: float = 20) -> None:
    """Terminate every process, then wait for each (they stop in parallel)."""
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=timeout)


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": name, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **result}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return path


def postgres_base_url() -> str:
    """The loopback PostgreSQL from scripts/backing-services (started if needed)."""
    url = os.environ.get("SOTAY_TEST_DATABASE_URL")
    if url:
        return url
    script = str(ROOT / "scripts" / "backing-services")
    subprocess.run([sys.executable, script, "up", "postgres"], check=True)
    out = subprocess.run([sys.executable, script, "env", "--json"], check=True, capture_output=True, text=True)
    return str(json.loads(out.stdout)["SOTAY_TEST_DATABASE_URL"])


def fresh_postgres_database(name: str) -> str:
    """Drop and create database `name` on the loopback server; its SQLAlchemy URL."""
    import sqlalchemy as sa

    base = postgres_base_url().rstrip("/").replace("postgresql://", "postgresql+psycopg://", 1)
    server = sa.create_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    return f"{base}/{name}"


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    """Until `url` answers 200 (or `proc`, the server, exits: then stop the benchmark)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")
