"""The committee's review (sơ kết) pages: the figures of a unit's subtree for a period, with
server-rendered SVG charts (each with a title, a description and its numbers as a table), the
per-cell table, XLSX and DOCX downloads, and the cells exempt from the rollout (admins mark and
lift). The reports service decides who may see and change what."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Response, redirect, request, url_for
from markupsafe import Markup

from gateway.routes.reports import download, svc
from gateway.web import session
from gateway.web.base import TIMEZONE, bp, error_page, login_required, render
from gateway.web.i18n import _
from services.reports import charts
from sotay.reports.v1 import reports_pb2 as pb

PERIOD_RE = re.compile(r"\d{4}(-(0[1-9]|1[0-2]|Q[1-4]))?")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_CELL_ROWS = 300


def period_options(today: dt.date) -> list[tuple[str, str]]:
    """(value, label): this and last year, their quarters, the last 12 months."""
    found = []
    for y in (today.year, today.year - 1):
        found.append((str(y), _("Year %(y)s", y=y)))
        found += [(f"{y}-Q{q}", _("Quarter %(q)s/%(y)s", q=q, y=y)) for q in range(1, 5)]
    y, m = today.year, today.month
    for _i in range(12):
        found.append((f"{y}-{m:02d}", _("Month %(m)s/%(y)s", m=f"{m:02d}", y=y)))
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return found


def report_query() -> dict[str, str]:
    """The period asked for: a known form, else custom dates, else this year."""
    period = request.args.get("period", "")
    first, last = request.args.get("from_date", ""), request.args.get("to_date", "")
    if not period and DATE_RE.fullmatch(first) and DATE_RE.fullmatch(last):
        return {"period": "", "from_date": first, "to_date": last}
    if not PERIOD_RE.fullmatch(period):
        period = str(dt.datetime.now(TIMEZONE).year)
    return {"period": period, "from_date": "", "to_date": ""}


def report_request(unit_id: str, query: dict[str, str] | None = None) -> pb.GetReportRequest:
    q = query or report_query()
    return pb.GetReportRequest(unit_id=unit_id, period=q["period"], from_date=q["from_date"], to_date=q["to_date"])


def chart_views(r: pb.GetReportResponse) -> list[tuple[charts.Chart, Markup]]:
    s = r.meetings
    held = {m.month: (m.meetings.held, m.meetings.all_three) for m in r.months}
    found = charts.of_figures(charts.Figures(
        r.unit_name, r.period.label,
        (r.adoption.activated_percent, r.adoption.active_percent, s.meetings.attendance_percent, r.study_percent,
         r.bulletins.read_percent, r.tasks.on_time_percent),
        s.rollout_cells, s.rollout_exempt_cells,
        (s.cells_using, s.cells_part1, s.cells_part2, s.cells_part3, s.cells_all_three), held,
    ))
    return [(c, Markup(charts.svg(c))) for c in found]  # noqa: S704 - built from escaped text


@bp.route("/reports")
@login_required
def reports_home() -> Response:
    unit = session.current().unit_id
    if not unit:
        return error_page(403)
    return redirect(url_for("web.report", unit_id=unit), code=303)  # type: ignore[return-value]


@bp.route("/reports/units/<unit_id>")
@login_required
def report(unit_id: str) -> Response:
    query = report_query()
    req = report_request(unit_id, query)
    req.omit_cell_months, req.max_cells = True, MAX_CELL_ROWS
    r = svc().GetReport(req)
    exempt = svc().ListCellExemptions(pb.ListCellExemptionsRequest(unit_id=unit_id, page_size=100))
    today = dt.datetime.now(TIMEZONE).date()
    return render("report.html", r=r, query=query, options=period_options(today), charts=chart_views(r),
                  cells=r.cells, more_cells=max(0, r.meetings.cells - len(r.cells)),
                  exemptions=exempt.exemptions, done=request.args.get("done", ""))


@bp.route("/reports/units/<unit_id>/report.xlsx")
@login_required
def report_xlsx(unit_id: str) -> Response:
    req = report_request(unit_id)
    return download(svc(long=True).ExportReport(pb.ExportReportRequest(report=req)))


@bp.route("/reports/units/<unit_id>/report.docx")
@login_required
def report_docx(unit_id: str) -> Response:
    req = report_request(unit_id)
    heading = {k: request.args.get(k, "").strip()[:200] for k in ("committee", "number", "place")}
    return download(svc(long=True).ExportReview(pb.ExportReviewRequest(report=req, **heading)))


@bp.route("/reports/exemptions", methods=["POST"])
@login_required
def report_exemption() -> Response:
    cell_id = request.form.get("cell_id", "")[:100]
    exempt = request.form.get("exempt") == "1"
    reason = request.form.get("reason", "").strip()[:500]
    back = request.form.get("unit_id", "")[:100] or cell_id
    if not cell_id:
        return error_page(400, _("Please choose a cell."))
    if exempt and not reason:
        return error_page(400, _("Please say why the cell is exempt from the rollout."))
    svc().SetCellExemption(pb.SetCellExemptionRequest(unit_id=cell_id, exempt=exempt, reason=reason))
    keep: dict[str, Any] = {k: v for k, v in report_query().items() if v} if request.args else {}
    target = url_for("web.report", **{"unit_id": back, "done": "exempt" if exempt else "lifted", **keep})
    return redirect(target, code=303)  # type: ignore[return-value]
