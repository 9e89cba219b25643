"""Benchmark (c) of the foundation: subtree and ancestor queries in a tree of 10,000 cells.

Builds province -> 65 communes -> 20 grassroots committees each -> 8 cells each (10,400 cells)
on PostgreSQL (and SQLite), then times through the identity gRPC API:
  - ListUnits(subtree) first page of a commune (≈ 180 units) and of the province (10k+),
  - ListAncestors of a cell, GetUnit of a cell (the baseline: a primary-key read).
Usage: python bench/tree_queries.py [--backend postgres|sqlite|both]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench.common import fresh_postgres_database, latency_summary, time_calls, write_result
from services.core.db import Database
from sotay.identity.v1 import identity_pb2 as pb
from tests.support.identity import running_identity

COMMUNES, GRASSROOTS, CELLS = 65, 20, 8


def build_tree(  # type: ignore[no-untyped-def]
    identity, auth=None, communes: int = COMMUNES, grassroots: int = GRASSROOTS, cells: int = CELLS
) -> tuple[str, list[str], list[str]]:
    """province -> communes -> grassroots committees -> cells, written straight into identity's
    database: (root id, commune ids, cell ids)."""
    from services.identity import units

    commune_ids, cell_ids = [], []
    started = time.perf_counter()
    with identity.db.write() as conn:
        for c in range(communes):
            commune = units.create(conn, f"Đảng ủy xã {c}", "commune", identity.root_id)
            commune_ids.append(commune.id)
            for g in range(grassroots):
                gr = units.create(conn, f"Đảng bộ cơ sở {c}-{g}", "grassroots", commune.id)
                for k in range(cells):
                    cell_ids.append(units.create(conn, f"Chi bộ {c}-{g}-{k}", "cell", gr.id).id)
    print(f"built {len(cell_ids)} cells in {time.perf_counter() - started:.1f}s")
    return identity.root_id, commune_ids, cell_ids


def run(backend: str, n: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_postgres_database("bench_tree") if backend == "postgres" else f"sqlite:///{Path(tmp) / 'id.db'}"
        db = Database(url)
        with running_identity(db) as identity:
            auth = identity.admin()
            root, communes, cells = build_tree(identity, auth)
            stub = identity.stub
            rng = random.Random(7)

            def subtree_commune() -> None:
                stub.ListUnits(pb.ListUnitsRequest(parent_id=rng.choice(communes), subtree=True, page_size=200),
                               metadata=auth)

            def subtree_province() -> None:
                stub.ListUnits(pb.ListUnitsRequest(parent_id=root, subtree=True, page_size=100), metadata=auth)

            def ancestors() -> None:
                stub.ListAncestors(pb.ListAncestorsRequest(id=rng.choice(cells)), metadata=auth)

            def get_unit() -> None:
                stub.GetUnit(pb.GetUnitRequest(id=rng.choice(cells)), metadata=auth)

            result = {
                "cells": len(cells),
                "baseline_get_unit": latency_summary(time_calls(get_unit, n)),
                "ancestors_of_cell": latency_summary(time_calls(ancestors, n)),
                "subtree_of_commune_page200": latency_summary(time_calls(subtree_commune, n)),
                "subtree_of_province_page100": latency_summary(time_calls(subtree_province, n // 4)),
            }
        db.dispose()
    base = result["baseline_get_unit"]["p99_ms"]  # type: ignore[index]
    for key in ("ancestors_of_cell", "subtree_of_commune_page200", "subtree_of_province_page100"):
        result[key]["ratio_p99_to_baseline"] = round(result[key]["p99_ms"] / base, 2)  # type: ignore[index]
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("-n", type=int, default=400)
    args = parser.parse_args()
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    write_result("tree_queries", {b: run(b, args.n) for b in backends})


if __name__ == "__main__":
    main()
