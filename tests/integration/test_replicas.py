"""Two replicas of every server, worker and gateway (`sotay up --replicas 2`) on PostgreSQL,
Elasticsearch and S3; meeting-night load (check-in, secret vote) while one replica of each is
killed with SIGKILL: every vote a member was told is accepted is in the database once, and no
other vote is there.

Members' clients do what a phone does: a request that fails on the way (connection reset, 502,
503, 504) is sent again with the same idempotency key, to the other gateway replica.
"""

from __future__ import annotations

import random
import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
import sqlalchemy as sa

from bench.common import fresh_postgres_database
from bench.meeting_night import CHOICES, CellData, choice_for, seed_identity
from services.cli import PORT_STEP, SERVICES, workers_of
from services.core.db import Database
from tests.conftest import need_backing
from tests.support.processes import running_system

pytestmark = pytest.mark.integration

CELLS, MEMBERS = 24, 10
RETRYABLE = {502, 503, 504}


class Member:
    """A member's phone: REST calls to the gateways, resent (same key) to the next one on failure."""

    resent = 0  # requests sent again, over every phone

    def __init__(self, gateways: list[str], token: str) -> None:
        self.gateways, self.token = gateways, token
        self.session = requests.Session()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        last: Exception | None = None
        for attempt in range(30):
            Member.resent += attempt > 0
            base = self.gateways[attempt % len(self.gateways)]
            try:
                reply = self.session.request(method, f"{base}/api/v1/meetings{path}", json=body, timeout=15,
                                             headers={"Authorization": f"Bearer {self.token}"})
            except requests.RequestException as exc:  # the replica died under the request
                last = exc
                time.sleep(0.2)
                continue
            if reply.status_code in RETRYABLE:
                last = AssertionError(f"{reply.status_code} {reply.text[:200]}")
                time.sleep(0.2)
                continue
            return reply.status_code, reply.json() if reply.content else None
        raise AssertionError(f"{method} {path}: no gateway answered: {last}")

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        status, reply = self.call(method, path, body)
        assert status < 400, (method, path, status, reply)
        return reply


def kill_one_replica_of_each(up: psutil.Process) -> list[str]:
    """SIGKILL the second copy of every process `sotay up` runs (servers, workers, gateway master)."""
    groups: dict[tuple[str, ...], list[psutil.Process]] = {}
    for child in up.children(recursive=False):
        groups.setdefault(tuple(child.cmdline()), []).append(child)
    killed = []
    for argv, copies in groups.items():
        assert len(copies) == 2, (argv, copies)
        newest = max(copies, key=lambda p: (p.create_time(), p.pid))  # replica 2 starts after replica 1
        newest.send_signal(signal.SIGKILL)
        killed.append(" ".join(argv[-2:]))
    return killed


@pytest.fixture
def deployment(tmp_path: Path) -> dict[str, str]:
    base = need_backing("SOTAY_TEST_DATABASE_URL")
    tag = uuid.uuid4().hex[:8]
    for service in SERVICES:
        fresh_postgres_database(f"replicas_{service}_{tag}")
    return {
        "base": base,
        "DATABASE_URL": base.rstrip("/") + f"/replicas_{{service}}_{tag}",
        "ELASTICSEARCH_URL": need_backing("ELASTICSEARCH_URL"),
        "ES_INDEX_ALIAS": f"replicas-{tag}",
        "S3_ENDPOINT": need_backing("S3_ENDPOINT"),
        "S3_ACCESS_KEY": need_backing("S3_ACCESS_KEY"),
        "S3_SECRET_KEY": need_backing("S3_SECRET_KEY"),
        "S3_BUCKET": f"replicas-{tag}",
        "tag": tag,
    }


def drop_databases(deployment: dict[str, str]) -> None:
    server = sa.create_engine(deployment["base"].rstrip("/").replace("postgresql://", "postgresql+psycopg://", 1)
                              + "/postgres", isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        for service in SERVICES:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "replicas_{service}_{deployment["tag"]}" WITH (FORCE)'))
    server.dispose()


def run(jobs: list[Callable[[], None]], workers: int = 12) -> None:
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def test_meeting_night_survives_killing_one_replica_of_each_process(
    tmp_path: Path, deployment: dict[str, str]
) -> None:
    url = deployment["DATABASE_URL"]
    env = {k: v for k, v in deployment.items() if k.isupper()}
    identity = Database(url.replace("{service}", "identity").replace("postgresql://", "postgresql+psycopg://", 1))
    cells, _ = seed_identity(identity, CELLS, MEMBERS, 0)
    identity.dispose()
    # A killed replica stays down for the rest of the run: the other one carries everything.
    env.update(SOTAY_RESTART_BACKOFF="120", GATEWAY_WORKERS="1", GRPC_WORKERS="8", LOG_LEVEL="WARNING")
    try:
        with running_system(tmp_path, timeout=300, extra_env=env, args=("--replicas", "2")) as system:
            gateways = [system.base_url, "http://" + second_gateway(system.env)]
            night(system.process.pid, gateways, cells, deployment)
    finally:
        drop_databases(deployment)


def second_gateway(env: dict[str, str]) -> str:
    host, port = env["GATEWAY_BIND"].rsplit(":", 1)
    return f"{host}:{int(port) + PORT_STEP}"


def night(up_pid: int, gateways: list[str], cells: list[CellData], deployment: dict[str, str]) -> None:
    rng = random.Random(16)
    phones = {m.member_id: Member(gateways[i % 2:] + gateways[:i % 2], m.token)
              for c in cells for i, m in enumerate(c.members)}
    starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))

    def prepare(cell: CellData) -> None:
        sec = phones[cell.secretary.member_id]
        cell.meeting_id = sec.ok("POST", "", {"cell_unit_id": cell.id, "kind": "regular", "title": "Sinh hoạt",
                                             "place": "Hội trường", "mode": "hybrid", "starts_at": starts,
                                             "agenda": [{"title": "Thông qua nghị quyết"}]})["id"]
        sec.ok("POST", f"/{cell.meeting_id}/announce")
        sec.ok("POST", f"/{cell.meeting_id}/start", {})

    run([lambda c=c: prepare(c) for c in cells])
    checkins = [(c, m) for c in cells for m in c.members if not m.exempt]
    run([lambda c=c, m=m: phones[m.member_id].ok(
        "POST", f"/{c.meeting_id}/check-in", {"mode": "online", "idempotency_key": f"ci-{m.member_id}"})
        for c, m in checkins])

    def open_poll(cell: CellData) -> None:
        cell.poll_id = phones[cell.secretary.member_id].ok("POST", f"/{cell.meeting_id}/polls", {
            "question": "Thông qua nghị quyết", "kind": "resolution_adoption", "ballot": "secret"})["id"]

    run([lambda c=c: open_poll(c) for c in cells])

    accepted: dict[str, dict[str, int]] = {c.poll_id: dict.fromkeys(CHOICES, 0) for c in cells}
    refused: list[tuple[int, Any]] = []
    lock = threading.Lock()
    done = threading.Event()
    progress = [0]

    def vote(ci: int, cell: CellData, vi: int, member_id: str) -> None:
        choice = choice_for(ci, vi)
        status, reply = phones[member_id].call("POST", f"/polls/{cell.poll_id}/votes",
                                               {"choice": choice, "idempotency_key": f"v-{member_id}"})
        with lock:
            progress[0] += 1
            if status < 400:  # accepted, the first time or as the replay of a retried request
                accepted[cell.poll_id][choice] += 1
            else:
                refused.append((status, reply))

    votes = [(ci, c, vi, m.member_id) for ci, c in enumerate(cells) for vi, m in enumerate(c.voters)]
    rng.shuffle(votes)
    killed: list[str] = []

    def killer() -> None:
        while progress[0] < len(votes) // 3 and not done.is_set():
            time.sleep(0.05)
        killed.extend(kill_one_replica_of_each(psutil.Process(up_pid)))

    chaos = threading.Thread(target=killer)
    chaos.start()
    try:
        run([lambda v=v: vote(*v) for v in votes], workers=8)
    finally:
        done.set()
        chaos.join()
    expected_kills = len(SERVICES) + sum(len(workers_of(s)) for s in SERVICES) + 1
    assert len(killed) == expected_kills, killed
    print(f"killed {len(killed)} processes after {len(votes) // 3} of {len(votes)} votes; "
          f"requests resent {Member.resent}")
    assert refused == []
    assert sum(sum(a.values()) for a in accepted.values()) == len(votes)

    # In the database: one voter row and one sealed ballot per accepted vote, nothing else.
    meetings = Database(deployment["DATABASE_URL"].replace("{service}", "meetings")
                        .replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with meetings.read() as conn:
            voters = dict(conn.execute(sa.text("SELECT poll_id, COUNT(*) FROM poll_voters GROUP BY poll_id")).all())
            sealed = dict(conn.execute(sa.text("SELECT poll_id, COUNT(*) FROM sealed_ballots GROUP BY poll_id")).all())
    finally:
        meetings.dispose()
    for poll_id, counts in accepted.items():
        assert voters.get(poll_id, 0) == sum(counts.values()), poll_id
        assert sealed.get(poll_id, 0) == sum(counts.values()), poll_id

    # Closing (on the surviving replicas): each tally is exactly what members were told was accepted.
    for cell in cells:
        poll = phones[cell.secretary.member_id].ok("POST", f"/polls/{cell.poll_id}/close")
        want = accepted[cell.poll_id]
        got = {c: poll["result"]["app"][c] for c in CHOICES}
        assert got == want and poll["votes_cast"] == sum(want.values()), (cell.poll_id, got, want)
