#!/usr/bin/env python3
"""Meeting evening as members really use it: cells of 25 keep the live meeting state fresh (a
conditional GET every 2 s) while they check in and vote; the number of cells steps up until the
SLO breaks, which is this machine's saturation point.

    python -m bench.meeting_evening [--steps 5,10,15,20,30,40,60,80,120,160,240,400] [--members 25] [--step-seconds 40]
                                    [--backend postgres|sqlite] [--gateway-workers 2]

Starts identity, meetings and the gateway (gunicorn) on 127.0.0.1 like bench.meeting_night (fresh
databases on the loopback PostgreSQL from scripts/backing-services, or SQLite in a temporary
directory), seeds each step's cells (new ones) before it and stops everything at the end.

One step, N cells at once, for `--step-seconds` T (open loop: members act on their own clock,
whatever the latency):
- every member polls `GET /meetings/<id>/live` every 2 s with `If-None-Match` (200 or 304), from
  a random phase;
- every member but the exempt one checks in at a random moment of the first 30 % of T;
- each secretary opens a secret poll at 40 % of T; every voter votes at a random moment between
  45 % and 85 % of T; after T the polls are closed and every tally checked against the votes
  members were told were accepted.

SLO (per step): p99 of every kind of request (live, check-in, vote) at most 1 s, errors (non-2xx
other than 304, timeouts, resets) at most 0.1 %, and at least 95 % of the due live polls sent (a
member whose previous poll has not come back does not send the next). The first step that breaks
it ends the run; the last one that met it is the saturation point reported.

Baseline, in the same run: `GET /api/v1/meetings/rubric` (authenticated, no database) with wrk at
32 connections through the same gateway; the ratio is the saturation step's request rate over it.
The load generator (one asyncio process) shares the machine's cores with the servers. CPU time of
each part (gateway and its workers, meetings, identity, the PostgreSQL backends of this run's
databases, the load generator) is measured per step: CPU per request is what sizing is built on,
since it does not depend on what else the machine was doing; the 1-minute load average is recorded.
Writes bench/results/meeting_evening.json and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, fresh_postgres_database, latency_summary, postgres_base_url, write_result
from bench.loadgen import run_wrk
from bench.meeting_night import (
    CHOICES,
    PY,
    CellData,
    HttpClient,
    Member,
    choice_for,
    free_port,
    grpc_ready,
    http_ready,
    processes,
    seed_identity,
)
from services.core.db import Database

COMPONENTS = ("gateway", "meetings", "identity", "postgres", "load_generator")
POLL_EVERY = 2.0
SLO_P99_MS = 1000.0
SLO_ERROR_RATE = 0.001
SLO_POLLS_SENT = 0.95
KINDS = ("live", "check_in", "vote")


@dataclass
class Step:
    cells: int
    members: int
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    not_modified: int = 0
    polls_due: int = 0
    accepted: dict[str, dict[str, int]] = field(default_factory=dict)

    def record(self, kind: str, started: float, ok: bool) -> None:
        if ok:
            self.latencies[kind].append(time.perf_counter() - started)
        else:
            self.errors[kind] += 1

    def summary(self) -> dict[str, Any]:
        by_kind = {k: {**latency_summary(v), "errors": self.errors[k]} for k, v in self.latencies.items()}
        sent = sum(len(v) for v in self.latencies.values()) + sum(self.errors.values())
        errors = sum(self.errors.values())
        live_sent = len(self.latencies["live"]) + self.errors["live"]
        polls_sent = live_sent / self.polls_due if self.polls_due else 1.0
        p99s = {k: by_kind[k]["p99_ms"] for k in KINDS}
        error_rate = errors / sent if sent else 0.0
        return {
            "cells": self.cells,
            "members": self.members,
            "seconds": self.seconds,
            "requests": sent,
            "requests_per_s": round(sent / self.seconds, 1),
            "live_polls_due_per_s": round(self.polls_due / self.seconds, 1),
            "live_polls_sent_fraction": round(polls_sent, 4),
            "live_not_modified": self.not_modified,
            "by_kind": by_kind,
            "error_rate": round(error_rate, 5),
            "slo_met": all(p <= SLO_P99_MS for p in p99s.values()) and error_rate <= SLO_ERROR_RATE
            and polls_sent >= SLO_POLLS_SENT,
        }


async def member_evening(
    session: aiohttp.ClientSession, base: str, step: Step, cell: CellData, ci: int, vi: int | None,
    member: Member, t0: float, poll_opened: asyncio.Event, rng: random.Random,
) -> None:
    """One member for one step: live polls every 2 s, a check-in, and (a voter) a vote."""
    headers = {"Authorization": f"Bearer {member.token}"}
    end = t0 + step.seconds
    checkin_at = t0 + rng.uniform(0, 0.3) * step.seconds
    vote_at = t0 + rng.uniform(0.45, 0.85) * step.seconds
    checked_in = member.exempt
    voted = vi is None
    etag = ""
    next_poll = t0 + rng.uniform(0, POLL_EVERY)
    loop = asyncio.get_running_loop()
    while True:
        now = loop.time()
        if not checked_in and now >= checkin_at:
            checked_in = True
            await call(session, step, "check_in", "POST", f"{base}/{cell.meeting_id}/check-in", headers,
                       {"mode": "online", "idempotency_key": f"ci-{member.member_id}-{cell.meeting_id}"})
            continue
        if not voted and now >= vote_at and poll_opened.is_set():
            voted = True
            choice = choice_for(ci, vi or 0)
            ok = await call(session, step, "vote", "POST", f"{base}/polls/{cell.poll_id}/votes", headers,
                            {"choice": choice, "idempotency_key": f"v-{member.member_id}-{cell.poll_id}"})
            if ok:
                step.accepted[cell.poll_id][choice] += 1
            continue
        if now >= next_poll:
            if now >= end:
                return
            step.polls_due += 1 + int((now - next_poll) // POLL_EVERY)  # polls skipped while one was out count as due
            next_poll += POLL_EVERY * (1 + int((now - next_poll) // POLL_EVERY))
            started = time.perf_counter()
            try:
                async with session.get(f"{base}/{cell.meeting_id}/live",
                                       headers={**headers, "If-None-Match": etag} if etag else headers) as reply:
                    await reply.read()
                    ok = reply.status in (200, 304)
                    step.not_modified += reply.status == 304
                    etag = reply.headers.get("ETag", etag)
            except (TimeoutError, aiohttp.ClientError):
                ok = False
            step.record("live", started, ok)
            continue
        wake = [next_poll, end]
        if not checked_in:
            wake.append(checkin_at)
        if not voted:  # until the secretary has opened the poll, look again every 0.1 s
            wake.append(vote_at if poll_opened.is_set() else loop.time() + 0.1)
        await asyncio.sleep(max(0.0, min(wake) - loop.time()))


async def call(session: aiohttp.ClientSession, step: Step, kind: str, method: str, url: str,
               headers: dict[str, str], body: dict[str, Any]) -> bool:
    started = time.perf_counter()
    try:
        async with session.request(method, url, json=body, headers=headers) as reply:
            await reply.read()
            ok = reply.status < 400
    except (TimeoutError, aiohttp.ClientError):
        ok = False
    step.record(kind, started, ok)
    return ok


async def run_step(base: str, cells: list[CellData], ci0: int, seconds: float, open_poll: Any) -> Step:
    step = Step(len(cells), sum(len(c.members) for c in cells), seconds)
    rng = random.Random(len(cells))
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.5
        opened = asyncio.Event()

        async def secretaries() -> None:
            await asyncio.sleep(max(0.0, t0 + 0.4 * seconds - loop.time()))
            await loop.run_in_executor(None, open_poll, cells)  # the polls opened (not measured)
            for cell in cells:
                step.accepted[cell.poll_id] = dict.fromkeys(CHOICES, 0)
            opened.set()

        members = []
        for offset, cell in enumerate(cells):
            voters = {m.member_id: i for i, m in enumerate(cell.voters)}
            for m in cell.members:
                members.append(member_evening(session, base, step, cell, ci0 + offset, voters.get(m.member_id),
                                              m, t0, opened, rng))
        await asyncio.gather(secretaries(), *members)
    return step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="5,10,15,20,30,40,60,80,120,160,240,400", help="cells per step, ascending")
    parser.add_argument("--members", type=int, default=25)
    parser.add_argument("--step-seconds", type=float, default=40.0)
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--gateway-workers", type=int, default=2)
    parser.add_argument("--name", default="meeting_evening")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="meeting-evening-"))
    env = {**os.environ, "SOTAY_DATA_DIR": str(tmp), "LOG_LEVEL": "WARNING", "METRICS_PORT": "0",
           "MEETINGS_BALLOT_KEY": base64.b64encode(secrets.token_bytes(32)).decode(), "GRPC_WORKERS": "16",
           "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    urls: dict[str, str] = {}
    if args.backend == "postgres":
        urls = {s: fresh_postgres_database(f"bench_evening_{s}_{os.getpid()}") for s in ("identity", "meetings")}
        identity_db = Database(urls["identity"])
    else:
        identity_db = Database(f"sqlite:///{tmp / 'identity.db'}")
    first, _ = seed_identity(identity_db, 1, args.members, 0)  # the baseline's member; each step seeds its own
    databases = tuple(url.rsplit("/", 1)[1] for url in urls.values())
    ports = {"identity": free_port(), "meetings": free_port(), "gateway": free_port()}
    addr = {s: f"127.0.0.1:{p}" for s, p in ports.items()}
    env.update(IDENTITY_ADDR=addr["identity"], MEETINGS_ADDR=addr["meetings"])
    specs = []
    for service in ("identity", "meetings"):
        service_env = {**env, "GRPC_PORT": str(ports[service])}
        if service in urls:
            service_env["DATABASE_URL"] = urls[service]
        specs.append((service, [PY, "-m", f"services.{service}", "serve"], service_env,
                      lambda a=addr[service]: grpc_ready(a)))
    gateway_env = {**env, "GATEWAY_BIND": addr["gateway"], "GATEWAY_BACKENDS": "identity,meetings",
                   "GATEWAY_WORKERS": str(args.gateway_workers), "GATEWAY_THREADS": "16"}
    specs.append(("gateway", [str(Path(PY).with_name("gunicorn")), "-c", "python:gateway.gunicorn_conf",
                              "gateway.app:create_app()"], gateway_env,
                  lambda: http_ready(f"http://{addr['gateway']}/healthz")))
    results: list[dict[str, Any]] = []
    tallies_exact = True
    try:
        with processes(specs, tmp):
            base = f"http://{addr['gateway']}"
            client = HttpClient(base)
            token = first[0].members[5].token
            baseline = run_wrk(f"{base}/api/v1/meetings/rubric", {"Authorization": f"Bearer {token}"},
                               connections=32, seconds=10)
            print(f"baseline GET /meetings/rubric: {baseline['requests_per_s']:.0f} req/s, "
                  f"p99 {baseline['p99_ms']} ms", flush=True)
            ci0, seeded = 0, args.members
            for n in steps:
                print(f"seeding {n} cells x {args.members} members ({args.backend})", flush=True)
                cells, _ = seed_identity(identity_db, n, args.members, 0, first_card=seeded)
                seeded += n * args.members
                prepare(client, cells)

                def open_poll(cells: list[CellData] = cells) -> None:
                    with ThreadPoolExecutor(16) as pool:
                        list(pool.map(lambda c: setattr(c, "poll_id", client.open_poll(c.secretary.token,
                                                                                        c.meeting_id)), cells))

                before = cpu_seconds(databases)
                step = asyncio.run(run_step(base + "/api/v1/meetings", cells, ci0, args.step_seconds, open_poll))
                after = cpu_seconds(databases)
                summary = summary_with_tallies(client, cells, step)
                used = cpu_used(before, after)
                served = max(1, summary["requests"])
                summary["cpu_seconds"] = used
                summary["server_cpu_ms_per_request"] = {k: round(1000 * used[k] / served, 3) for k in COMPONENTS}
                summary["server_cores_busy"] = round(sum(used[k] for k in COMPONENTS[:4]) / args.step_seconds, 2)
                summary["machine_load_average_1m"] = round(os.getloadavg()[0], 1)
                tallies_exact &= summary["tallies_exact"]
                results.append(summary)
                kinds = ", ".join(f"{k} p50 {summary['by_kind'][k]['p50_ms']:.0f} / p99 "
                                  f"{summary['by_kind'][k]['p99_ms']:.0f} ms" for k in KINDS)
                print(f"{n} cells ({summary['members']} members): {summary['requests_per_s']} req/s, {kinds}, "
                      f"errors {summary['error_rate']:.3%}, polls sent {summary['live_polls_sent_fraction']:.1%}"
                      f", server cores busy {summary['server_cores_busy']}"
                      f" (load average {summary['machine_load_average_1m']})"
                      f" -> SLO {'met' if summary['slo_met'] else 'BROKEN'}", flush=True)
                ci0 += n
                if not summary["slo_met"]:
                    break
    finally:
        identity_db.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
        drop(urls)
    met = [r for r in results if r["slo_met"]]
    saturation = met[-1] if met else None
    broken = next((r for r in results if not r["slo_met"]), None)
    result = {
        "backend": args.backend,
        "machine": {"cpus": os.cpu_count(), "note": "2 cores shared by the servers, the load generator and "
                    "other work on the machine"},
        "processes": {"identity": 1, "meetings": 1, "gateway_workers": args.gateway_workers,
                      "gateway_threads": 16, "grpc_workers": 16},
        "slo": {"p99_ms_max": SLO_P99_MS, "error_rate_max": SLO_ERROR_RATE, "live_polls_sent_min": SLO_POLLS_SENT,
                "poll_every_s": POLL_EVERY},
        "baseline_get_rubric_wrk_32": baseline,
        "steps": results,
        "saturation": {
            "cells": saturation["cells"] if saturation else 0,
            "members": saturation["members"] if saturation else 0,
            "requests_per_s": saturation["requests_per_s"] if saturation else 0.0,
            "first_broken_cells": broken["cells"] if broken else None,
            "all_steps_met": broken is None,
        },
        "live_p50_ms": saturation["by_kind"]["live"]["p50_ms"] if saturation else None,
        "live_p99_ms": saturation["by_kind"]["live"]["p99_ms"] if saturation else None,
        "vote_p50_ms": saturation["by_kind"]["vote"]["p50_ms"] if saturation else None,
        "vote_p99_ms": saturation["by_kind"]["vote"]["p99_ms"] if saturation else None,
        "ratio_saturation_req_per_s_to_baseline": round(saturation["requests_per_s"] / baseline["requests_per_s"], 3)
        if saturation and baseline["requests_per_s"] else None,
        "tallies_exact": tallies_exact,
    }
    write_result(args.name, result)
    return 0 if tallies_exact else 1


def component_of(proc: psutil.Process, databases: tuple[str, ...]) -> str | None:
    try:
        line = " ".join(proc.cmdline())
    except psutil.Error:
        return None
    if "gunicorn" in line:
        return "gateway"
    for service in ("meetings", "identity"):
        if f"services.{service}" in line:
            return service
    if line.startswith("postgres:") and any(db in line for db in databases):
        return "postgres"
    return None


def cpu_seconds(databases: tuple[str, ...]) -> dict[int, tuple[str, float]]:
    """CPU time (user + system) used so far by each process of each part, by pid: the servers this
    benchmark started (and the gateway's workers), the PostgreSQL backends serving its databases,
    and itself."""
    used: dict[int, tuple[str, float]] = {}
    me = psutil.Process()
    candidates = me.children(recursive=True) + [p for p in psutil.process_iter() if p.name().startswith("postgres")]
    for proc in candidates:
        part = component_of(proc, databases)
        try:
            times = proc.cpu_times() if part else None
        except psutil.Error:
            continue
        if part and times:
            used[proc.pid] = (part, times.user + times.system)
    mine = me.cpu_times()
    used[me.pid] = ("load_generator", mine.user + mine.system)
    return used


def cpu_used(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds of each part between two snapshots (a process that ended in between is not counted;
    one that started is counted whole)."""
    used = dict.fromkeys(COMPONENTS, 0.0)
    for pid, (part, seconds) in after.items():
        used[part] += seconds - (before[pid][1] if pid in before else 0.0)
    return {k: round(v, 2) for k, v in used.items()}


def prepare(client: HttpClient, cells: list[CellData]) -> None:
    starts = time.time() + 3600

    def one(cell: CellData) -> None:
        sec = cell.secretary.token
        cell.meeting_id = client.create(sec, cell.id, starts)
        client.announce(sec, cell.meeting_id)
        client.start(sec, cell.meeting_id)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, cells))


def summary_with_tallies(client: HttpClient, cells: list[CellData], step: Step) -> dict[str, Any]:
    """Close every poll: each tally must equal what members were told was accepted."""
    with ThreadPoolExecutor(16) as pool:
        got = dict(zip([c.poll_id for c in cells], pool.map(
            lambda c: client.close_poll(c.secretary.token, c.poll_id), cells), strict=True))
    wrong = sum(1 for poll_id, want in step.accepted.items()
                if any(got[poll_id][c] != want[c] for c in CHOICES) or got[poll_id]["votes_cast"] != sum(want.values()))
    return {**step.summary(), "votes_accepted": sum(sum(v.values()) for v in step.accepted.values()),
            "polls_with_wrong_tally": wrong, "tallies_exact": wrong == 0}


def drop(urls: dict[str, str]) -> None:
    if not urls:
        return
    import sqlalchemy as sa

    base_url = postgres_base_url().rstrip("/").replace("postgresql://", "postgresql+psycopg://", 1)
    server = sa.create_engine(base_url + "/postgres", isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        for url in urls.values():
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    server.dispose()


if __name__ == "__main__":
    sys.exit(main())
