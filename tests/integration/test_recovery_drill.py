"""The recovery drill, on real PostgreSQL (a server of the test's own), S3 and Elasticsearch:
write through the services, back up while they run, restore one service alone (its event log
rewound below the cursors of its consumers), then lose everything and restore it all; check
that nothing the backup held is lost and that events still flow. Times go to
bench/results/recovery.json."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from minio import Minio

from services.cli import SERVICES, grpc_healthy, http_ok, processes
from tests.conftest import need_backing
from tests.integration.test_member_journey import demo_accounts, eventually, inbox_titles
from tests.integration.test_postgres_restart import record
from tests.support.own_postgres import own_postgres
from tests.support.processes import System, login, system_env

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def stores() -> Iterator[dict[str, str]]:
    """The shared Elasticsearch and S3 under names of this test's own, removed afterwards."""
    name = "drill-" + uuid.uuid4().hex[:8]
    env = {
        "ELASTICSEARCH_URL": need_backing("ELASTICSEARCH_URL"), "ES_INDEX_ALIAS": name, "ES_REFRESH_ON_WRITE": "true",
        "S3_ENDPOINT": need_backing("S3_ENDPOINT"), "S3_ACCESS_KEY": need_backing("S3_ACCESS_KEY"),
        "S3_SECRET_KEY": need_backing("S3_SECRET_KEY"), "S3_SECURE": "false", "S3_BUCKET": name,
    }
    yield env
    requests.delete(f"{env['ELASTICSEARCH_URL']}/{name}-*", timeout=30)
    s3 = s3_client(env)
    if s3.bucket_exists(name):
        empty_bucket(s3, name)
        s3.remove_bucket(name)


def s3_client(env: dict[str, str]) -> Minio:
    return Minio(env["S3_ENDPOINT"], env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"], secure=False)


def empty_bucket(s3: Minio, bucket: str) -> int:
    """Delete every object and every version of it: the files are lost."""
    found = list(s3.list_objects(bucket, recursive=True, include_version=True))
    for obj in found:
        s3.remove_object(bucket, str(obj.object_name), version_id=obj.version_id)
    return len(found)


SEED = """
import sys
import threading
from pathlib import Path
from services.cli import migrate_all
from services.core.config import write_private
from services.core.db import Database
from services.identity.seed import is_empty, seed_demo
migrate_all()
db = Database.for_service("identity")
if is_empty(db):
    accounts = seed_demo(db)
    write_private(Path(sys.argv[1]) / "demo-accounts.txt",
                  "".join(f"  {a.login:<14} {a.password:<14} {a.who}\\n" for a in accounts))
"""


@contextmanager
def running(data: Path, extra_env: dict[str, str], timeout: float = 400) -> Iterator[System]:
    """What `sotay up` runs (migrate, seed an empty database, every process), waiting as long as a
    loaded machine needs (`sotay up` gives up after a minute), stopped with SIGTERM afterwards."""
    env = {**system_env(data), **extra_env}
    subprocess.run([sys.executable, "-c", SEED, str(data)], env=env, check=True, capture_output=True)
    log = (data / "processes.log").open("a")
    children = []
    for proc in processes():
        child_env = dict(env, METRICS_PORT="0", GATEWAY_BACKENDS=",".join(SERVICES))
        children.append(subprocess.Popen(proc.argv, env=child_env, stdout=log, stderr=subprocess.STDOUT))
    system = System("http://" + env["GATEWAY_BIND"], env, children[0], data / "processes.log")
    try:
        deadline = time.monotonic() + timeout
        waiting = [service_addr_in(env, s) for s in SERVICES]
        while waiting or not http_ok(system.url("/healthz")):
            assert time.monotonic() < deadline, f"not ready: {waiting}"
            assert all(c.poll() is None for c in children), "a process exited"
            waiting = [a for a in waiting if not grpc_healthy(a)]
            time.sleep(0.5)
        yield system
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        log.close()


def service_addr_in(env: dict[str, str], service: str) -> str:
    return env[f"{service.upper()}_ADDR"]


def upload(system: System, auth: dict[str, str], unit: str, title: str, text: str) -> str:
    reply = requests.post(
        system.url("/api/v1/documents"), headers=auth, timeout=30,
        files={"file": ("van-ban.txt", text.encode(), "text/plain")},
        data={"title": title, "number": f"{uuid.uuid4().int % 900 + 100}-NQ/TU", "category": "hoc-tap-nghi-quyet",
              "issued_on": "2026-11-01", "audience_unit_id": unit, "status": "published"},
    )
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def in_inbox(system: System, auth: dict[str, str], title: str, seconds: float = 90) -> bool:
    return bool(eventually(lambda: title in " ".join(inbox_titles(system, auth)), seconds))


def download(system: System, auth: dict[str, str], document_id: str) -> bytes:
    link = requests.get(system.url(f"/api/v1/documents/{document_id}/download"), headers=auth, timeout=10,
                        allow_redirects=False)
    assert link.status_code == 302, link.text
    file = requests.get(link.headers["Location"], timeout=10)
    assert file.status_code == 200, file.text
    return file.content


def search(system: System, auth: dict[str, str], words: str) -> list[str]:
    reply = requests.get(system.url("/api/v1/documents/search"), params={"q": words}, headers=auth, timeout=10)
    assert reply.status_code == 200, reply.text
    return [item["id"] for item in reply.json()["items"]]


def sotay(system: System, *args: str) -> float:
    began = time.monotonic()
    done = system.sotay(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    return round(time.monotonic() - began, 2)


@pytest.mark.timeout(1500)
def test_backup_restore_one_service_then_everything(tmp_path: Path, stores: dict[str, str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    backup = tmp_path / "backup"
    times: dict[str, Any] = {}
    with own_postgres(tmp_path / "pg") as pg:
        env = {**stores, "DATABASE_URL": pg.template}

        # 1. Data written through the services, then an online backup.
        with running(data, env) as system:
            accounts = demo_accounts(data)
            admin, member = login(system, *accounts["admin"]), login(system, *accounts["member"])
            secretary = login(system, *accounts["secretary"])
            province = requests.get(system.url("/api/v1/me"), headers=admin, timeout=10).json()["unit_id"]
            cell = requests.get(system.url("/api/v1/me"), headers=secretary, timeout=10).json()["unit_id"]
            kept = upload(system, admin, province, "Nghị quyết trước sao lưu", "Văn bản lưu trữ diễn tập khôi phục.")
            meeting = requests.post(system.url("/api/v1/meetings"), headers=secretary, timeout=10, json={
                "cell_unit_id": cell, "kind": "regular", "title": "Sinh hoạt chi bộ diễn tập",
                "starts_at": "2026-12-05T19:30:00+07:00", "mode": "hybrid"})
            assert meeting.status_code == 201, meeting.text
            meeting_id = meeting.json()["id"]
            announced = requests.post(system.url(f"/api/v1/meetings/{meeting_id}/announce"), headers=secretary,
                                      timeout=10)
            assert announced.status_code == 200, announced.text
            assert in_inbox(system, member, "Nghị quyết trước sao lưu")
            assert eventually(lambda: any("Sinh hoạt chi bộ diễn tập" in t for t in inbox_titles(system, member)))
            times["backup_online_seconds"] = sotay(system, "backup", str(backup))

            # Written after the backup: documents' log moves on, notifications reads past the backup.
            upload(system, admin, province, "Văn bản sau sao lưu", "Viết sau khi sao lưu.")
            assert in_inbox(system, member, "Văn bản sau sao lưu")
            inbox_before = inbox_titles(system, member)

        # 2. Documents alone restored: its log restarts its numbers below notifications' cursor.
        began = time.monotonic()
        times["restore_documents_seconds"] = sotay(system, "restore", str(backup), "--service", "documents")
        with running(data, env) as system:
            times["restore_documents_to_serving_seconds"] = round(time.monotonic() - began, 2)
            admin, member = login(system, *accounts["admin"]), login(system, *accounts["member"])
            assert requests.get(system.url(f"/api/v1/documents/{kept}"), headers=member, timeout=10).status_code == 200
            after = upload(system, admin, province, "Văn bản sau khôi phục", "Sự kiện mới sau khôi phục.")
            delivered = time.monotonic()
            assert in_inbox(system, member, "Văn bản sau khôi phục"), "the restored source's new event was skipped"
            times["event_after_restore_delivered_seconds"] = round(time.monotonic() - delivered, 2)
            assert set(inbox_before) <= set(inbox_titles(system, member))  # notifications kept its own
            assert after in search(system, member, "su kien moi sau khoi phuc")

        # 3. Everything lost — databases, files, search index — and restored.
        pg.recreate_databases()
        s3 = s3_client(stores)
        assert empty_bucket(s3, stores["S3_BUCKET"]) >= 2
        requests.delete(f"{stores['ELASTICSEARCH_URL']}/{stores['ES_INDEX_ALIAS']}-*", timeout=30).raise_for_status()
        times["restore_all_seconds"] = sotay(system, "restore", str(backup))
        with running(data, env) as system:
            admin, member = login(system, *accounts["admin"]), login(system, *accounts["member"])
            secretary = login(system, *accounts["secretary"])
            assert download(system, member, kept) == "Văn bản lưu trữ diễn tập khôi phục.".encode()
            assert kept in search(system, member, "van ban luu tru dien tap")  # the index was rebuilt
            got = requests.get(system.url(f"/api/v1/meetings/{meeting_id}"), headers=secretary, timeout=10)
            assert got.status_code == 200, got.text
            titles = inbox_titles(system, member)
            assert "Nghị quyết trước sao lưu" in " ".join(titles)
            assert "Văn bản sau sao lưu" not in " ".join(titles)  # written after the backup: lost, as expected
            upload(system, admin, province, "Văn bản sau sự cố", "Sau khi khôi phục toàn bộ.")
            assert in_inbox(system, member, "Văn bản sau sự cố"), "events stopped flowing after the restore"

    backed = (backup / "backup.json").read_text(encoding="utf-8")
    restored = (backup / "restore.json").read_text(encoding="utf-8")
    times["backup_steps"] = {s: v["steps"] for s, v in json.loads(backed)["services"].items()}
    times["restore_all_steps"] = {s: v["steps"] for s, v in json.loads(restored)["services"].items()}
    record("drill", times)


@pytest.mark.timeout(900)
def test_the_services_ride_out_a_postgres_restart(tmp_path: Path) -> None:
    """Members keep using the web API while PostgreSQL restarts: reads wait for the server or are
    retried (UNAVAILABLE), so none of them fails."""
    data = tmp_path / "data"
    data.mkdir()
    with own_postgres(tmp_path / "pg") as pg, running(data, {"DATABASE_URL": pg.template}) as system:
        accounts = demo_accounts(data)
        member = login(system, *accounts["member"])
        statuses: list[int] = []
        stop = threading.Event()

        def client(n: int) -> None:
            path = "/api/v1/me" if n % 2 else "/api/v1/inbox"
            while not stop.is_set():
                try:
                    statuses.append(requests.get(system.url(path), headers=member, timeout=30).status_code)
                except requests.RequestException:
                    statuses.append(0)
                time.sleep(0.1)

        clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in clients:
            t.start()
        time.sleep(3)
        before = len(statuses)
        down = pg.restart()
        time.sleep(5)
        stop.set()
        for t in clients:
            t.join(timeout=60)
    failed = [s for s in statuses if s != 200]
    record("services_postgres_restart", {"clients": 4, "seconds_down": round(down, 2), "requests": len(statuses),
                                         "requests_after_restart_began": len(statuses) - before,
                                         "failed": len(failed), "failed_statuses": sorted(set(failed))})
    assert failed == []
    assert len(statuses) - before > 20
