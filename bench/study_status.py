"""Who has studied a province resolution, at province scale: identity and documents on real gRPC
servers (SQLite files), a province of --communes (65) x --grassroots (20) x --cells (8) cells of
--members (23) members each (239,200), a resolution addressed to the province, 60% of the members'
study marks. Times, through ListStudyStatus as the province admin:

  - the province, per commune (over DOCUMENTS_STUDY_NAMES_MAX: CountMembers, the marks grouped by
    unit, the subtree's units), and the same report by name (the limit raised: the whole roster
    read from identity), whose totals must be the same;
  - a commune (3,680 members, by name) and a cell (by name);
  - baseline: GetDocument, a primary-key read through the same server.

    python -m bench.study_status [--communes 65] [-n 20]

Writes bench/results/study_status.json.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bench.common import latency_summary, machine, time_calls, write_result
from bench.tree_queries import build_tree
from services.core.db import Database
from services.documents.app import MIGRATIONS, build
from services.identity import members
from sotay.documents.v1 import documents_pb2 as pb
from sotay.documents.v1 import documents_pb2_grpc
from tests.support.documents import docx_bytes
from tests.support.identity import running_identity
from tests.support.service import running_service


def province(identity: Any, communes: int, grassroots: int, cells: int, size: int) -> tuple[list[str], list[str]]:
    """The tree and `size` members in each cell, straight into identity's database (no events to relay)."""
    _root, commune_ids, cell_ids = build_tree(identity, communes=communes, grassroots=grassroots, cells=cells)
    now = time.time()
    rows = [members.row_params(members.new_id(), cell, members.Profile(full_name=f"Đảng viên {n}-{i}",
                                                                       status="official"), now)
            for n, cell in enumerate(cell_ids) for i in range(size)]
    with identity.db.write() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(sa.text(members.INSERT_SQL), rows[start:start + 5000])
    return commune_ids, cell_ids


def marks(identity: Any, documents_db: Database, document_id: str, share: float) -> int:
    """Study marks of `share` of the members, in their cells."""
    rng = random.Random(7)
    with identity.db.read() as conn:
        everyone = conn.execute(sa.text("SELECT id, unit_id FROM members")).all()
    rows = [{"d": document_id, "m": m.id, "a": m.id, "u": m.unit_id, "t": time.time()}
            for m in everyone if rng.random() < share]
    with documents_db.write() as conn:
        conn.execute(sa.text("INSERT INTO study_marks (document_id, member_id, account_id, unit_id, studied_at) "
                             "VALUES (:d, :m, :a, :u, :t)"), rows)
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--communes", type=int, default=65)
    parser.add_argument("--grassroots", type=int, default=20)
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--members", type=int, default=23)
    parser.add_argument("-n", type=int, default=20, help="calls per measure (the by-name province: 3)")
    parser.add_argument("--names-max", type=int, default=0, help="DOCUMENTS_STUDY_NAMES_MAX (default: the service's)")
    args = parser.parse_args()
    before = machine()
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as env:
        env.setenv("DOCUMENTS_FILES_DIR", str(Path(tmp) / "files"))
        env.setenv("DOCUMENTS_SEARCH_DB", str(Path(tmp) / "search.db"))
        if args.names_max:
            env.setenv("DOCUMENTS_STUDY_NAMES_MAX", str(args.names_max))
        for key in ("S3_ENDPOINT", "ELASTICSEARCH_URL"):
            env.delenv(key, raising=False)
        identity_db, documents_db = (Database(f"sqlite:///{Path(tmp) / name}") for name in ("id.db", "doc.db"))
        with running_identity(identity_db) as identity, \
                running_service("documents", build, documents_db, MIGRATIONS, identity, env) as channel:
            started = time.perf_counter()
            communes, cells = province(identity, args.communes, args.grassroots, args.cells, args.members)
            built = time.perf_counter() - started
            stub, auth = documents_pb2_grpc.DocumentsServiceStub(channel), identity.admin()
            header = pb.UploadHeader(
                idempotency_key="bench-study", unit_id=identity.root_id, publish=True, filename="nq.docx",
                metadata=pb.DocumentMetadata(title="Nghị quyết về chuyển đổi số", number="9-NQ/TU",
                                             category="hoc-tap-nghi-quyet"))
            body = docx_bytes(["NGHỊ QUYẾT", "về chuyển đổi số trong sinh hoạt chi bộ"])
            doc = stub.UploadDocument(iter([
                pb.UploadDocumentRequest(header=header), pb.UploadDocumentRequest(chunk=body),
                pb.UploadDocumentRequest(end=pb.UploadEnd(size=len(body)))]), metadata=auth).document
            marked = marks(identity, documents_db, doc.id, 0.6)

            def status(unit_id: str) -> pb.ListStudyStatusResponse:
                return stub.ListStudyStatus(pb.ListStudyStatusRequest(document_id=doc.id, unit_id=unit_id,
                                                                      page_size=50), metadata=auth, timeout=600)

            per_child = status(identity.root_id)
            assert per_child.by_child_unit and len(per_child.units) == len(communes)
            rng = random.Random(3)
            result: dict[str, Any] = {
                "members": per_child.total_members, "cells": len(cells), "marks": marked,
                "built_seconds": round(built, 1),
                "baseline_get_document": latency_summary(time_calls(
                    lambda: stub.GetDocument(pb.GetDocumentRequest(id=doc.id), metadata=auth), args.n, 3)),
                "province_per_commune": latency_summary(time_calls(lambda: status(identity.root_id), args.n, 2)),
                "commune_by_name": latency_summary(time_calls(lambda: status(rng.choice(communes)), args.n, 2)),
                "cell_by_name": latency_summary(time_calls(lambda: status(rng.choice(cells)), args.n, 2)),
            }
            env.setenv("DOCUMENTS_STUDY_NAMES_MAX", str(10 * per_child.total_members))
            by_name = status(identity.root_id)
            assert not by_name.by_child_unit
            same = (by_name.total_members, by_name.total_studied) == (per_child.total_members,
                                                                      per_child.total_studied)
            assert same, (by_name.total_members, by_name.total_studied, per_child.total_members)
            result["province_by_name"] = latency_summary(time_calls(lambda: status(identity.root_id), 3, 0))
            result["totals_equal"] = same
            result["studied"] = per_child.total_studied
        identity_db.dispose()
        documents_db.dispose()
    base = result["baseline_get_document"]["p50_ms"]
    for key in ("province_per_commune", "commune_by_name", "cell_by_name", "province_by_name"):
        result[key]["ratio_p50_to_baseline"] = round(result[key]["p50_ms"] / base, 1)
    result["speedup_per_commune_over_by_name"] = round(
        result["province_by_name"]["p50_ms"] / result["province_per_commune"]["p50_ms"], 1)
    write_result("study_status", {"system": "identity + documents on gRPC, SQLite files", "machine_before": before,
                                  "machine_after": machine(), **result})


if __name__ == "__main__":
    main()
