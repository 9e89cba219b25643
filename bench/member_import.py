"""Benchmark (b) of the foundation: importing 240,000 members (a large province) into PostgreSQL.

Generates a CSV in the national-export layout for 10,400 cells, then in a child process (so its
peak memory is measured alone) runs the importer as `sotay import-members` does. The baseline,
measured in the same run, is PostgreSQL's own COPY of the same file into a bare table: the floor
for moving those bytes into that server. Targets: < 10 min, < 1 GB.
Usage: python -m bench.member_import [--rows 240000]
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.common import fresh_postgres_database, write_result
from services.core.db import Database
from services.identity import units
from services.identity.accounts import create_admin
from services.identity.migrations import MIGRATIONS
from services.identity.seed import ETHNICITIES, GIVEN, MIDDLE, SURNAMES

COMMUNES, GRASSROOTS, CELLS = 65, 20, 8
HEADER = ["so_the_dang_vien", "ho_ten", "ma_don_vi", "gioi_tinh", "ngay_sinh", "dan_toc", "so_dien_thoai",
          "ngay_vao_dang", "ngay_chinh_thuc", "loai_dang_vien", "mien_sinh_hoat", "ly_do_mien", "chuc_vu"]


def build_tree(db: Database) -> list[str]:
    db.migrate("identity", MIGRATIONS)
    _, root = create_admin(db, "bench-admin", "bench-password-2026")
    codes = []
    with db.write() as conn:
        for c in range(COMMUNES):
            commune = units.create(conn, f"Đảng ủy xã {c}", "commune", root, code=f"X{c:02d}")
            for g in range(GRASSROOTS):
                gr = units.create(conn, f"Đảng bộ {c}-{g}", "grassroots", commune.id, code=f"X{c:02d}G{g:02d}")
                for k in range(CELLS):
                    code = f"X{c:02d}G{g:02d}C{k}"
                    units.create(conn, f"Chi bộ {c}-{g}-{k}", "cell", gr.id, code=code)
                    codes.append(code)
    return codes


def write_csv(path: Path, rows: int, codes: list[str]) -> None:
    rng = random.Random(339)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for i in range(rows):
            position = ["Bí thư", "Phó Bí thư", "Chi ủy viên"][i % 25] if i % 25 < 3 else "Đảng viên"
            probationary = i % 25 in (22, 23)
            exempt = i % 25 == 24
            joined = f"{rng.randint(1975, 2023)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            out.writerow([
                f"TH{i:08d}", f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
                codes[(i // 25) % len(codes)], rng.choice(["Nam", "Nữ"]),
                f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1940, 2000)}",
                rng.choice(ETHNICITIES), f"09{i:08d}", joined, "" if probationary else joined,
                "Dự bị" if probationary else "Chính thức", "Có" if exempt else "Không",
                "Tuổi cao, sức yếu" if exempt else "", position,
            ])


def child(url: str, csv_path: str) -> None:
    from services.identity.importer import import_members

    db = Database(url)
    with db.read() as conn:
        root = conn.execute(sa.text("SELECT id FROM units WHERE parent_id IS NULL")).scalar_one()
    started = time.perf_counter()
    last = [0.0]

    def progress(done: int) -> None:
        if time.perf_counter() - last[0] > 10:
            last[0] = time.perf_counter()
            print(f"  {done} rows, {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)

    with open(csv_path, "rb") as stream:
        report = import_members(db, root, stream, "csv", actor="bench", progress=progress)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RESULT {elapsed:.3f} {peak_mb:.1f} {report.created} {report.rejected}")


def copy_baseline(url: str, csv_path: Path) -> float:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE copy_baseline (" + ", ".join(f"{c} TEXT" for c in HEADER) + ")")
        started = time.perf_counter()
        with conn.cursor().copy("COPY copy_baseline FROM STDIN WITH (FORMAT csv, HEADER true)") as copy, \
                csv_path.open("rb") as f:
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=240_000)
    parser.add_argument("--child", nargs=2, metavar=("URL", "CSV"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    url = fresh_postgres_database("bench_import")
    db = Database(url)
    codes = build_tree(db)
    db.dispose()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "members.csv"
        write_csv(csv_path, args.rows, codes)
        print(f"importing {args.rows} rows ({csv_path.stat().st_size / 1e6:.1f} MB) into PostgreSQL ...", flush=True)
        out = subprocess.run([sys.executable, "-m", "bench.member_import", "--child", url, str(csv_path)],
                             check=True, capture_output=True, text=True)
        elapsed, peak_mb, created, rejected = out.stdout.split("RESULT ")[1].split()
        baseline = copy_baseline(url, csv_path)
    write_result("member_import", {
        "rows": args.rows, "cells": len(codes), "backend": "postgresql",
        "import_seconds": float(elapsed), "rows_per_s": round(args.rows / float(elapsed)),
        "peak_rss_mb": float(peak_mb), "created": int(created), "rejected": int(rejected),
        "baseline_copy_seconds": round(baseline, 3),
        "ratio_to_copy": round(float(elapsed) / baseline, 1),
        "targets": {"seconds": 600, "peak_rss_mb": 1024},
    })


if __name__ == "__main__":
    main()
