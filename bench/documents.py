"""Documents benchmarks through the HTTP gateway, on real processes and real backing servers.

Every mode starts, on 127.0.0.1: identity, the documents server with its relay, search indexer
and text/OCR worker, and the gateway under gunicorn (`gunicorn -c python:gateway.gunicorn_conf
"gateway.app:create_app()"`), each service over a fresh PostgreSQL database, with the loopback
Elasticsearch and SeaweedFS S3 of scripts/backing-services. Each result is written to
bench/results/<name>.json and printed; each reports a ratio to a baseline measured in the same run.

modes:
  indexing  --docs N (20,000) generated Vietnamese documents of mixed sizes (60% ~150 words,
            30% ~1,500, 10% ~8,000) are inserted in bulk with the service's own store code, each
            with its outbox event, as an upload would leave them; then the relay and indexer
            processes are started and timed until Elasticsearch holds every document (outbox ->
            relay -> indexer -> Elasticsearch). Baseline: the same documents bulk-loaded straight
            into an identical index. -> documents_indexing.json
  search    the indexing corpus, then --clients (16) concurrent connections (wrk) search
            through GET /api/v1/documents/search with a member's token (permission filter on:
            a tenth of the corpus is addressed to another commune) and send the very same
            Elasticsearch queries straight to Elasticsearch (direct, gateway, direct again).
            p50/p95/p99 and the ratio; targets p95 <= 1.3x direct and p95 < 150 ms.
            -> documents_search.json
  upload    --files (40) text and DOCX files of 0.4-1 MB uploaded through POST /api/v1/documents
            (multipart; each client keeps its connection open, as browsers and the minio SDK do)
            and put straight into S3 with the minio SDK (into a bucket versioned like the
            documents bucket), with one client and with
            --upload-clients (4) concurrent clients; throughput ratio (target >= 0.5), the
            documents server's time per upload step (from its metrics) and how long the
            background worker takes to extract the texts deferred off the request path.
            -> documents_upload.json
  all       the three on one system (indexing first: search runs over its corpus)

Needs wrk (Debian package, installed on demand) for the search mode.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.common import ROOT, fresh_postgres_database, machine, write_result
from bench.loadgen import ensure_wrk

PASSWORD = "bench-password-2026"
ALIAS = "sotay-bench-documents"
# Words of every document (Party administrative language), and words of one subject each: a
# document is about one or two subjects, so a subject's words are found in a part of the corpus
# only, as in a real one (a vocabulary shared by every document would make every search match
# most of the corpus).
def _phrases(text: str) -> list[str]:
    return text.split(", ")


COMMON = _phrases(
    "nghị quyết, chỉ thị, đảng bộ, chi bộ, đảng viên, cán bộ, cấp ủy, ban thường vụ, tỉnh ủy, huyện ủy, "
    "đảng ủy, xã, phường, thị trấn, lãnh đạo, chỉ đạo, triển khai, thực hiện, tổ chức, quán triệt, "
    "nghiêm túc, hiệu quả, kịp thời, "
    "đồng bộ, kết quả, đạt được, hạn chế, nguyên nhân, nhiệm vụ, giải pháp, trọng tâm, thời gian tới, năm, "
    "tháng, quý, các cấp, các ngành, địa phương, đơn vị, cơ quan, trên địa bàn, toàn tỉnh, theo quy định, của, "
    "về việc, tăng cường, nâng cao, chất lượng, công tác, phối hợp, chặt chẽ, thường xuyên, định kỳ, báo cáo, "
    "sơ kết, tổng kết, đánh giá, rút kinh nghiệm, phát huy, vai trò, trách nhiệm, người đứng đầu, nhân dân, "
    "quần chúng, hệ thống chính trị, và, với, để, trong, đối với, những, được, đã, sẽ, cần"
)
SUBJECTS = {
    "chuyển đổi số": "chuyển đổi số, chính quyền số, nền tảng số, dữ liệu, số hóa, hạ tầng số, kỹ năng số, "
    "dịch vụ công trực tuyến, định danh điện tử, thanh toán không dùng tiền mặt, an toàn thông tin mạng",
    "nông thôn mới": "nông thôn mới, tiêu chí, xã nâng cao, kiểu mẫu, sản xuất nông nghiệp, hợp tác xã, "
    "giao thông nông thôn, thu nhập bình quân, giảm nghèo bền vững, sản phẩm OCOP",
    "biên giới": "biên giới, cửa khẩu, mốc quốc giới, biên mậu, xuất nhập khẩu, đồn biên phòng, hàng hóa, "
    "buôn lậu, gian lận thương mại, lối mở, kinh tế cửa khẩu",
    "xây dựng Đảng": "xây dựng, chỉnh đốn Đảng, tự diễn biến, tự chuyển hóa, suy thoái, tư tưởng chính trị, "
    "đạo đức, lối sống, sinh hoạt chi bộ, kết nạp đảng viên, phát triển đảng viên",
    "kiểm tra giám sát": "kiểm tra, giám sát, kỷ luật đảng, ủy ban kiểm tra, dấu hiệu vi phạm, tài chính đảng, "
    "kê khai tài sản, thu nhập, thi hành kỷ luật, khiếu nại, tố cáo",
    "tư tưởng Hồ Chí Minh": "học tập và làm theo, tư tưởng, đạo đức, phong cách Hồ Chí Minh, điển hình tiên tiến, "
    "gương người tốt việc tốt, nêu gương, chuyên đề toàn khóa",
    "quốc phòng an ninh": "quốc phòng, an ninh, khu vực phòng thủ, dân quân tự vệ, lực lượng vũ trang, "
    "trật tự an toàn xã hội, diễn tập, tuyển quân, biên phòng, công an xã",
    "dân vận": "dân vận khéo, dân chủ ở cơ sở, mặt trận tổ quốc, đoàn thể chính trị xã hội, hội nông dân, "
    "hội phụ nữ, đoàn thanh niên, hội cựu chiến binh, đồng bào dân tộc thiểu số",
    "cải cách hành chính": "cải cách hành chính, thủ tục hành chính, một cửa liên thông, chỉ số PAR INDEX, "
    "PCI, sắp xếp tổ chức bộ máy, tinh giản biên chế, vị trí việc làm",
    "văn hóa du lịch": "văn hóa, du lịch, di tích lịch sử, lễ hội truyền thống, du lịch cộng đồng, homestay, "
    "bảo tồn bản sắc dân tộc, danh lam thắng cảnh",
    "giáo dục y tế": "giáo dục đào tạo, trường học đạt chuẩn quốc gia, y tế cơ sở, bảo hiểm y tế, "
    "tiêm chủng, chăm sóc sức khỏe nhân dân, học sinh, giáo viên",
    "phòng chống tham nhũng": "phòng chống tham nhũng, tiêu cực, lãng phí, thực hành tiết kiệm, thu hồi tài sản, "
    "xung đột lợi ích, minh bạch, trách nhiệm giải trình",
    "đại hội": "đại hội đảng bộ, nhiệm kỳ, văn kiện, nhân sự, bầu cử, ban chấp hành, đại biểu, "
    "quy chế bầu cử, phương án nhân sự, đại hội điểm",
    "kinh tế": "kinh tế, tăng trưởng, GRDP, thu ngân sách, đầu tư công, giải ngân, doanh nghiệp, "
    "khu công nghiệp, thu hút đầu tư, hạ tầng giao thông",
    "môi trường": "môi trường, rác thải sinh hoạt, biến đổi khí hậu, trồng rừng, phòng chống thiên tai, "
    "sạt lở đất, tài nguyên khoáng sản, nước sạch",
}
SUBJECT_WORDS = {k: _phrases(v) for k, v in SUBJECTS.items()}
TYPES = ["NQ", "QĐ", "CT", "KL", "QC", "HD", "TB", "BC", "KH", "CTr", "CV"]
TITLES = {
    "NQ": "Nghị quyết về", "QĐ": "Quyết định ban hành quy định về", "CT": "Chỉ thị về tăng cường",
    "KL": "Kết luận của Ban Thường vụ về", "QC": "Quy chế phối hợp về", "HD": "Hướng dẫn thực hiện",
    "TB": "Thông báo kết luận về", "BC": "Báo cáo kết quả", "KH": "Kế hoạch triển khai",
    "CTr": "Chương trình hành động về", "CV": "Công văn về việc",
}
ISSUERS = ["TU", "ĐU", "HU", "BTGTU", "UBKTTU"]
CATEGORIES = ["van-kien-tu-lieu", "hoc-tap-nghi-quyet", "thong-bao-noi-bo", "chuyen-de", "tin-tuc"]
WORD_QUERIES = [
    "nghị quyết",  # in many titles
    "nghi quyet",
    "dang vien",
    "chuyển đổi số",
    "chuyen doi so",
    "nong thon moi",
    "biên giới cửa khẩu",
    "dao duc loi song",
    "kiểm tra giám sát",
    "học tập và làm theo tư tưởng Hồ Chí Minh",
    "phong chong tham nhung",
    "cai cach hanh chinh",
    "du lịch cộng đồng",
    "dai hoi dang bo nhiem ky",
    "quốc phòng an ninh",
    "rác thải sinh hoạt",
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the corpus


def _text(rng: random.Random, words: int, subjects: tuple[str, ...] = ()) -> str:
    """About `words` words (phrases of 1-4 syllables) in sentences of 5-12 phrases, paragraphs of 3-6
    sentences: the common phrases, and (about 40%) those of the document's subjects."""
    topical = [w for name in subjects for w in SUBJECT_WORDS[name]]
    population = COMMON + topical * max(1, round(len(COMMON) * 0.67 / max(len(topical), 1))) if topical else COMMON
    words = max(1, words // 2)  # a phrase has two syllables on average
    picked = rng.choices(population, k=words)
    paragraphs, sentences, i = [], [], 0
    while i < words:
        n = rng.randint(5, 12)
        sentence = " ".join(picked[i : i + n])
        sentences.append(sentence[:1].upper() + sentence[1:] + ".")
        i += n
        if len(sentences) >= rng.randint(3, 6):
            paragraphs.append(" ".join(sentences))
            sentences = []
    if sentences:
        paragraphs.append(" ".join(sentences))
    return "\n".join(paragraphs)


@dataclass(frozen=True)
class GenDoc:
    id: str
    title: str
    number: str
    issued_on: str
    category: str
    summary: str
    body: str
    elsewhere: bool  # addressed to another commune: the benchmark's member must not see it


def generated(count: int, seed: int = 7) -> Iterator[GenDoc]:
    """Mixed sizes: 60% short (~150 words), 30% medium (~1,500), 10% long (~8,000); one or two
    subjects each; a tenth addressed to another commune than the benchmark's member's."""
    rng = random.Random(seed)
    names = list(SUBJECTS)
    for i in range(count):
        size = rng.choices([150, 1500, 8000], [6, 3, 1])[0]
        doc_type, issuer = rng.choice(TYPES), rng.choice(ISSUERS)
        subjects = tuple(rng.sample(names, rng.choice([1, 1, 2])))
        yield GenDoc(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            title=f"{TITLES[doc_type]} {subjects[0]} " + _text(rng, rng.randint(4, 10), subjects).rstrip("."),
            number=f"{i + 1}-{doc_type}/{issuer}",
            issued_on=f"20{rng.randint(18, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            category=rng.choice(CATEGORIES),
            summary=_text(rng, 30, subjects).replace("\n", " "),
            body=_text(rng, size, subjects),
            elsewhere=rng.random() < 0.1,
        )


# ---------------------------------------------------------------- the system under test


@dataclass
class Org:
    root: str
    commune_a: str
    commune_b: str
    cell_a: str
    admin_login: str = "bench-admin"
    member_login: str = "0913000001"  # a member of cell_a (a phone number is a login)


def prepare_identity(url: str) -> Org:
    from services.core.db import Database
    from services.identity import members, units
    from services.identity.accounts import create_admin, hash_password
    from services.identity.members import Profile
    from services.identity.migrations import MIGRATIONS

    db = Database(url)
    db.migrate("identity", MIGRATIONS)
    _, root = create_admin(db, "bench-admin", PASSWORD)
    with db.write() as conn:
        commune_a = units.create(conn, "Đảng ủy xã Tân Thành", "commune", root).id
        commune_b = units.create(conn, "Đảng ủy xã Hòa Bình", "commune", root).id
        cell_a = units.create(conn, "Chi bộ thôn Nà Lầu", "cell", commune_a).id
        members.create(
            conn,
            cell_a,
            Profile(full_name="Nguyễn Thị Hương", phone="0913000001", party_card_number="BN000001", position="member"),
            hash_password(PASSWORD),
        )
    db.dispose()
    return Org(root, commune_a, commune_b, cell_a)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def backing() -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "backing-services"), "env", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return {k: str(v) for k, v in json.loads(out.stdout).items()}


class System:
    """identity, documents (+ relay, indexer, text/OCR worker) and the gateway as real processes."""

    def __init__(self, tmp: Path) -> None:
        settings = backing()
        self.tmp = tmp
        self.identity_url = fresh_postgres_database("sotay_bench_identity")
        self.documents_url = fresh_postgres_database("sotay_bench_documents")
        self.org = prepare_identity(self.identity_url)
        self.gateway = f"127.0.0.1:{_free_port()}"
        self.documents_metrics = _free_port()
        self.es_url = settings["ELASTICSEARCH_URL"]
        self.bucket = f"sotay-bench-{uuid.uuid4().hex[:8]}"
        self.s3 = {k: settings[k] for k in ("S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY")}
        self.env = {
            **os.environ,
            "SOTAY_DATA_DIR": str(tmp),
            "LOG_LEVEL": "WARNING",
            "METRICS_PORT": "0",
            "ACCESS_TOKEN_TTL": "7200",
            "IDENTITY_ADDR": f"127.0.0.1:{_free_port()}",
            "DOCUMENTS_ADDR": f"127.0.0.1:{_free_port()}",
            "ELASTICSEARCH_URL": self.es_url,
            "ES_INDEX_ALIAS": ALIAS,
            **self.s3,
            "S3_BUCKET": self.bucket,
            "GATEWAY_BIND": self.gateway,
            "GATEWAY_BACKENDS": "identity,documents",
            "GATEWAY_WORKERS": os.environ.get("GATEWAY_WORKERS", "2"),
            "GATEWAY_THREADS": os.environ.get("GATEWAY_THREADS", "8"),
        }
        self.env.pop("DATABASE_URL", None)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.backing_pids: dict[str, list[int]] = {}
        status = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "backing-services"), "status"],
            capture_output=True, text=True, check=False,
        ).stdout
        for line in status.splitlines():
            parts = line.split()
            if len(parts) > 3 and parts[1] == "running" and parts[0] in ("postgres", "elasticsearch", "s3"):
                self.backing_pids[{"s3": "s3 (SeaweedFS)"}.get(parts[0], parts[0])] = [int(parts[3])]
        from services.documents.search.es import ElasticIndex

        ElasticIndex(self.es_url, ALIAS).drop()  # a fresh index: the documents server creates it

    def _start(self, name: str, argv: list[str], **extra: str) -> None:
        out = (self.tmp / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env={**self.env, **extra}, stdout=out, stderr=out)

    def start_servers(self) -> None:
        from services.cli import grpc_healthy

        py = sys.executable
        self._start("identity", [py, "-m", "services.identity", "serve"], DATABASE_URL=self.identity_url)
        self._start(
            "documents",
            [py, "-m", "services.documents", "serve"],
            DATABASE_URL=self.documents_url,
            METRICS_PORT=str(self.documents_metrics),
        )
        gunicorn = str(Path(py).with_name("gunicorn"))
        self._start("gateway", [gunicorn, "-c", "python:gateway.gunicorn_conf", "gateway.app:create_app()"])
        deadline = time.monotonic() + 90
        for name in ("identity", "documents"):
            while not grpc_healthy(self.env[f"{name.upper()}_ADDR"]):
                self._check_alive(deadline)
                time.sleep(0.2)
        while True:
            try:
                if requests.get(self.url("/readyz"), timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            self._check_alive(deadline)
            time.sleep(0.2)

    def start_workers(self, *names: str) -> None:
        for name in names:
            self._start(
                name, [sys.executable, "-m", "services.documents", name], DATABASE_URL=self.documents_url
            )

    def stop_workers(self, *names: str) -> None:
        for name in names:
            proc = self.procs.pop(name, None)
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)

    def _check_alive(self, deadline: float) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited: {(self.tmp / f'{name}.log').read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise SystemExit("the system did not start in time")

    def stop(self) -> None:
        for proc in reversed(self.procs.values()):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._drop_buckets()
        from services.documents.search.es import ElasticIndex

        ElasticIndex(self.es_url, ALIAS).drop()  # ~800 MB for 20,000 documents on a shared server

    def _drop_buckets(self) -> None:
        """The run's files are not kept."""
        from minio import Minio
        from minio.deleteobjects import DeleteObject

        s3 = Minio(self.s3["S3_ENDPOINT"], self.s3["S3_ACCESS_KEY"], self.s3["S3_SECRET_KEY"], secure=False)
        for bucket in (self.bucket, self.bucket + "-direct"):
            if not s3.bucket_exists(bucket):
                continue
            objects = s3.list_objects(bucket, recursive=True, include_version=True)
            list(s3.remove_objects(bucket, (DeleteObject(o.object_name, o.version_id) for o in objects)))
            s3.remove_bucket(bucket)

    def url(self, path: str) -> str:
        return f"http://{self.gateway}{path}"

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) used so far by each part of the system, its backing servers
        and this benchmark's own process (the clients): where the time of a run goes."""
        import resource

        import psutil

        waited = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has exited
        groups: dict[str, list[int]] = {"client (this benchmark)": [os.getpid()]}
        for name, proc in self.procs.items():
            group = "documents workers" if name in ("relay", "indexer", "ocr") else name
            groups.setdefault(group, []).append(proc.pid)
        groups.update(self.backing_pids)
        out = {}
        for group, pids in groups.items():
            total = 0.0
            for pid in pids:
                try:
                    root = psutil.Process(pid)  # the benchmark's children are counted in their groups
                    procs = [root] if pid == os.getpid() else [root, *root.children(recursive=True)]
                    for proc in procs:
                        times = proc.cpu_times()
                        total += times.user + times.system
                except psutil.Error:
                    continue
            out[group] = total
        out["load generator (wrk)"] = waited.ru_utime + waited.ru_stime
        return out

    def login(self, username: str) -> dict[str, str]:
        reply = requests.post(
            self.url("/api/v1/auth/login"), json={"username": username, "password": PASSWORD}, timeout=30
        )
        reply.raise_for_status()
        return {"Authorization": f"Bearer {reply.json()['access_token']}"}

    def documents_db(self) -> Any:
        from services.core.db import Database

        return Database(self.documents_url)

    def step_seconds(self) -> dict[str, tuple[float, int]]:
        """The documents server's time per upload step so far: {step: (seconds, count)}."""
        text = requests.get(f"http://127.0.0.1:{self.documents_metrics}/metrics", timeout=5).text
        out: dict[str, list[float]] = {}
        for line in text.splitlines():
            for suffix, slot in (("_sum{", 0), ("_count{", 1)):
                prefix = "documents_upload_step_seconds" + suffix
                if line.startswith(prefix):
                    labels, value = line[len(prefix) :].rsplit("} ", 1)
                    step = dict(p.split("=", 1) for p in labels.split(","))["step"].strip('"')
                    out.setdefault(step, [0.0, 0.0])[slot] = float(value)
            if line.startswith('grpc_server_handling_seconds_sum{method="UploadDocument"') or (
                line.startswith("grpc_server_handling_seconds_sum{") and 'method="UploadDocument"' in line
            ):
                out.setdefault("rpc_total", [0.0, 0.0])[0] = float(line.rsplit(" ", 1)[1])
            if line.startswith("grpc_server_handling_seconds_count{") and 'method="UploadDocument"' in line:
                out.setdefault("rpc_total", [0.0, 0.0])[1] = float(line.rsplit(" ", 1)[1])
        return {k: (v[0], int(v[1])) for k, v in out.items()}


# ---------------------------------------------------------------- (a) indexing


def seed_corpus(system: System, docs: list[GenDoc]) -> float:
    """Rows, versions and outbox events as uploads leave them, in bulk; returns seconds."""
    from services.documents import store
    from services.documents.numbers import parse_number
    from services.documents.servicer import emit_refresh

    org = system.org
    db = system.documents_db()
    started = time.perf_counter()
    now = time.time()
    for start in range(0, len(docs), 1000):
        batch = docs[start : start + 1000]
        rows, versions = [], []
        for d in batch:
            number = parse_number(d.number)
            rows.append(
                (
                    {
                        "id": d.id,
                        "title": d.title,
                        "number": number.text,
                        "number_key": number.key,
                        "number_seq": number.seq,
                        "doc_type": number.doc_type,
                        "issuer_code": number.issuer,
                        "category": d.category,
                        "issued_on": d.issued_on,
                        "issuing_body": "Tỉnh ủy Lạng Sơn",
                        "signer": "",
                        "summary": d.summary,
                        "status": store.PUBLISHED,
                        "unit_id": org.commune_b if d.elsewhere else org.root,
                        "current_version": 1,
                        "created_by": "bench",
                        "published_at": now,
                        "withdrawn_at": None,
                        "withdrawn_reason": None,
                    },
                    [org.commune_b if d.elsewhere else org.root],
                    [org.root, org.commune_b] if d.elsewhere else [org.root],
                )
            )
            versions.append(
                {
                    "document_id": d.id,
                    "version": 1,
                    "blob_key": f"docs/{d.id}/v1",
                    "sha256": "0" * 64,
                    "size": len(d.body.encode()),
                    "kind": "text",
                    "content_type": "text/plain; charset=utf-8",
                    "filename": "van-ban.txt",
                    "note": "",
                    "extraction_state": store.DONE,
                    "extraction_error": "",
                    "text_source": "plain",
                    "text": d.body,
                    "created_by": "bench",
                }
            )
        with db.write() as conn:
            store.insert_many(conn, rows)
            store.insert_versions(conn, versions)
            for d in batch:
                emit_refresh(conn, d.id)
        log(f"seeded {start + len(batch)}/{len(docs)} documents")
    seconds = time.perf_counter() - started
    db.dispose()
    return seconds


def _pipeline_progress(db: Any) -> tuple[int, int, int]:
    import sqlalchemy as sa

    with db.read() as conn:
        unnumbered = conn.execute(sa.text("SELECT count(*) FROM outbox WHERE seq IS NULL")).scalar_one()
        top = conn.execute(sa.text("SELECT COALESCE(max(seq), 0) FROM outbox")).scalar_one()
        cursor = conn.execute(
            sa.text("SELECT COALESCE(max(seq), 0) FROM event_cursors WHERE source = 'search-indexer'")
        ).scalar_one()
    return int(unnumbered), int(top), int(cursor)


def bench_indexing(system: System, count: int) -> dict[str, Any]:
    from elasticsearch import helpers

    from services.documents import store
    from services.documents.search.es import ElasticIndex, _source

    docs = list(generated(count))
    seed_s = seed_corpus(system, docs)
    body_bytes = sum(len(d.body.encode()) for d in docs)
    db = system.documents_db()

    # Baseline: the same documents (read back through the service's store) bulk-loaded straight
    # into an identical fresh index, in batches of the indexer's size, then refreshed.
    with db.read() as conn:
        sources = list(store.all_published(conn))
    direct = ElasticIndex(system.es_url, ALIAS + "-direct")
    direct.drop()
    direct.ensure()
    log(f"direct bulk of {len(sources)} documents into Elasticsearch")
    started = time.perf_counter()
    for start in range(0, len(sources), 500):
        helpers.bulk(
            direct.client,
            [{"_index": direct.alias, "_id": d.id, "_source": _source(d)} for d in sources[start : start + 500]],
            request_timeout=120,
        )
    direct.refresh()
    direct_s = time.perf_counter() - started
    direct_count = direct.client.count(index=direct.alias)["count"]
    direct.drop()
    del sources

    log("starting the relay and the indexer processes")
    started = time.perf_counter()
    system.start_workers("relay", "indexer")
    first = 0.0
    deadline = time.monotonic() + 1800
    while True:
        if time.monotonic() > deadline:
            raise SystemExit(f"indexing did not finish in 30 minutes (logs: {system.tmp})")
        unnumbered, top, cursor = _pipeline_progress(db)
        if cursor and not first:
            first = time.perf_counter() - started
        if unnumbered == 0 and top and cursor >= top:
            break
        print(f"\r  relayed {top}/{count}, indexed up to {cursor}", end="", file=sys.stderr, flush=True)
        time.sleep(0.25)
    print(file=sys.stderr)
    index = ElasticIndex(system.es_url, ALIAS)
    index.refresh()
    pipeline_s = time.perf_counter() - started
    searchable = index.client.count(index=ALIAS)["count"]
    db.dispose()
    return {
        "documents": count,
        "body_bytes": body_bytes,
        "sizes": "60% ~150 words, 30% ~1,500, 10% ~8,000",
        "seed_rows_seconds": round(seed_s, 2),
        "pipeline": {
            "path": "outbox -> relay process -> indexer process -> Elasticsearch (refresh included)",
            "seconds": round(pipeline_s, 2),
            "docs_per_s": round(count / pipeline_s, 1),
            "seconds_to_first_batch": round(first, 2),
        },
        "direct_bulk": {
            "path": "helpers.bulk, 500 per request, same mapping, refresh included",
            "seconds": round(direct_s, 2),
            "docs_per_s": round(count / direct_s, 1),
            "indexed": direct_count,
        },
        "ratio_pipeline_to_direct": round(direct_s / pipeline_s, 3),
        "indexed": searchable,
    }


# ---------------------------------------------------------------- (b) search


def search_queries(count: int) -> list[str]:
    """Words with and without diacritics, and numbers of documents the member may see typed
    exactly and loosely, and one of a document addressed elsewhere (0 hits: the filter works)."""
    rng = random.Random(3)
    docs = list(generated(min(count, 2000)))
    visible = [d.number for d in docs if not d.elsewhere]
    hidden = next(d.number for d in docs if d.elsewhere)
    picked = rng.sample(visible, 6)
    loose = []
    for n in picked[3:]:
        seq, rest = n.split("-", 1)
        kind, issuer = rest.split("/", 1)
        loose.append(f"{seq} {kind.lower()} {issuer.lower()}")
    return [*WORD_QUERIES, *picked[:3], *loose, picked[0].split("/")[0].lower(), hidden]


_LUA = r"""
local reqs = {}
local n = 0
init = function(args)
%(init)s
  n = #reqs
end
local i = 0
request = function()
  i = i + 1
  return reqs[(i %% n) + 1]
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d %%.1f %%d %%d %%d\n", latency:percentile(50),
    latency:percentile(95), latency:percentile(99), latency.max, latency.mean, summary.requests,
    summary.errors.status, summary.duration))
end
"""


def wrk(url: str, requests_: list[tuple[str, str, dict[str, str], str]], clients: int, seconds: int) -> dict[str, Any]:
    """Closed-loop load: `clients` connections cycling through `requests_` (method, path, headers, body)."""
    assert url.startswith("http://127.0.0.1:"), "load tests target loopback only"
    lines = []
    for method, path, headers, body in requests_:
        hdrs = ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items())
        lines.append(f'  reqs[#reqs + 1] = wrk.format("{method}", [==[{path}]==], {{{hdrs}}}, [==[{body}]==])')
        if not body:
            lines[-1] = lines[-1].replace(", [==[]==])", ", nil)")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "requests.lua"
        script.write_text(_LUA % {"init": "\n".join(lines)})
        out = subprocess.run(
            [ensure_wrk(), "-t2", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    fields = next(line.split()[1:] for line in out.splitlines() if line.startswith("RESULT"))
    p50, p95, p99, top, mean, count, errors, duration = (float(f) for f in fields)
    return {
        "requests": int(count),
        "rps": round(count / (duration / 1e6), 1),
        "p50_ms": round(p50 / 1000, 2),
        "p95_ms": round(p95 / 1000, 2),
        "p99_ms": round(p99 / 1000, 2),
        "max_ms": round(top / 1000, 2),
        "mean_ms": round(mean / 1000, 2),
        "non_2xx": int(errors),
    }


def bench_search(system: System, count: int, clients: int, seconds: int) -> dict[str, Any]:
    from services.documents.search import SearchQuery, Visibility
    from services.documents.search.es import ElasticIndex

    org = system.org
    member = system.login(org.member_login)
    queries = search_queries(count)
    index = ElasticIndex(system.es_url, ALIAS)
    visibility = Visibility(units=(org.root, org.commune_a, org.cell_a))
    gateway_reqs, direct_reqs, checks = [], [], {}
    for q in queries:
        path = "/api/v1/documents/search?" + urllib.parse.urlencode({"q": q, "page_size": 10})
        gateway_reqs.append(("GET", path, member, ""))
        body = index.body(SearchQuery(visibility=visibility, text=q, size=10))
        direct_reqs.append(
            ("POST", f"/{ALIAS}/_search", {"Content-Type": "application/json"}, json.dumps(body))
        )
        via_gateway = requests.get(system.url(path), headers=member, timeout=30)
        via_gateway.raise_for_status()
        straight = index.client.search(index=ALIAS, body=body)
        checks[q] = (via_gateway.json()["total"], straight["hits"]["total"]["value"])
    mismatched = {q: c for q, c in checks.items() if c[0] != c[1]}
    if mismatched:
        raise SystemExit(f"the gateway and Elasticsearch disagree: {mismatched}")
    corpus = index.client.count(index=ALIAS)["count"]
    hidden = index.client.count(index=ALIAS, body={"query": {"term": {"audience_unit_ids": org.commune_b}}})
    es_url = system.es_url.rstrip("/")
    log(f"warming up both paths ({len(queries)} queries)")
    wrk(es_url, direct_reqs, clients, 15)  # Elasticsearch gets faster for a while (JIT, caches)
    wrk(system.url(""), gateway_reqs, clients, 10)
    runs: dict[str, list[dict[str, Any]]] = {"direct": [], "gateway": []}
    for label in ("direct", "gateway", "direct", "gateway", "direct"):
        url, reqs = (es_url, direct_reqs) if label == "direct" else (system.url(""), gateway_reqs)
        log(f"search load: {label} (run {len(runs[label]) + 1}), {clients} connections for {seconds}s")
        cpu = system.cpu_seconds()
        run = wrk(url, reqs, clients, seconds)
        used = system.cpu_seconds()
        run["cpu_ms_per_request"] = {
            k: round((v - cpu.get(k, 0.0)) / run["requests"] * 1000, 2)
            for k, v in used.items()
            if v - cpu.get(k, 0.0) > 0.0001 * run["requests"]
        }
        runs[label].append(run)
    keys = ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "rps")
    direct = {k: round(sum(r[k] for r in runs["direct"]) / len(runs["direct"]), 2) for k in keys}
    gw = {k: round(sum(r[k] for r in runs["gateway"]) / len(runs["gateway"]), 2) for k in keys}
    per_round = [
        round(g["p95_ms"] / ((runs["direct"][i]["p95_ms"] + runs["direct"][i + 1]["p95_ms"]) / 2), 3)
        for i, g in enumerate(runs["gateway"])
    ]
    return {
        "clients": clients,
        "seconds_per_run": seconds,
        "runs": "direct, gateway, direct, gateway, direct after a warm-up; averages of each path's runs",
        "documents_in_index": corpus,
        "documents_the_member_cannot_see": hidden["count"],
        "queries": {q: {"total_hits": checks[q][0]} for q in queries},
        "gateway": {
            **gw,
            "non_2xx": sum(r["non_2xx"] for r in runs["gateway"]),
            "path": "HTTP GET /api/v1/documents/search (member token) -> gunicorn -> gRPC -> ES",
            "runs": runs["gateway"],
        },
        "direct_elasticsearch": {**direct, "runs": runs["direct"]},
        "ratio_p95_gateway_to_direct": round(gw["p95_ms"] / direct["p95_ms"], 3),
        "ratio_p95_per_round": per_round,
        "ratio_p50_gateway_to_direct": round(gw["p50_ms"] / direct["p50_ms"], 3),
        "targets": {"p95_ratio_max": 1.3, "p95_ms_max": 150},
        "met": {
            "p95_ratio": gw["p95_ms"] / direct["p95_ms"] <= 1.3,
            "p95_ms": gw["p95_ms"] < 150,
        },
    }


# ---------------------------------------------------------------- (c) upload

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def upload_files(count: int) -> list[tuple[str, bytes, str]]:
    """0.4-1 MB Vietnamese files: three plain-text files to one DOCX."""
    sys.path.insert(0, str(ROOT))
    from tests.support.documents import docx_bytes

    rng = random.Random(11)
    out = []
    for i in range(count):
        text = _text(rng, 150_000 if i % 2 else 60_000)
        if i % 4 == 3:
            out.append((f"nghi-quyet-{i}.docx", docx_bytes(text.split("\n")), DOCX))
        else:
            out.append((f"thong-bao-{i}.txt", text.encode(), "text/plain"))
    return out


def _throughput(files: list[tuple[str, bytes, str]], send: Callable[[int, str, bytes, str], None],
                clients: int) -> dict[str, float]:
    total = sum(len(d) for _, d, _ in files)
    started = time.perf_counter()
    if clients == 1:
        for i, (name, data, ctype) in enumerate(files):
            send(i, name, data, ctype)
    else:
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda a: send(a[0], *a[1]), enumerate(files)))
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "mb_per_s": round(total / seconds / 1e6, 2),
        "files_per_s": round(len(files) / seconds, 2),
        "ms_per_file": round(seconds / len(files) * 1000, 1),
    }


def _backlog(db: Any) -> tuple[int, int]:
    """(texts not yet extracted, outbox events not yet indexed)."""
    import sqlalchemy as sa

    with db.read() as conn:
        texts = conn.execute(
            sa.text(
                "SELECT count(*) FROM document_versions "
                "WHERE extraction_state IN ('text_pending', 'text_running')"
            )
        ).scalar_one()
    unnumbered, top, cursor = _pipeline_progress(db)
    return int(texts), unnumbered + max(0, top - cursor)


def _wait_drained(system: System, db: Any, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while any(_backlog(db)):
        if time.monotonic() > deadline:
            raise SystemExit(f"the workers did not catch up in {timeout:.0f}s (logs: {system.tmp})")
        time.sleep(0.2)


def _steps(before: dict[str, tuple[float, int]], after: dict[str, tuple[float, int]]) -> dict[str, Any]:
    out = {}
    for name, (secs, n) in after.items():
        b_secs, b_n = before.get(name, (0.0, 0))
        if n - b_n:
            out[name] = {"ms_per_upload": round((secs - b_secs) / (n - b_n) * 1000, 2), "calls": n - b_n}
    return out


def bench_upload(system: System, count: int, concurrent: int, rounds_per_setting: int = 3) -> dict[str, Any]:
    from minio import Minio
    from minio.versioningconfig import ENABLED, VersioningConfig

    org = system.org
    admin = system.login(org.admin_login)
    files = upload_files(count)
    total = sum(len(d) for _, d, _ in files)
    s3 = Minio(system.s3["S3_ENDPOINT"], system.s3["S3_ACCESS_KEY"], system.s3["S3_SECRET_KEY"], secure=False)
    direct_bucket = system.bucket + "-direct"
    if not s3.bucket_exists(direct_bucket):
        s3.make_bucket(direct_bucket)
    # Versioned, as the documents bucket is: the same work for the S3 server on both paths.
    s3.set_bucket_versioning(direct_bucket, VersioningConfig(ENABLED))
    counter = iter(range(1, 10**9))
    lock = threading.Lock()

    def put(i: int, name: str, data: bytes, ctype: str) -> None:
        s3.put_object(direct_bucket, f"direct/{uuid.uuid4().hex}/{name}", io.BytesIO(data), len(data),
                      content_type=ctype)

    sessions = threading.local()  # one kept-alive connection per client, as a browser or the minio client keeps

    def upload(i: int, name: str, data: bytes, ctype: str) -> None:
        with lock:
            n = next(counter)
        if not hasattr(sessions, "http"):
            sessions.http = requests.Session()
        reply = sessions.http.post(
            system.url("/api/v1/documents"),
            headers=admin,
            data={
                "title": f"Thông báo kết luận của Ban Thường vụ Tỉnh ủy số {n}",
                "number": f"{n}-TB/TU",
                "category": "thong-bao-noi-bo",
                "issued_on": "2025-06-01",
                "issuing_body": "Tỉnh ủy Lạng Sơn",
                "audience_unit_id": org.root,
                "status": "published",
            },
            files={"file": (name, data, ctype)},
            timeout=120,
        )
        if reply.status_code != 201:
            raise SystemExit(f"upload failed: {reply.status_code} {reply.text[:500]}")

    log("warming up both paths")
    for i in range(3):
        upload(i, *files[i])
        put(i, *files[i])
    workers = ("relay", "indexer", "ocr")
    db = system.documents_db()
    result: dict[str, Any] = {
        "files": len(files),
        "bytes": total,
        "mean_file_kb": round(total / len(files) / 1024),
        "kinds": "3 plain-text files to 1 DOCX, 60,000-150,000 words each",
    }
    for scenario in ("request_path", "with_background_workers"):
        if scenario == "request_path":
            system.stop_workers(*workers)  # uploads only: the deferred work waits for the workers
        scenario_result: dict[str, Any] = {}
        for clients in (1, concurrent):
            rounds = []
            for r in range(rounds_per_setting):
                run: dict[str, Any] = {}
                for label, fn in (("direct_s3", put), ("gateway", upload), ("direct_s3_after", put)):
                    if scenario != "request_path":
                        _wait_drained(system, db)  # each run starts with the workers idle
                    log(f"upload ({scenario}, round {r + 1}): {label}, {clients} client(s), {len(files)} files")
                    before, cpu = system.step_seconds(), system.cpu_seconds()
                    run[label] = _throughput(files, fn, clients)
                    used = system.cpu_seconds()
                    run[label]["cpu_ms_per_file"] = {
                        k: round((v - cpu.get(k, 0.0)) / len(files) * 1000, 1)
                        for k, v in used.items()
                        if v - cpu.get(k, 0.0) > 0.0005 * len(files)
                    }
                    if label == "gateway":
                        run["service_steps"] = _steps(before, system.step_seconds())
                direct_mbs = (run["direct_s3"]["mb_per_s"] + run["direct_s3_after"]["mb_per_s"]) / 2
                run["ratio_gateway_to_direct"] = round(run["gateway"]["mb_per_s"] / direct_mbs, 3)
                rounds.append(run)
            ratios = sorted(run["ratio_gateway_to_direct"] for run in rounds)
            scenario_result[f"clients_{clients}"] = {
                "ratio_gateway_to_direct_median": ratios[len(ratios) // 2],
                "ratios": [run["ratio_gateway_to_direct"] for run in rounds],
                "rounds": rounds,
            }
        if scenario == "request_path":
            log("starting the workers: the texts deferred off the request path are extracted and indexed")
            uploads = rounds_per_setting * 2 * len(files)
            started = time.perf_counter()
            system.start_workers(*workers)
            _wait_drained(system, db)
            drained = time.perf_counter() - started
            scenario_result["deferred_work"] = {
                "what": "whole-text extraction (text worker) and indexing (relay, indexer) of the uploads above",
                "uploads": uploads,
                "seconds_to_drain": round(drained, 2),
                "seconds_per_upload": round(drained / uploads, 3),
            }
        result[scenario] = scenario_result
    db.dispose()
    result["ratio_gateway_to_direct"] = result["request_path"]["clients_1"]["ratio_gateway_to_direct_median"]
    result["target_ratio_min"] = 0.5
    return result


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.documents",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("mode", choices=["indexing", "search", "upload", "all"], help="what to measure (see above)")
    parser.add_argument("--docs", type=int, default=20_000, help="corpus size for indexing and search (20000)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent search connections (16)")
    parser.add_argument("--seconds", type=int, default=20, help="seconds per search load run (20)")
    parser.add_argument("--files", type=int, default=40, help="files per upload run (40)")
    parser.add_argument("--upload-clients", type=int, default=4, help="concurrent uploaders in the second run (4)")
    parser.add_argument("--keep-logs", action="store_true", help="copy the processes' logs to bench/results/logs")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sotay-bench-documents-") as tmp:
        system = System(Path(tmp))
        try:
            system.start_servers()
            if args.mode in ("indexing", "search", "all"):
                before = machine()
                result = bench_indexing(system, args.docs)
                result["machine_before"], result["machine_after"] = before, machine()
                if args.mode == "search":  # the corpus only: reported, not a result of its own
                    log(f"corpus indexed: {result['pipeline']['docs_per_s']} documents/s")
                else:
                    write_result("documents_indexing", result)
            else:
                system.start_workers("relay", "indexer")
            system.start_workers("ocr")
            if args.mode in ("search", "all"):
                before = machine()
                result = bench_search(system, args.docs, args.clients, args.seconds)
                result["machine_before"], result["machine_after"] = before, machine()
                write_result("documents_search", result)
            if args.mode in ("upload", "all"):
                before = machine()
                result = bench_upload(system, args.files, args.upload_clients)
                result["machine_before"], result["machine_after"] = before, machine()
                write_result("documents_upload", result)
        finally:
            system.stop()
            if args.keep_logs:
                target = ROOT / "bench" / "results" / "logs"
                target.mkdir(parents=True, exist_ok=True)
                for log_file in Path(tmp).glob("*.log"):
                    shutil.copy(log_file, target / log_file.name)
    log(f"done in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
