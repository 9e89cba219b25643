"""Benchmark of the reports service: the yearly review of a 240,000-member province and of a commune.

The reports' read models (their own tables, services/reports/migrations.py) are filled on
PostgreSQL by COPY with a province of 64 communes x 20 grassroots committees x 7-8 cells (9,600
cells) x 25 members, and a year of what the consumers store: day-level activity, two meetings a
cell a month (regular; thematic each quarter), documents and study marks, monthly province
bulletins and quarterly commune ones with their reads, tasks, feedback. Then it times what
GetReport and ExportReport compute (figures.build, the message, the XLSX, the DOCX) for the
province and for a commune, and as the baseline measured in the same run, one plain
`COUNT(*)` pass over the same tables (reading each row once, no grouping).

GetReport is timed twice: the full reply (every cell, every cell-month: what the API and the
XLSX use) and the web page's (omit_cell_months, 300 cells). The commune's DOCX is timed first on
its own and again after the province's runs, in the same process. Each figure is the median of
`--runs` runs; the roll-ups (unit_bulletin_reads, active_years, study_years) are filled from the
copied rows as migrations 3 and 4 fill them.

Usage: python -m bench.reports [--runs 3] [--reuse] [--database bench_reports]  (--reuse: the database of an
earlier run; a database of an older version gets its new roll-ups filled by the migrations)
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import io
import random
import statistics
import time
import uuid
from collections.abc import Iterator

from bench.common import fresh_postgres_database, postgres_base_url, write_result
from services.core.db import Database
from services.reports import figures, periods, review, workbook
from services.reports.consumers import ACTIVE_ROLLUP_REBUILD, READ_ROLLUP_REBUILD, STUDY_ROLLUP_REBUILD
from services.reports.migrations import MIGRATIONS
from services.reports.servicer import report_msg

COMMUNES, GRASSROOTS, MEMBERS_PER_CELL, YEAR = 64, 20, 25, 2025
TABLES = ("members", "member_activity", "meetings", "study_marks", "bulletin_reads", "tasks", "feedback")


def uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class Copier:
    """Rows to a table with COPY, in chunks (tab-separated text)."""

    def __init__(self, conn: object, table: str, columns: str) -> None:
        self.cursor = conn.cursor()  # type: ignore[attr-defined]
        self.sql = f"COPY {table} ({columns}) FROM STDIN"
        self.buf = io.StringIO()
        self.rows = 0

    def row(self, *values: object) -> None:
        self.buf.write("\t".join("\\N" if v is None else str(v) for v in values))
        self.buf.write("\n")
        self.rows += 1
        if self.rows % 200_000 == 0:
            self.flush()

    def flush(self) -> None:
        data = self.buf.getvalue()
        if data:
            with self.cursor.copy(self.sql) as copy:
                copy.write(data)
        self.buf = io.StringIO()


def days_of_year() -> Iterator[dt.date]:
    d = dt.date(YEAR, 1, 1)
    while d.year == YEAR:
        yield d
        d += dt.timedelta(days=1)


def build(url: str) -> dict[str, object]:
    import psycopg

    rng = random.Random(15)
    db = Database(url)
    db.migrate("reports", MIGRATIONS)
    db.dispose()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    started = time.perf_counter()
    counts: dict[str, int] = {}
    with psycopg.connect(dsn) as conn:
        units = Copier(conn, "units", "id, parent_id, path, name, kind, active")
        root = uid(rng)
        units.row(root, None, f"/{root}/", "Đảng bộ tỉnh", "province", True)
        communes: list[str] = []
        cells: list[tuple[str, str]] = []  # (cell, commune)
        for c in range(COMMUNES):
            commune = uid(rng)
            communes.append(commune)
            units.row(commune, root, f"/{root}/{commune}/", f"Đảng bộ xã {c}", "commune", True)
            for g in range(GRASSROOTS):
                gr = uid(rng)
                units.row(gr, commune, f"/{root}/{commune}/{gr}/", f"Đảng bộ cơ sở {c}-{g}", "grassroots", True)
                for k in range(7 + g % 2):
                    cell = uid(rng)
                    cells.append((cell, commune))
                    units.row(cell, gr, f"/{root}/{commune}/{gr}/{cell}/", f"Chi bộ {c}-{g}-{k}", "cell", True)
        units.flush()
        members = Copier(conn, "members", "id, unit_id, status, gender, exempt, active, activated_on")
        activity = Copier(conn, "member_activity", "member_id, month, days")
        member_ids: list[tuple[str, str, str]] = []  # (member, cell, commune)
        for cell, commune in cells:
            for i in range(MEMBERS_PER_CELL):
                m = uid(rng)
                member_ids.append((m, cell, commune))
                activated = rng.random() < 0.95
                members.row(m, cell, "probationary" if i == 0 else "official", "female" if i % 2 else "male",
                            i == 24, True, f"{YEAR - 1}-{rng.randint(1, 12):02d}-10" if activated else None)
                if activated:
                    for month in range(1, 13):
                        if rng.random() < 0.8:
                            activity.row(m, f"{YEAR}-{month:02d}", rng.getrandbits(31) | 1)
        members.flush()
        activity.flush()
        meetings = Copier(conn, "meetings", "id, cell_unit_id, kind, month, day, part1, part2, part3, attended, "
                                            "expected, rating, updated_at")
        tasks = Copier(conn, "tasks", "id, cell_unit_id, due_on, status, done_on, updated_at")
        for cell, _commune in cells:
            full = rng.random() < 0.3
            for month in range(1, 13):
                kinds = ["regular", *(["thematic"] if month % 3 == 0 else [])]
                for kind in kinds:
                    day = f"{YEAR}-{month:02d}-{10 + len(kind) % 5:02d}"
                    meetings.row(uid(rng), cell, kind, f"{YEAR}-{month:02d}", day, full or rng.random() < 0.8, True,
                                 full or rng.random() < 0.6, rng.randint(18, 24), 24,
                                 rng.choice(["tot", "kha", ""]), 1.0)
                due = f"{YEAR}-{month:02d}-28"
                status = rng.choice(["done", "done", "done", "open", "cancelled"])
                done = f"{YEAR}-{month:02d}-{rng.randint(20, 28)}" if status == "done" else None
                tasks.row(uid(rng), cell, due, status, done, 1.0)
        meetings.flush()
        tasks.flush()
        documents = Copier(conn, "documents", "id, publisher_unit_id, category, doc_type, day")
        docs: list[str] = []
        categories = ["nghi_quyet", "chi_thi", "thong_bao", "huong_dan", "ket_luan"]
        for n in range(2000):
            d = uid(rng)
            docs.append(d)
            publisher = root if n < 200 else communes[n % COMMUNES]
            documents.row(d, publisher, categories[n % 5], categories[n % 5], f"{YEAR}-{n % 12 + 1:02d}-05")
        documents.flush()
        marks = Copier(conn, "study_marks", "document_id, member_id, day")
        for m, _cell, _commune in member_ids:
            for d in rng.sample(docs[:200], 5):
                marks.row(d, m, f"{YEAR}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
        marks.flush()
        bulletins = Copier(conn, "bulletins", "id, publisher_unit_id, kind, day, withdrawn")
        audience = Copier(conn, "bulletin_audience", "bulletin_id, unit_id")
        reads = Copier(conn, "bulletin_reads", "bulletin_id, member_id")
        province_bulletins = []
        for month in range(1, 13):
            b = uid(rng)
            province_bulletins.append(b)
            bulletins.row(b, root, "bulletin", f"{YEAR}-{month:02d}-01", False)
            audience.row(b, root)
        commune_bulletins: dict[str, list[str]] = {c: [] for c in communes}
        for commune in communes:
            for q in range(4):
                b = uid(rng)
                commune_bulletins[commune].append(b)
                bulletins.row(b, commune, "announcement", f"{YEAR}-{3 * q + 1:02d}-15", False)
                audience.row(b, commune)
        bulletins.flush()
        audience.flush()
        for m, _cell, commune in member_ids:
            for b in province_bulletins:
                if rng.random() < 0.7:
                    reads.row(b, m)
            for b in commune_bulletins[commune]:
                if rng.random() < 0.5:
                    reads.row(b, m)
        reads.flush()
        feedback = Copier(conn, "feedback", "id, unit_id, received_on, answered_on, answered_by_unit_id")
        for _ in range(5000):
            cell = rng.choice(cells)[0]
            answered = rng.random() < 0.7
            feedback.row(uid(rng), cell, f"{YEAR}-{rng.randint(1, 12):02d}-03",
                         f"{YEAR}-{rng.randint(1, 12):02d}-20" if answered else None, cell if answered else None)
        feedback.flush()
        # What the consumers keep as events arrive (migrations 3 and 4 fill them too).
        for rebuild in (READ_ROLLUP_REBUILD, ACTIVE_ROLLUP_REBUILD, STUDY_ROLLUP_REBUILD):
            conn.execute(rebuild)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        for table in TABLES:
            counts[table] = int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # type: ignore[index]
    counts["cells"] = len(cells)
    print(f"built in {time.perf_counter() - started:.1f}s: {counts}", flush=True)
    return {"root": root, "commune": communes[0], "counts": counts, "build_seconds": time.perf_counter() - started}


def existing(url: str) -> dict[str, object]:
    import sqlalchemy as sa

    db = Database(url)
    db.migrate("reports", MIGRATIONS)  # a database of an older version: its roll-ups filled
    with db.read() as conn:
        root = conn.execute(sa.text("SELECT id FROM units WHERE parent_id IS NULL")).scalar_one()
        commune = conn.execute(sa.text("SELECT id FROM units WHERE name = 'Đảng bộ xã 0'")).scalar_one()
        counts = {t: int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()) for t in TABLES}
        counts["cells"] = int(conn.execute(sa.text("SELECT COUNT(*) FROM units WHERE kind = 'cell'")).scalar_one())
    db.dispose()
    return {"root": root, "commune": commune, "counts": counts, "build_seconds": 0.0}


def timed(fn: object, runs: int) -> tuple[float, object]:
    samples, out = [], None
    for _ in range(runs):
        started = time.perf_counter()
        out = fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="time the database an earlier run built")
    parser.add_argument("--database", default="bench_reports", help="the database's name on the server")
    args = parser.parse_args()
    if args.reuse:
        url = postgres_base_url().rstrip("/").replace("postgresql://", "postgresql+psycopg://", 1) + "/" + args.database
        made = existing(url)
    else:
        url = fresh_postgres_database(args.database)
        made = build(url)
    db = Database(url)
    period = periods.parse(str(YEAR))

    def report(unit_id: str, with_cell_months: bool = True) -> figures.Report:
        with db.read() as conn:
            return figures.build(conn, figures.unit(conn, unit_id), period, with_cell_months=with_cell_months,
                                 db=db)

    def get_report(unit_id: str, page: bool = False) -> bytes:
        return bytes(report_msg(report(unit_id, not page), omit_cell_months=page, max_cells=300 if page else 0)
                     .SerializeToString())

    def baseline() -> None:
        with db.read() as conn:
            for table in TABLES:
                conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar()

    def commune_docx() -> bytes:
        return review.render(report(str(made["commune"]), False), review.Heading())

    # The commune's DOCX first on its own, then again after the province's runs (same process,
    # same pools): the two should agree.
    commune_docx_alone_s, _ = timed(commune_docx, args.runs)
    baseline_s, _ = timed(baseline, args.runs)
    province_s, province_bytes = timed(lambda: get_report(str(made["root"])), args.runs)
    commune_s, _ = timed(lambda: get_report(str(made["commune"])), args.runs)
    page_s, page_bytes = timed(lambda: get_report(str(made["root"]), page=True), args.runs)
    gc.collect()  # each step starts without the garbage of the one before
    docx_s, docx = timed(lambda: review.render(report(str(made["root"]), False),
                                               review.Heading("Tỉnh ủy", "1-BC/TU", "Hà Nội")), args.runs)
    commune_docx_s, _ = timed(commune_docx, args.runs)
    gc.collect()
    xlsx_s, xlsx = timed(lambda: workbook.render(report(str(made["root"]))), args.runs)  # ExportReport's work
    with db.read() as conn:
        rollup_rows = {t: int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").scalar_one())
                       for t in ("unit_bulletin_reads", "active_years", "study_years")}
    r = report(str(made["root"]), False)
    result = {
        "backend": "postgres",
        "province": {"cells": made["counts"]["cells"], "members": r.membership.members,  # type: ignore[index]
                     "rows": made["counts"], "rollup_rows": rollup_rows,
                     "build_seconds": round(float(made["build_seconds"]), 1)},  # type: ignore[arg-type]
        "runs": args.runs,
        "get_report_province_seconds": round(province_s, 3),
        "get_report_commune_seconds": round(commune_s, 3),
        "get_report_province_page_seconds": round(page_s, 3),
        "reply_bytes_province_page": len(page_bytes),  # type: ignore[arg-type]
        "export_xlsx_province_seconds": round(xlsx_s, 3),
        "export_docx_province_seconds": round(docx_s, 3),
        "export_docx_commune_seconds": round(commune_docx_s, 3),
        "export_docx_commune_alone_seconds": round(commune_docx_alone_s, 3),
        "reply_bytes_province": len(province_bytes),  # type: ignore[arg-type]
        "xlsx_bytes": len(xlsx), "docx_bytes": len(docx),  # type: ignore[arg-type]
        "baseline_count_scan_seconds": round(baseline_s, 3),
        "ratio_province_to_scan": round(province_s / baseline_s, 2),
        "ratio_commune_to_scan": round(commune_s / baseline_s, 2),
        "ratio_xlsx_province_to_scan": round(xlsx_s / baseline_s, 2),
        "targets": {"province_seconds": 10, "commune_seconds": 1},
        "figures": {"activated_percent": r.adoption.activated_percent, "active_percent": r.adoption.active_percent,
                    "meetings_held": r.meetings.meetings.held, "cells_all_three": r.meetings.cells_all_three,
                    "bulletin_read_percent": r.bulletins.read_percent, "tasks_on_time_percent": r.tasks.on_time_percent,
                    "study_percent": r.study_percent},
    }
    write_result("reports", result)


if __name__ == "__main__":
    main()
