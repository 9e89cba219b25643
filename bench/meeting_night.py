#!/usr/bin/env python3
"""Meeting night: many cells check in, vote and close at once; and one very large secret poll.

    python bench/meeting_night.py [--cells 400] [--members 25] [--big 2000] [--via grpc|gateway]
                                  [--backend sqlite|postgres] [--concurrency 32]

Starts its own identity and meetings processes on 127.0.0.1 (`python -m services.<name> serve`,
a temporary SOTAY_DATA_DIR for SQLite, or fresh databases on the loopback PostgreSQL from
scripts/backing-services), plus the gateway under gunicorn with `--via gateway`; stops them at
the end. Identity's database is seeded in-process (cells and members) and members' access tokens
are signed with identity's own key, as Login would (argon2 for 12,000 logins would measure
argon2, not meetings).

Phases, every cell at once (a thread pool of `--concurrency` clients, requests shuffled across
cells): every member but the exempt one checks in; each secretary opens a secret poll on the
resolution; every eligible member votes (5% of them send their vote twice with the same
idempotency key, 1% again from a "second device" with a new key); each secretary closes the poll.
Checked: every tally is exact (no vote lost or counted twice), retries are answered as replays,
second devices are refused. Then one cell of `--big` members votes in one secret poll, and closing
it is timed (target < 1 s).

Baseline, measured in the same run through the same path and concurrency: GetRubric (an
authenticated call that touches no database), so the ratio says what the vote path costs over
the transport. Writes bench/results/meeting_night[_<via>_<backend>].json and prints it.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, fresh_postgres_database, latency_summary, write_result
from services.core.auth import issue_access_token
from services.core.db import Database
from sotay.meetings.v1 import meetings_pb2 as pb
from sotay.meetings.v1 import meetings_pb2_grpc

PY = sys.executable
CHOICES = ("approve", "reject", "abstain")
CHOICE_PB = {"approve": pb.VOTE_CHOICE_APPROVE, "reject": pb.VOTE_CHOICE_REJECT, "abstain": pb.VOTE_CHOICE_ABSTAIN}


# ---------- the province ----------


@dataclass
class Member:
    member_id: str
    token: str
    status: str
    exempt: bool


@dataclass
class CellData:
    id: str
    members: list[Member]
    meeting_id: str = ""
    poll_id: str = ""

    @property
    def secretary(self) -> Member:
        return self.members[0]

    @property
    def voters(self) -> list[Member]:
        return [m for m in self.members if m.status == "official" and not m.exempt]


def member_profile(i: int, n: int, card: int) -> Any:
    from services.identity.members import Profile

    position = {0: "secretary", 1: "deputy_secretary"}.get(i, "member")
    probationary = i in (n - 3, n - 2)
    return Profile(
        full_name=f"Đảng viên {card:06d}", gender="male", party_card_number=f"BN{card:08d}",
        joined_on="2000-01-01", official_on="" if probationary else "2001-01-01",
        status="probationary" if probationary else "official", exempt=i == n - 1,
        exempt_reason="Tuổi cao" if i == n - 1 else "", position=position,
    )


def seed_identity(
    db: Database, cells: int, members: int, big: int, first_card: int = 0
) -> tuple[list[CellData], CellData]:
    """Units and members straight into identity's database (its own modules), then tokens; party
    card numbers from `first_card` + 1 (another batch into the same database starts after the last)."""
    import sqlalchemy as sa
    from tqdm import tqdm

    from services.identity import members as idm
    from services.identity import units
    from services.identity.accounts import create_admin, principal_for
    from services.identity.keys import KeyStore
    from services.identity.migrations import MIGRATIONS

    db.migrate("identity", MIGRATIONS)
    _, root = create_admin(db, "bench-admin", "bench-admin-password")
    plan = [(f"Chi bộ {c + 1:04d}", members) for c in range(cells)] + [("Chi bộ lớn", big)]
    created: list[tuple[str, list[str]]] = []
    card = first_card
    with tqdm(total=sum(n for _, n in plan), desc="seed members", unit="m") as bar, db.write() as conn:
        commune = units.create(conn, "Đảng ủy xã (bench)", "commune", root)
        for name, n in plan:
            cell = units.create(conn, name, "cell", commune.id)
            ids = []
            for i in range(n):
                card += 1
                ids.append(idm.create(conn, cell.id, member_profile(i, n, card)).id)
                bar.update(1)
            created.append((cell.id, ids))
    kid, key = KeyStore(db).signing_key()
    out: list[CellData] = []
    with db.read() as conn:
        accounts = {r.member_id: r for r in conn.execute(sa.text("SELECT * FROM accounts WHERE member_id IS NOT NULL"))}
        for cell_id, ids in tqdm(created, desc="tokens", unit="cell"):
            people = []
            for i, mid in enumerate(ids):
                token = issue_access_token(key, kid, principal_for(conn, accounts[mid]), 4 * 3600)
                n = len(ids)
                people.append(Member(mid, token, "probationary" if i in (n - 3, n - 2) else "official", i == n - 1))
            out.append(CellData(cell_id, people))
    return out[:-1], out[-1]


# ---------- processes ----------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def grpc_ready(target: str) -> bool:
    try:
        with grpc.insecure_channel(target) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


def http_ready(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def processes(specs: list[tuple[str, list[str], dict[str, str], Callable[[], bool]]], logs: Path) -> Iterator[None]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        for name, argv, env, ready in specs:
            log = (logs / f"{name}.log").open("wb")
            started.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT))
            deadline = time.monotonic() + 60
            while not ready():
                if started[-1].poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not start:\n" + (logs / f"{name}.log").read_text()[-3000:])
                time.sleep(0.2)
        yield
    finally:
        for proc in reversed(started):
            proc.terminate()
        for proc in started:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


# ---------- clients: gRPC directly, or HTTP through the gateway ----------


class GrpcClient:
    def __init__(self, target: str, channels: int = 4) -> None:
        self.stubs = [meetings_pb2_grpc.MeetingsServiceStub(grpc.insecure_channel(target)) for _ in range(channels)]
        self._n = 0

    def _stub(self) -> meetings_pb2_grpc.MeetingsServiceStub:
        self._n += 1
        return self.stubs[self._n % len(self.stubs)]

    @staticmethod
    def _md(token: str) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {token}")]

    def baseline(self, token: str) -> None:
        self._stub().GetRubric(pb.GetRubricRequest(), metadata=self._md(token), timeout=30)

    def create(self, token: str, cell_id: str, starts: float) -> str:
        from google.protobuf.timestamp_pb2 import Timestamp

        ts = Timestamp()
        ts.FromNanoseconds(int(starts * 1e9))
        req = pb.CreateMeetingRequest(cell_unit_id=cell_id, kind=pb.MEETING_KIND_REGULAR, fields=pb.MeetingFields(
            title="Sinh hoạt chi bộ", starts_at=ts, place="Hội trường", mode=pb.MEETING_MODE_HYBRID,
            agenda=[pb.AgendaItem(title="Thông qua nghị quyết")]))
        return str(self._stub().CreateMeeting(req, metadata=self._md(token), timeout=60).meeting.id)

    def announce(self, token: str, meeting_id: str) -> None:
        self._stub().AnnounceMeeting(pb.AnnounceMeetingRequest(meeting_id=meeting_id), metadata=self._md(token),
                                     timeout=60)

    def start(self, token: str, meeting_id: str) -> None:
        self._stub().StartMeeting(pb.StartMeetingRequest(meeting_id=meeting_id), metadata=self._md(token), timeout=60)

    def check_in(self, token: str, meeting_id: str, key: str) -> None:
        self._stub().CheckIn(pb.CheckInRequest(meeting_id=meeting_id, mode=pb.ATTENDANCE_MODE_ONLINE,
                                               idempotency_key=key), metadata=self._md(token), timeout=60)

    def open_poll(self, token: str, meeting_id: str) -> str:
        req = pb.OpenPollRequest(meeting_id=meeting_id, question="Thông qua nghị quyết",
                                 kind=pb.POLL_KIND_RESOLUTION_ADOPTION, ballot=pb.BALLOT_TYPE_SECRET)
        return str(self._stub().OpenPoll(req, metadata=self._md(token), timeout=60).poll.id)

    def vote(self, token: str, poll_id: str, choice: str, key: str) -> str:
        """'ok', 'replayed', or the refusal's status name."""
        try:
            reply = self._stub().CastVote(pb.CastVoteRequest(poll_id=poll_id, choice=CHOICE_PB[choice],
                                                             idempotency_key=key), metadata=self._md(token), timeout=60)
        except grpc.RpcError as exc:
            return str(exc.code().name)  # type: ignore[attr-defined]
        return "replayed" if reply.replayed else "ok"

    def close_poll(self, token: str, poll_id: str) -> dict[str, int]:
        r = self._stub().ClosePoll(pb.ClosePollRequest(poll_id=poll_id), metadata=self._md(token), timeout=60).poll
        return {"approve": r.result.app.approve, "reject": r.result.app.reject, "abstain": r.result.app.abstain,
                "votes_cast": r.votes_cast, "denominator": r.result.denominator, "passed": int(r.result.passed)}


class HttpClient:
    """The same calls as REST requests to the gateway (gateway/routes/meetings.py)."""

    def __init__(self, base: str) -> None:
        import requests

        self.base = base + "/api/v1/meetings"
        self.local = threading.local()
        self.requests = requests

    def _session(self) -> Any:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = self.requests.Session()
        return session

    def _call(self, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
        reply = self._session().request(method, self.base + path, json=body, timeout=60,
                                        headers={"Authorization": f"Bearer {token}"})
        if reply.status_code >= 400:
            raise HttpError(reply.status_code, reply.json().get("error", {}).get("code", ""))
        return reply.json() if reply.content else None

    def baseline(self, token: str) -> None:
        self._call("GET", "/rubric", token)

    def create(self, token: str, cell_id: str, starts: float) -> str:
        body = {"cell_unit_id": cell_id, "kind": "regular", "title": "Sinh hoạt chi bộ", "place": "Hội trường",
                "mode": "hybrid", "starts_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(starts)),
                "agenda": [{"title": "Thông qua nghị quyết"}]}
        return str(self._call("POST", "", token, body)["id"])

    def announce(self, token: str, meeting_id: str) -> None:
        self._call("POST", f"/{meeting_id}/announce", token)

    def start(self, token: str, meeting_id: str) -> None:
        self._call("POST", f"/{meeting_id}/start", token, {})

    def check_in(self, token: str, meeting_id: str, key: str) -> None:
        self._call("POST", f"/{meeting_id}/check-in", token, {"mode": "online", "idempotency_key": key})

    def open_poll(self, token: str, meeting_id: str) -> str:
        body = {"question": "Thông qua nghị quyết", "kind": "resolution_adoption", "ballot": "secret"}
        return str(self._call("POST", f"/{meeting_id}/polls", token, body)["id"])

    def vote(self, token: str, poll_id: str, choice: str, key: str) -> str:
        try:
            reply = self._call("POST", f"/polls/{poll_id}/votes", token, {"choice": choice, "idempotency_key": key})
        except HttpError as exc:
            return {409: "ALREADY_EXISTS", 400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED"}.get(
                exc.status, f"HTTP_{exc.status}")
        return "replayed" if reply["replayed"] else "ok"

    def close_poll(self, token: str, poll_id: str) -> dict[str, int]:
        r = self._call("POST", f"/polls/{poll_id}/close", token)
        app = r["result"]["app"]
        return {"approve": app["approve"], "reject": app["reject"], "abstain": app["abstain"],
                "votes_cast": r["votes_cast"], "denominator": r["result"]["denominator"],
                "passed": int(r["result"]["passed"])}


class HttpError(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"HTTP {status} {code}")
        self.status = status


# ---------- load ----------


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        n = len(self.latencies)
        return {"requests": n, "seconds": round(self.seconds, 3), "per_second": round(n / self.seconds, 1)
                if self.seconds else 0.0, "latency": latency_summary(self.latencies), "outcomes": self.outcomes}


def run_phase(name: str, jobs: list[Callable[[], str | None]], concurrency: int) -> Phase:
    phase = Phase(name)
    lock = threading.Lock()

    def one(job: Callable[[], str | None]) -> None:
        started = time.perf_counter()
        outcome = job() or "ok"
        elapsed = time.perf_counter() - started
        with lock:
            phase.latencies.append(elapsed)
            phase.outcomes[outcome] = phase.outcomes.get(outcome, 0) + 1

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, jobs))
    phase.seconds = time.perf_counter() - began
    print(f"  {name}: {len(jobs)} in {phase.seconds:.1f}s, {phase.outcomes}", flush=True)
    return phase


def choice_for(cell_index: int, voter_index: int) -> str:
    return CHOICES[(cell_index + voter_index) % 3] if voter_index % 4 == 3 else "approve"


def meeting_night(client: Any, cells: list[CellData], concurrency: int, rng: random.Random) -> dict[str, Any]:
    starts = time.time() + 3600
    setup = time.perf_counter()

    def prepare(cell: CellData) -> None:
        sec = cell.secretary.token
        cell.meeting_id = client.create(sec, cell.id, starts)
        client.announce(sec, cell.meeting_id)
        client.start(sec, cell.meeting_id)

    with ThreadPoolExecutor(min(concurrency, 16)) as pool:
        list(pool.map(prepare, cells))
    setup_seconds = time.perf_counter() - setup
    print(f"  setup (create, announce with roster snapshot, start): {len(cells)} meetings in {setup_seconds:.1f}s")

    checkins = [(c, m) for c in cells for m in c.members if not m.exempt]
    rng.shuffle(checkins)
    check_in = run_phase("check-in", [
        (lambda c=c, m=m: client.check_in(m.token, c.meeting_id, f"ci-{m.member_id}")) for c, m in checkins
    ], concurrency)

    def open_one(cell: CellData) -> None:
        cell.poll_id = client.open_poll(cell.secretary.token, cell.meeting_id)

    opening = run_phase("open poll", [(lambda c=c: open_one(c)) for c in cells], concurrency)

    votes: list[Callable[[], str | None]] = []
    expected: dict[str, dict[str, int]] = {}
    retries = second_devices = 0
    for ci, cell in enumerate(cells):
        counts = dict.fromkeys(CHOICES, 0)
        for vi, m in enumerate(cell.voters):
            choice = choice_for(ci, vi)
            counts[choice] += 1
            key = f"v-{uuid.uuid4()}"
            votes.append(lambda m=m, c=cell, ch=choice, k=key: client.vote(m.token, c.poll_id, ch, k))
            roll = rng.random()
            if roll < 0.05:  # the phone retries: same key
                retries += 1
                votes.append(lambda m=m, c=cell, ch=choice, k=key: client.vote(m.token, c.poll_id, ch, k))
            elif roll < 0.06:  # a second device at the same time: another key (whichever is first counts)
                second_devices += 1
                votes.append(lambda m=m, c=cell, ch=choice: client.vote(m.token, c.poll_id, ch, f"dev2-{uuid.uuid4()}"))
        expected[cell.poll_id] = counts
    rng.shuffle(votes)
    voting = run_phase("vote", votes, concurrency)

    results: dict[str, dict[str, int]] = {}

    def close_one(cell: CellData) -> None:
        results[cell.poll_id] = client.close_poll(cell.secretary.token, cell.poll_id)

    closing = run_phase("close poll", [(lambda c=c: close_one(c)) for c in cells], concurrency)

    lost = duplicated = wrong = 0
    for poll_id, want in expected.items():
        got = results[poll_id]
        for choice in CHOICES:
            diff = got[choice] - want[choice]
            lost += max(0, -diff)
            duplicated += max(0, diff)
            wrong += int(diff != 0)
        if got["votes_cast"] != sum(want.values()):
            wrong += 1
    accepted = voting.outcomes.get("ok", 0)
    return {
        "cells": len(cells),
        "members": sum(len(c.members) for c in cells),
        "eligible_votes": sum(sum(v.values()) for v in expected.values()),
        "setup_seconds": round(setup_seconds, 1),
        "check_in": check_in.summary(),
        "open_poll": opening.summary(),
        "vote": voting.summary(),
        "close_poll": closing.summary(),
        "votes_accepted": accepted,
        "retries_sent": retries,
        "retries_replayed": voting.outcomes.get("replayed", 0),
        "second_devices_sent": second_devices,
        "second_devices_refused": voting.outcomes.get("ALREADY_EXISTS", 0),
        "votes_lost": lost,
        "votes_duplicated": duplicated,
        "polls_with_wrong_tally": wrong,
        "all_tallies_exact": lost == 0 and duplicated == 0 and wrong == 0,
    }


def big_poll(client: Any, cell: CellData, concurrency: int) -> dict[str, Any]:
    sec = cell.secretary.token
    cell.meeting_id = client.create(sec, cell.id, time.time() + 3600)
    client.announce(sec, cell.meeting_id)
    client.start(sec, cell.meeting_id)
    run_phase("big: check-in", [(lambda m=m: client.check_in(m.token, cell.meeting_id, f"ci-{m.member_id}"))
                                for m in cell.members if not m.exempt], concurrency)
    cell.poll_id = client.open_poll(sec, cell.meeting_id)
    want = dict.fromkeys(CHOICES, 0)
    jobs = []
    for vi, m in enumerate(cell.voters):
        choice = choice_for(0, vi)
        want[choice] += 1
        jobs.append(lambda m=m, ch=choice: client.vote(m.token, cell.poll_id, ch, f"big-{m.member_id}"))
    voting = run_phase("big: vote", jobs, concurrency)
    started = time.perf_counter()
    got = client.close_poll(sec, cell.poll_id)
    close_seconds = time.perf_counter() - started
    print(f"  big: close poll of {got['votes_cast']} ballots in {close_seconds * 1000:.0f} ms")
    return {
        "voters": len(cell.voters),
        "vote": voting.summary(),
        "close_ms": round(close_seconds * 1000, 1),
        "close_under_1s": close_seconds < 1.0,
        "tally_exact": all(got[c] == want[c] for c in CHOICES) and got["votes_cast"] == len(cell.voters),
        "result": got,
    }


def baseline(client: Any, token: str, n: int, concurrency: int) -> dict[str, Any]:
    phase = run_phase("baseline GetRubric", [(lambda: client.baseline(token)) for _ in range(n)], concurrency)
    return phase.summary()


# ---------- main ----------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=400)
    parser.add_argument("--members", type=int, default=25)
    parser.add_argument("--big", type=int, default=2000)
    parser.add_argument("--via", choices=("grpc", "gateway"), default="grpc")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--name", default="", help="results name (default meeting_night[_via_backend])")
    args = parser.parse_args()
    if args.via == "gateway" and not (ROOT / "gateway" / "routes" / "meetings.py").exists():
        raise SystemExit("--via gateway needs gateway/routes/meetings.py")
    rng = random.Random(2026)
    tmp = Path(tempfile.mkdtemp(prefix="meeting-night-"))
    env = {**os.environ, "SOTAY_DATA_DIR": str(tmp), "LOG_LEVEL": "WARNING", "METRICS_PORT": "0",
           "MEETINGS_BALLOT_KEY": base64.b64encode(secrets.token_bytes(32)).decode(), "GRPC_WORKERS": "32",
           "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    urls = {}
    if args.backend == "postgres":
        tag = f"{os.getpid()}"
        urls = {s: fresh_postgres_database(f"bench_{s}_{tag}") for s in ("identity", "meetings")}
        identity_db = Database(urls["identity"])
    else:
        identity_db = Database(f"sqlite:///{tmp / 'identity.db'}")
    print(f"seeding {args.cells} cells x {args.members} members + 1 cell of {args.big} ({args.backend})")
    cells, big_cell = seed_identity(identity_db, args.cells, args.members, args.big)
    identity_db.dispose()
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
    if args.via == "gateway":
        gateway_env = {**env, "GATEWAY_BIND": addr["gateway"], "GATEWAY_BACKENDS": "identity,meetings",
                       "GATEWAY_WORKERS": "2", "GATEWAY_THREADS": "16"}
        gunicorn = str(Path(PY).with_name("gunicorn"))
        specs.append(("gateway", [gunicorn, "-c", "python:gateway.gunicorn_conf", "gateway.app:create_app()"],
                      gateway_env, lambda: http_ready(f"http://{addr['gateway']}/healthz")))
    try:
        with processes(specs, tmp):
            client = GrpcClient(addr["meetings"]) if args.via == "grpc" else HttpClient(f"http://{addr['gateway']}")
            token = cells[0].members[5].token
            baseline(client, token, 500, args.concurrency)  # warm-up
            base = baseline(client, token, 5000, args.concurrency)
            print(f"meeting night: {args.cells} cells at once, via {args.via}")
            night = meeting_night(client, cells, args.concurrency, rng)
            print(f"one poll of {args.big} voters")
            big = big_poll(client, big_cell, args.concurrency)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        if urls:
            import sqlalchemy as sa

            from bench.common import postgres_base_url

            base_url = postgres_base_url().rstrip("/").replace("postgresql://", "postgresql+psycopg://", 1)
            server = sa.create_engine(base_url + "/postgres", isolation_level="AUTOCOMMIT")
            with server.connect() as conn:
                for url in urls.values():
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
            server.dispose()
    votes_per_s = night["vote"]["per_second"]
    result = {
        "via": args.via,
        "backend": args.backend,
        "concurrency": args.concurrency,
        "machine": {"cpus": os.cpu_count()},
        "baseline_get_rubric": base,
        "meeting_night": night,
        "big_poll": big,
        "votes_per_second": votes_per_s,
        "vote_p50_ms": night["vote"]["latency"]["p50_ms"],
        "vote_p99_ms": night["vote"]["latency"]["p99_ms"],
        "ratio_votes_per_s_to_baseline": round(votes_per_s / base["per_second"], 3) if base["per_second"] else None,
        "ratio_vote_p50_to_baseline_p50": round(night["vote"]["latency"]["p50_ms"] / base["latency"]["p50_ms"], 2)
        if base["latency"]["p50_ms"] else None,
        "ok": night["all_tallies_exact"] and big["tally_exact"] and big["close_under_1s"],
    }
    name = args.name or ("meeting_night" if (args.via, args.backend) == ("grpc", "sqlite")
                         else f"meeting_night_{args.via}_{args.backend}")
    write_result(name, result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
