"""Documents benchmarks on the real backing servers (PostgreSQL, Elasticsearch, SeaweedFS S3).

  python -m bench.documents indexing [--docs 20000]   -> bench/results/documents_indexing.json
  python -m bench.documents search [--clients 16]     -> bench/results/documents_search.json
  python -m bench.documents upload [--files 40]       -> bench/results/documents_upload.json
  python -m bench.documents all

indexing: 20,000 generated Vietnamese documents of mixed sizes go through the real pipeline
(rows + outbox -> relay -> indexer -> Elasticsearch); baseline: the same sources bulk-loaded
straight into an identical index in the same run.
search: 16 concurrent clients send the same queries to the documents service (gRPC, separate
server processes, permission filter and highlights included) and straight to Elasticsearch
(the same query bodies); p50/p95/p99 and the ratio of p95s.
upload: the same files uploaded through UploadDocument (checks, SHA-256, extraction, S3 put,
rows) and put straight into S3 with the minio SDK; the throughput ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

from bench.common import ROOT, fresh_postgres_database, latency_summary, write_result

_WORD_TEXT = (
    "nghị quyết đảng bộ chi bộ đảng viên xây dựng chỉnh đốn đạo đức cách mạng học tập làm theo tư "
    "tưởng phong cách Hồ Chí Minh kinh tế xã hội quốc phòng an ninh nông thôn mới chuyển đổi số cải "
    "cách hành chính dân vận mặt trận tổ quốc thanh niên phụ nữ cựu chiến binh kiểm tra giám sát kỷ "
    "luật tổ chức cán bộ tuyên giáo văn hóa giáo dục y tế môi trường biên giới cửa khẩu du lịch "
    "thương mại đầu tư hạ tầng giao thông lãnh đạo chỉ đạo triển khai thực hiện sơ kết tổng kết "
    "nhiệm kỳ đại hội bầu cử sinh hoạt thường kỳ chuyên đề "
)
WORDS = _WORD_TEXT.split()
TYPES = ["NQ", "QĐ", "CT", "KL", "QC", "HD", "TB", "BC", "KH", "CTr", "CV"]
ISSUERS = ["TU", "ĐU", "HU", "BTGTU", "UBKTTU"]
QUERIES = [
    "nghị quyết",
    "nghi quyet",
    "dang vien",
    "xây dựng đảng",
    "dao duc cach mang",
    "chuyen doi so",
    "28-QC/TU",
    "15 nq tu",
    "kiểm tra giám sát",
    "nong thon moi",
    "học tập làm theo",
    "bien gioi cua khau",
    "đại hội chi bộ",
    "cai cach hanh chinh",
    "120-HD/BTGTU",
    "sinh hoat chuyen de",
]


def _text(rng: random.Random, words: int) -> str:
    sentences = []
    while words > 0:
        n = min(words, rng.randint(8, 20))
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + ".")
        words -= n
    return " ".join(sentences)


def generated(count: int, unit: str, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Mixed sizes: 60% short (~150 words), 30% medium (~1,500), 10% long (~8,000)."""
    rng = random.Random(seed)
    for i in range(count):
        size = rng.choices([150, 1500, 8000], [6, 3, 1])[0]
        doc_type, issuer = rng.choice(TYPES), rng.choice(ISSUERS)
        yield {
            "id": str(uuid.UUID(int=rng.getrandbits(128))),
            "title": _text(rng, 12).rstrip("."),
            "number": f"{i + 1}-{doc_type}/{issuer}",
            "doc_type": doc_type,
            "issued_on": f"20{rng.randint(20, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "body": _text(rng, size),
            "summary": _text(rng, 30),
            "unit": unit,
        }


# ---------------------------------------------------------------- (a) indexing


def _seed(db: Any, docs: list[dict[str, Any]]) -> None:
    from services.core.outbox import relay_once
    from services.documents import store
    from services.documents.numbers import parse_number
    from services.documents.servicer import emit_refresh

    now = time.time()
    for start in range(0, len(docs), 1000):
        with db.write() as conn:
            for d in docs[start : start + 1000]:
                number = parse_number(d["number"])
                store.insert(
                    conn,
                    {
                        "id": d["id"],
                        "title": d["title"],
                        "number": number.text,
                        "number_key": number.key,
                        "number_seq": number.seq,
                        "doc_type": number.doc_type,
                        "issuer_code": number.issuer,
                        "category": "van-kien-tu-lieu",
                        "issued_on": d["issued_on"],
                        "issuing_body": "Tỉnh ủy",
                        "signer": "",
                        "summary": d["summary"],
                        "status": store.PUBLISHED,
                        "unit_id": d["unit"],
                        "current_version": 1,
                        "created_by": "bench",
                        "published_at": now,
                        "withdrawn_at": None,
                        "withdrawn_reason": None,
                    },
                    [d["unit"]],
                    [d["unit"]],
                )
                store.insert_version(
                    conn,
                    {
                        "document_id": d["id"],
                        "version": 1,
                        "blob_key": f"docs/{d['id']}/v1",
                        "sha256": "0" * 64,
                        "size": len(d["body"]),
                        "kind": "text",
                        "content_type": "text/plain",
                        "filename": "a.txt",
                        "note": "",
                        "extraction_state": store.DONE,
                        "extraction_error": "",
                        "text_source": "plain",
                        "text": d["body"],
                        "created_by": "bench",
                    },
                )
                emit_refresh(conn, d["id"])
    while relay_once(db, "documents"):
        pass


def bench_indexing(count: int, env: dict[str, str]) -> dict[str, Any]:
    from elasticsearch import helpers

    from services.core.db import Database
    from services.documents import store
    from services.documents.indexer import Indexer
    from services.documents.migrations import MIGRATIONS
    from services.documents.search import IndexedDocument
    from services.documents.search.es import ElasticIndex, _source

    db = Database(env["DATABASE_URL"])
    db.migrate("documents", MIGRATIONS)
    docs = list(generated(count, env["BENCH_UNIT"]))
    t = time.perf_counter()
    _seed(db, docs)
    seed_s = time.perf_counter() - t
    total_chars = sum(len(d["body"]) for d in docs)
    index = ElasticIndex(env["ELASTICSEARCH_URL"], env["ES_INDEX_ALIAS"])
    index.drop()
    index.ensure()
    indexer = Indexer(db, index)
    t = time.perf_counter()
    while indexer.poll_once():
        print(f"\rindexed events up to {indexer.cursor()}", end="", file=sys.stderr)
    index.refresh()
    pipeline_s = time.perf_counter() - t
    print(file=sys.stderr)
    # Baseline: the same documents bulk-loaded straight into an identical fresh index.
    raw = ElasticIndex(env["ELASTICSEARCH_URL"], f"{env['ES_INDEX_ALIAS']}-direct")
    raw.drop()
    raw.ensure()
    with db.read() as conn:
        sources: list[IndexedDocument] = list(store.all_published(conn))
    t = time.perf_counter()
    for start in range(0, len(sources), 500):
        helpers.bulk(
            raw.client,
            [{"_index": raw.alias, "_id": d.id, "_source": _source(d)} for d in sources[start : start + 500]],
            request_timeout=120,
        )
    raw.refresh()
    direct_s = time.perf_counter() - t
    raw.drop()
    db.dispose()
    searchable = index.client.count(index=index.alias)["count"]
    return {
        "documents": count,
        "body_chars": total_chars,
        "seed_rows_seconds": round(seed_s, 2),
        "pipeline": {"seconds": round(pipeline_s, 2), "docs_per_s": round(count / pipeline_s, 1)},
        "direct_bulk": {"seconds": round(direct_s, 2), "docs_per_s": round(count / direct_s, 1)},
        "ratio_pipeline_to_direct": round((count / pipeline_s) / (count / direct_s), 3),
        "indexed": searchable,
    }


# ---------------------------------------------------------------- servers


class Servers:
    """identity + documents as separate processes (so the load generator does not share their GIL)."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env = env
        self.tmp = tmp
        self.root = env["BENCH_UNIT"]  # the identity database made in main(); its root owns the documents
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        base = {**os.environ, **self.env, "LOG_LEVEL": "WARNING", "SOTAY_DATA_DIR": str(self.tmp)}
        ports = {"identity": _free_port(), "documents": _free_port()}
        self.addr = {k: f"127.0.0.1:{v}" for k, v in ports.items()}
        common = {"IDENTITY_ADDR": self.addr["identity"], "GRPC_WORKERS": "32"}
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "services.identity", "serve"],
                cwd=ROOT,
                env={
                    **base,
                    **common,
                    "DATABASE_URL": f"sqlite:///{self.tmp / 'identity.db'}",
                    "GRPC_PORT": str(ports["identity"]),
                    "METRICS_PORT": "0",
                },
            )
        )
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "services.documents", "serve"],
                cwd=ROOT,
                env={**base, **common, "GRPC_PORT": str(ports["documents"]), "METRICS_PORT": "0"},
            )
        )
        for name in ("identity", "documents"):
            _wait_grpc(self.addr[name])

    def token(self) -> list[tuple[str, str]]:
        from sotay.identity.v1 import identity_pb2, identity_pb2_grpc

        stub = identity_pb2_grpc.IdentityServiceStub(grpc.insecure_channel(self.addr["identity"]))
        reply = stub.Login(identity_pb2.LoginRequest(username="bench-admin", password="bench-admin-password"))
        return [("authorization", f"Bearer {reply.access_token}")]

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=30)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_grpc(addr: str) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with grpc.insecure_channel(addr) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
        time.sleep(0.2)
    raise SystemExit(f"server at {addr} did not start")


# ---------------------------------------------------------------- (b) search


def _load(fn: Any, clients: int, per_client: int) -> tuple[list[float], float]:
    samples: list[float] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        mine = []
        for _ in range(per_client):
            query = rng.choice(QUERIES)
            start = time.perf_counter()
            fn(query)
            mine.append(time.perf_counter() - start)
        with lock:
            samples.extend(mine)

    for q in QUERIES:  # warm up both paths the same way
        fn(q)
    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return samples, time.perf_counter() - t


def bench_search(clients: int, per_client: int, env: dict[str, str], tmp: Path) -> dict[str, Any]:
    from services.documents.search import SearchQuery, Visibility
    from services.documents.search.es import ElasticIndex
    from sotay.documents.v1 import documents_pb2, documents_pb2_grpc

    servers = Servers(env, tmp)
    servers.start()
    try:
        auth = servers.token()
        channel = grpc.insecure_channel(servers.addr["documents"])
        stub = documents_pb2_grpc.DocumentsServiceStub(channel)

        def service(query: str) -> None:
            stub.SearchDocuments(
                documents_pb2.SearchDocumentsRequest(query=query, page_size=10), metadata=auth, timeout=10
            )

        index = ElasticIndex(env["ELASTICSEARCH_URL"], env["ES_INDEX_ALIAS"])
        index.client = type(index.client)(env["ELASTICSEARCH_URL"], timeout=10, maxsize=clients)
        vis = Visibility(units=(servers.root,), manage_units=(servers.root,))
        bodies = {q: index.body(SearchQuery(visibility=vis, text=q, size=10)) for q in QUERIES}

        def direct(query: str) -> None:
            body = bodies[query]
            index.client.search(index=index.alias, **{("from_" if k == "from" else k): v for k, v in body.items()})

        direct_samples, direct_s = _load(direct, clients, per_client)
        service_samples, service_s = _load(service, clients, per_client)
        direct_samples2, direct_s2 = _load(direct, clients, per_client)  # before and after: fair to both
        direct_all = direct_samples + direct_samples2
        svc, dct = latency_summary(service_samples), latency_summary(direct_all)
        hits = stub.SearchDocuments(documents_pb2.SearchDocumentsRequest(query="nghi quyet"), metadata=auth)
        return {
            "clients": clients,
            "requests_per_client": per_client,
            "queries": QUERIES,
            "documents_in_index": index.client.count(index=index.alias)["count"],
            "sample_total_hits_nghi_quyet": hits.total_size,
            "service_grpc": {**svc, "rps": round(len(service_samples) / service_s, 1)},
            "direct_elasticsearch": {**dct, "rps": round(len(direct_all) / (direct_s + direct_s2), 1)},
            "ratio_p95_service_to_direct": round(svc["p95_ms"] / dct["p95_ms"], 3),
            "ratio_p50_service_to_direct": round(svc["p50_ms"] / dct["p50_ms"], 3),
            "targets": {"p95_ratio_max": 1.3, "p95_ms_max": 150},
            "path": "gRPC (the gateway route is registered; HTTP numbers come with the gateway benchmark)",
        }
    finally:
        servers.stop()


# ---------------------------------------------------------------- (c) upload


def _files(count: int) -> list[tuple[str, bytes]]:
    sys.path.insert(0, str(ROOT))
    from tests.support.documents import docx_bytes

    rng = random.Random(11)
    out = []
    for i in range(count):
        text = _text(rng, 150_000 if i % 2 else 60_000)
        if i % 4 == 3:
            out.append((f"f{i}.docx", docx_bytes(text.split(". "))))
        else:
            out.append((f"f{i}.txt", text.encode()))
    return out


def bench_upload(count: int, env: dict[str, str], tmp: Path) -> dict[str, Any]:
    from services.documents.storage.s3 import S3BlobStore
    from sotay.documents.v1 import documents_pb2, documents_pb2_grpc

    files = _files(count)
    total = sum(len(d) for _, d in files)
    servers = Servers(env, tmp)
    servers.start()
    try:
        auth = servers.token()
        stub = documents_pb2_grpc.DocumentsServiceStub(grpc.insecure_channel(servers.addr["documents"]))

        def upload(name: str, data: bytes, i: int) -> None:
            header = documents_pb2.UploadHeader(
                idempotency_key=uuid.uuid4().hex,
                unit_id=servers.root,
                publish=True,
                filename=name,
                metadata=documents_pb2.DocumentMetadata(
                    title=f"Tài liệu {i}", number=f"{i + 1}-TB/TU", category="van-kien-tu-lieu"
                ),
            )

            def messages() -> Iterator[documents_pb2.UploadDocumentRequest]:
                yield documents_pb2.UploadDocumentRequest(header=header)
                for k in range(0, len(data), 256 * 1024):
                    yield documents_pb2.UploadDocumentRequest(chunk=data[k : k + 256 * 1024])

            stub.UploadDocument(messages(), metadata=auth, timeout=60)

        direct_store = S3BlobStore(
            env["S3_ENDPOINT"], env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"], env["S3_BUCKET"] + "-direct"
        )
        direct_store.ensure()

        def put(name: str, data: bytes, i: int) -> None:
            import io

            direct_store.client.put_object(
                direct_store.bucket, f"direct/{uuid.uuid4().hex}/{name}", io.BytesIO(data), length=len(data)
            )

        upload(*files[0], 10_000)
        put(*files[0], 0)
        results = {}
        for label, fn in (("direct_s3", put), ("service", upload), ("direct_s3_after", put)):
            t = time.perf_counter()
            for i, (name, data) in enumerate(files):
                fn(name, data, i)
            seconds = time.perf_counter() - t
            results[label] = {
                "seconds": round(seconds, 3),
                "mb_per_s": round(total / seconds / 1e6, 2),
                "files_per_s": round(len(files) / seconds, 2),
            }
        direct_mbs = (results["direct_s3"]["mb_per_s"] + results["direct_s3_after"]["mb_per_s"]) / 2
        return {
            "files": len(files),
            "bytes": total,
            **results,
            "ratio_service_to_direct": round(results["service"]["mb_per_s"] / direct_mbs, 3),
            "target_ratio_min": 0.5,
        }
    finally:
        servers.stop()


# ---------------------------------------------------------------- main


def backing() -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "backing-services"), "env", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    import json

    return {k: str(v) for k, v in json.loads(out.stdout).items()}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.documents")
    parser.add_argument("which", choices=["indexing", "search", "upload", "all"])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=150, help="per client")
    parser.add_argument("--files", type=int, default=40)
    args = parser.parse_args()
    settings = backing()
    env = {
        "DATABASE_URL": fresh_postgres_database(f"sotay_bench_documents_{args.which}"),
        "ELASTICSEARCH_URL": settings["ELASTICSEARCH_URL"],
        "ES_INDEX_ALIAS": f"sotay-bench-documents-{args.which}",
        "S3_ENDPOINT": settings["S3_ENDPOINT"],
        "S3_ACCESS_KEY": settings["S3_ACCESS_KEY"],
        "S3_SECRET_KEY": settings["S3_SECRET_KEY"],
        "S3_BUCKET": f"sotay-bench-{uuid.uuid4().hex[:8]}",
    }
    with tempfile.TemporaryDirectory(prefix="sotay-bench-") as tmp:
        tmp_path = Path(tmp)
        from services.core.db import Database
        from services.identity.accounts import create_admin
        from services.identity.migrations import MIGRATIONS

        identity_db = Database(f"sqlite:///{tmp_path / 'identity.db'}")
        identity_db.migrate("identity", MIGRATIONS)
        _, root = create_admin(identity_db, "bench-admin", "bench-admin-password")
        identity_db.dispose()
        env["BENCH_UNIT"] = root
        if args.which in ("indexing", "all"):
            write_result("documents_indexing", bench_indexing(args.docs, env))
        elif args.which == "search":  # the corpus the searches run over (its numbers kept apart)
            write_result("documents_search_corpus", bench_indexing(args.docs, env))
        if args.which in ("search", "all"):
            write_result("documents_search", bench_search(args.clients, args.requests, env, tmp_path))
        if args.which in ("upload", "all"):
            write_result("documents_upload", bench_upload(args.files, env, tmp_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
