"""Failures of the backing servers and of the workers, on the real servers.

"Down" is a TCP proxy on loopback that we cut and restore - never the shared servers.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from services.core.db import Database
from services.core.outbox import relay_once
from services.documents import store
from services.documents.indexer import Indexer
from services.documents.migrations import MIGRATIONS
from services.documents.search import SearchUnavailable
from services.documents.servicer import emit_refresh
from sotay.documents.v1 import documents_pb2 as pb
from tests.conftest import ROOT, _postgres_schema_db, need_backing
from tests.support.documents import CuttableProxy, docx_bytes
from tests.unit.documents.conftest import code_and_reason, search, upload


@pytest.fixture
def proxy() -> Iterator[Callable[[str], CuttableProxy]]:
    made: list[CuttableProxy] = []

    def make(target: str) -> CuttableProxy:
        made.append(CuttableProxy(target))
        return made[-1]

    yield make
    for p in made:
        p.close()


@pytest.mark.postgres
def test_elasticsearch_down_while_publishing(make_stack: Callable[..., Any], proxy: Callable[[str], Any]) -> None:
    es = proxy(need_backing("ELASTICSEARCH_URL"))
    with make_stack("production", ELASTICSEARCH_URL=f"http://{es.address}") as s:
        es.cut()
        made = upload(
            s, s.people.province_admin, docx_bytes(["Nghị quyết khi tìm kiếm ngừng hoạt động"]), number="77-NQ/TU"
        ).document
        draft = upload(s, s.people.province_admin, docx_bytes(["Bản nháp"]), number="78-NQ/TU", publish=False).document
        s.stub.PublishDocument(pb.PublishDocumentRequest(id=draft.id), metadata=s.people.province_admin)
        assert code_and_reason(lambda: search(s, s.people.member_a, "nghi quyet")) == (
            grpc.StatusCode.UNAVAILABLE,
            "search_unavailable",
        )
        relay_once(s.db, "documents")
        indexer = Indexer(s.db, s.index)
        with pytest.raises(SearchUnavailable):
            indexer.poll_once()
        assert indexer.cursor() == 0  # nothing consumed while the index is down
        es.restore()
        s.index_now()
        found = search(s, s.people.member_a, "")
        assert {h.id for h in found.hits} == {made.id, draft.id} and found.total_size == 2


@pytest.mark.postgres
def test_s3_down_during_upload(make_stack: Callable[..., Any], proxy: Callable[[str], Any]) -> None:
    s3 = proxy(need_backing("S3_ENDPOINT"))
    with make_stack("production", S3_ENDPOINT=s3.address, S3_TIMEOUT="5") as s:
        admin = s.people.province_admin
        upload(s, admin, docx_bytes(["Văn bản trước sự cố"]), number="1-TB/TU")
        s3.cut()
        started = time.monotonic()
        code, reason = code_and_reason(lambda: upload(s, admin, docx_bytes(["Văn bản trong sự cố"]), number="2-TB/TU"))
        assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "storage_unavailable")
        assert time.monotonic() - started < 20
        with s.db.read() as conn:
            assert conn.execute(sa.text("SELECT number FROM documents")).scalars().all() == ["1-TB/TU"]
            assert (
                conn.execute(
                    sa.text("SELECT count(*) FROM outbox WHERE key NOT IN (SELECT id FROM documents)")
                ).scalar_one()
                == 0
            )
        s3.restore()
        assert upload(s, admin, docx_bytes(["Văn bản sau sự cố"]), number="3-TB/TU").document.id


# ---------------------------------------------------------------- indexer killed mid-batch


def _seed(db: Database, count: int) -> None:
    now = time.time()
    with db.write() as conn:
        for i in range(count):
            doc_id = str(uuid.uuid4())
            store.insert(
                conn,
                {
                    "id": doc_id,
                    "title": f"Thông báo số {i} về công tác Đảng",
                    "number": f"{i + 1}-TB/TU",
                    "number_key": f"{i + 1}-tb/tu",
                    "number_seq": i + 1,
                    "doc_type": "TB",
                    "issuer_code": "TU",
                    "category": "thong-bao-noi-bo",
                    "issued_on": "2025-01-01",
                    "issuing_body": "Tỉnh ủy",
                    "signer": "",
                    "summary": "",
                    "status": store.PUBLISHED,
                    "unit_id": "prov",
                    "current_version": 1,
                    "created_by": "seed",
                    "published_at": now,
                    "withdrawn_at": None,
                    "withdrawn_reason": None,
                },
                ["prov"],
                ["prov"],
            )
            store.insert_version(
                conn,
                {
                    "document_id": doc_id,
                    "version": 1,
                    "blob_key": f"docs/{doc_id}/v1",
                    "sha256": "0" * 64,
                    "size": 1,
                    "kind": "text",
                    "content_type": "text/plain",
                    "filename": "a.txt",
                    "note": "",
                    "extraction_state": store.DONE,
                    "extraction_error": "",
                    "text_source": "plain",
                    "text": "nội dung " * 200,
                    "created_by": "seed",
                },
            )
            emit_refresh(conn, doc_id)
    while relay_once(db, "documents"):
        pass


@pytest.mark.parametrize("kind", ["embedded", pytest.param("production", marks=pytest.mark.postgres)])
def test_indexer_killed_mid_batch_loses_and_duplicates_nothing(kind: str, tmp_path: Path) -> None:
    count = 3000
    env = {**os.environ, "SOTAY_DATA_DIR": str(tmp_path), "METRICS_PORT": "0", "LOG_LEVEL": "WARNING"}
    env.pop("S3_ENDPOINT", None)
    gen: Iterator[Database] | None = None
    if kind == "embedded":
        db = Database(f"sqlite:///{tmp_path / 'documents.db'}")
        env.pop("ELASTICSEARCH_URL", None)
        env["DOCUMENTS_SEARCH_DB"] = str(tmp_path / "search.db")
    else:
        gen = _postgres_schema_db(need_backing("SOTAY_TEST_DATABASE_URL"))
        db = next(gen)
        env["ELASTICSEARCH_URL"] = need_backing("ELASTICSEARCH_URL")
        env["ES_INDEX_ALIAS"] = f"sotay-test-{uuid.uuid4().hex[:10]}"
    env["DATABASE_URL"] = db.url
    db.migrate("documents", MIGRATIONS)
    _seed(db, count)

    def indexed() -> list[str]:
        if kind == "embedded":
            path = tmp_path / "search.db"
            if not path.exists():
                return []
            with sqlite3.connect(path) as conn:
                try:
                    return [r[0] for r in conn.execute("SELECT id FROM docs")]
                except sqlite3.OperationalError:
                    return []
        from services.documents.search.es import ElasticIndex

        es = ElasticIndex(env["ELASTICSEARCH_URL"], env["ES_INDEX_ALIAS"])
        if not es.indices():
            return []
        es.refresh()
        return [h["_id"] for h in es.client.search(index=es.alias, size=10000, _source=False)["hits"]["hits"]]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "services.documents", "indexer"], env=env, cwd=ROOT)

    try:
        first = start()
        deadline = time.monotonic() + 60
        while not indexed() and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)  # mid-way: some batches done, the cursor behind or not
        first.wait()
        partial = len(indexed())
        assert partial > 0
        second = start()
        deadline = time.monotonic() + 120
        while len(indexed()) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
        done = indexed()
        assert len(done) == count and len(set(done)) == count
        with db.read() as conn:
            cursor = conn.execute(sa.text("SELECT seq FROM event_cursors WHERE source = 'search-indexer'")).scalar()
            top = conn.execute(sa.text("SELECT max(seq) FROM outbox")).scalar()
        assert cursor == top
    finally:
        if kind == "production":
            from services.documents.search.es import ElasticIndex

            ElasticIndex(env["ELASTICSEARCH_URL"], env["ES_INDEX_ALIAS"]).drop()
        if gen is not None:
            for _ in gen:
                pass
        else:
            db.dispose()
