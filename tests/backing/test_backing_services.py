"""The servers of scripts/backing-services answer the clients the services use.

Needs the servers up and their settings in the environment:
    scripts/backing-services up
    eval "$(scripts/backing-services env)"
    pytest tests/backing
"""

import io
import os
import shutil
import smtplib
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_backing


@pytest.fixture(autouse=True)
def _servers() -> None:
    """The servers from scripts/backing-services (skipped without them locally, a failure in CI)."""
    for key in ("ELASTICSEARCH_URL", "S3_ENDPOINT", "SOTAY_TEST_DATABASE_URL", "SMTP_HOST"):
        os.environ.setdefault(key, need_backing(key))

TEXT = "Sổ tay Đảng viên"


@pytest.fixture
def es():
    from elasticsearch import Elasticsearch

    client = Elasticsearch(os.environ["ELASTICSEARCH_URL"])
    yield client
    client.close()


@pytest.fixture
def s3():
    from minio import Minio

    return Minio(
        os.environ["S3_ENDPOINT"],
        access_key=os.environ["S3_ACCESS_KEY"],
        secret_key=os.environ["S3_SECRET_KEY"],
        secure=os.environ.get("S3_SECURE", "false").lower() == "true",
    )


@pytest.fixture
def bucket(s3):
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.make_bucket(name)
    yield name
    for obj in s3.list_objects(name, recursive=True, include_version=True):
        s3.remove_object(name, obj.object_name, version_id=obj.version_id)
    s3.remove_bucket(name)


def read_object(s3, bucket, key, **kwargs):
    response = s3.get_object(bucket, key, **kwargs)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def test_elasticsearch_info(es):
    assert es.info()["version"]["number"].startswith("7.")


def test_elasticsearch_asciifolding_analyzer(es):
    index = f"test-{uuid.uuid4().hex[:12]}"
    es.indices.create(
        index=index,
        settings={
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "analysis": {
                "filter": {"fold": {"type": "asciifolding", "preserve_original": True}},
                "analyzer": {"vi": {"type": "custom", "tokenizer": "standard",
                                    "filter": ["lowercase", "fold"]}},
            },
        },
        mappings={"properties": {"title": {"type": "text", "analyzer": "vi"}}},
    )
    try:
        es.index(index=index, document={"title": TEXT}, refresh=True)
        for query in ("dang vien", "Đảng viên"):
            hits = es.search(index=index, query={"match": {"title": query}})
            assert hits["hits"]["total"]["value"] == 1, query
    finally:
        es.indices.delete(index=index)


def test_s3_put_get_presign(s3, bucket):
    data = TEXT.encode()
    s3.put_object(bucket, "docs/a.txt", io.BytesIO(data), len(data),
                  content_type="text/plain; charset=utf-8")
    assert read_object(s3, bucket, "docs/a.txt") == data

    url = s3.presigned_get_object(bucket, "docs/a.txt", expires=timedelta(minutes=5))
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == data
    if shutil.which("curl"):
        fetched = subprocess.run(["curl", "-fsS", url], capture_output=True, check=True, timeout=10)
        assert fetched.stdout == data


def test_s3_bucket_versioning(s3, bucket):
    from minio.commonconfig import ENABLED
    from minio.versioningconfig import VersioningConfig

    s3.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
    assert s3.get_bucket_versioning(bucket).status == ENABLED
    first = s3.put_object(bucket, "v.txt", io.BytesIO(b"one"), 3)
    s3.put_object(bucket, "v.txt", io.BytesIO(b"two"), 3)
    assert read_object(s3, bucket, "v.txt") == b"two"
    assert read_object(s3, bucket, "v.txt", version_id=first.version_id) == b"one"


def test_psql_connects():
    url = os.environ["SOTAY_TEST_DATABASE_URL"] + "identity"
    out = subprocess.run(["psql", url, "-tAc", "SELECT 1"], capture_output=True, text=True, timeout=10, check=True)
    assert out.stdout.strip() == "1"


def test_status_shows_all_four_and_down_stops_only_what_it_names():
    script = [sys.executable, str(ROOT / "scripts" / "backing-services")]
    status = subprocess.run([*script, "status"], capture_output=True, text=True, check=True).stdout
    for name in ("postgres", "elasticsearch", "s3", "smtp"):
        assert any(line.startswith(name) and "running" in line for line in status.splitlines()), status
    pid = int(next(line.split()[3] for line in status.splitlines() if line.startswith("smtp")))
    subprocess.run([*script, "down", "smtp"], capture_output=True, check=True)
    assert not _running(pid)
    subprocess.run([*script, "up", "smtp"], capture_output=True, check=True)
    status = subprocess.run([*script, "status"], capture_output=True, text=True, check=True).stdout
    assert all("running" in line for line in status.splitlines() if line.split()[:1] in (["postgres"], ["smtp"]))


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_postgres_identity_database():
    import psycopg

    url = os.environ["SOTAY_TEST_DATABASE_URL"] + "identity"
    with psycopg.connect(url, connect_timeout=5) as conn:
        name, encoding = conn.execute(
            "SELECT current_database(), pg_encoding_to_char(encoding) "
            "FROM pg_database WHERE datname = current_database()").fetchone()
    assert (name, encoding) == ("identity", "UTF8")


def test_smtp_sink_saves_each_message():
    sink = Path(os.environ["SMTP_SINK_DIR"])
    subject = f"{TEXT} {uuid.uuid4().hex}"
    message = EmailMessage()
    message["From"] = "noreply@sotay.test"
    message["To"] = "dang.vien@sotay.test"
    message["Subject"] = subject
    message.set_content("Kính gửi đồng chí.")
    with smtplib.SMTP(os.environ["SMTP_HOST"], int(os.environ["SMTP_PORT"]), timeout=10) as smtp:
        smtp.send_message(message, to_addrs=["dang.vien@sotay.test", "bcc@sotay.test"])

    saved = wait_for_message(sink, subject)
    assert saved["To"] == "dang.vien@sotay.test"
    assert "bcc@sotay.test" in saved["X-Envelope-To"]
    assert saved.get_content().strip() == "Kính gửi đồng chí."


def wait_for_message(folder, subject, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(folder.glob("*.eml")):
            parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
            if parsed["Subject"] == subject:
                return parsed
        time.sleep(0.1)
    raise AssertionError(f"no message with subject {subject!r} in {folder}")


def test_postgres_starts_from_a_checkout_in_a_private_folder(tmp_path: Path) -> None:
    """A clone under `mktemp -d` (mode 0700): as root, the `postgres` user cannot reach it, so
    the cluster lives in a folder of its own."""
    import socket

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, SOTAY_BACKING_DIR=str(private / ".backing"), SOTAY_PG_PORT=str(port))
    script = [sys.executable, str(ROOT / "scripts" / "backing-services")]
    try:
        up = subprocess.run([*script, "up", "postgres"], env=env, capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        status = subprocess.run([*script, "status"], env=env, capture_output=True, text=True, check=True).stdout
        assert any(line.startswith("postgres") and "running" in line for line in status.splitlines()), status
    finally:
        subprocess.run([*script, "down", "postgres"], env=env, capture_output=True, timeout=60)
        if os.geteuid() == 0:
            import hashlib

            digest = hashlib.sha256(str((private / ".backing").resolve()).encode()).hexdigest()[:12]
            shutil.rmtree(f"/var/tmp/sotay-backing-{digest}", ignore_errors=True)
