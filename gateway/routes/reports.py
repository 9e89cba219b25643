"""The committee's periodic review (sơ kết): figures per unit subtree and period, and the cells
exempt from the rollout. Each view is one reports RPC with the caller's token."""

from __future__ import annotations

from typing import Any

from flask import Response

from gateway import clients
from gateway.api import Routes
from gateway.clients import Backend
from gateway.convert import from_json, to_json
from gateway.schemas.common import PageQuery
from gateway.schemas.reports import ExemptionBody, Message, ReportQuery, ReviewQuery
from sotay.reports.v1 import reports_pb2 as pb
from sotay.reports.v1 import reports_pb2_grpc

routes = Routes("reports", "The committee's review: membership, adoption, meetings in three parts, documents, feedback")

REPORTS = Backend("reports", pb.DESCRIPTOR.services_by_name["ReportsService"])


def svc(*, long: bool = False) -> reports_pb2_grpc.ReportsServiceStub:
    return clients.stub(REPORTS, reports_pb2_grpc.ReportsServiceStub, long=long)


@routes.route("/reports/units/<unit_id>", "GET", query=ReportQuery, response=Message,
              summary="The review's figures for a unit's subtree and a period (month, quarter, year, dates)")
def get_report(unit_id: str, query: ReportQuery) -> dict[str, Any]:
    req = from_json(pb.GetReportRequest, {"unit_id": unit_id, **query.model_dump()})
    return to_json(svc().GetReport(req))


@routes.route("/reports/units/<unit_id>/xlsx", "GET", query=ReportQuery,
              produces=("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",),
              summary="The same figures as an XLSX workbook, one sheet per table")
def export_report(unit_id: str, query: ReportQuery) -> Response:
    req = from_json(pb.GetReportRequest, {"unit_id": unit_id, **query.model_dump()})
    return download(svc(long=True).ExportReport(pb.ExportReportRequest(report=req)))


@routes.route("/reports/units/<unit_id>/docx", "GET", query=ReviewQuery,
              produces=("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
              summary="The review report (sơ kết) as a DOCX document: heading block, sections, tables and charts")
def export_review(unit_id: str, query: ReviewQuery) -> Response:
    return download(svc(long=True).ExportReview(review_request(unit_id, query)))


def review_request(unit_id: str, query: ReviewQuery) -> pb.ExportReviewRequest:
    fields = query.model_dump()
    heading = {k: fields.pop(k) for k in ("committee", "number", "place")}
    return pb.ExportReviewRequest(report=from_json(pb.GetReportRequest, {"unit_id": unit_id, **fields}), **heading)


def download(reply: pb.ExportReportResponse | pb.ExportReviewResponse) -> Response:
    response = Response(reply.content, content_type=reply.content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{reply.filename}"'
    return response


@routes.route("/reports/units/<unit_id>/exemptions", "GET", query=PageQuery, response=Message,
              summary="Cells of the subtree exempt from the rollout, with their reasons")
def list_exemptions(unit_id: str, query: PageQuery) -> dict[str, Any]:
    req = from_json(pb.ListCellExemptionsRequest, {"unit_id": unit_id, **query.model_dump()})
    return to_json(svc().ListCellExemptions(req))


@routes.route("/reports/cells/<unit_id>/exemption", "PUT", body=ExemptionBody, response=Message,
              summary="Mark a cell exempt from the rollout (with a reason), or lift the mark")
def set_exemption(unit_id: str, body: ExemptionBody) -> dict[str, Any]:
    req = pb.SetCellExemptionRequest(unit_id=unit_id, exempt=body.exempt, reason=body.reason)
    return to_json(svc().SetCellExemption(req))


@routes.route("/reports/status", "GET", response=Message,
              summary="How far the reports have read each service's events")
def status() -> dict[str, Any]:
    return to_json(svc().GetStatus(pb.GetStatusRequest()))
