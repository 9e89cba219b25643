"""The committee's review figures (the reports service). Queries are validated here; periods and
access are checked by the service."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas.common import Body, Query


class Message(BaseModel):
    """A reply of the reports service in its JSON form (see the gRPC contract for fields)."""

    model_config = ConfigDict(extra="allow")


class ReportQuery(Query):
    period: str = Field("", max_length=10, description="YYYY-MM, YYYY-Qn or YYYY; empty: give from_date and to_date")
    from_date: str = Field("", max_length=10, description="YYYY-MM-DD, inclusive")
    to_date: str = Field("", max_length=10, description="YYYY-MM-DD, inclusive")
    omit_cell_months: bool = Field(False, description="leave cell_months out (months has the totals)")
    max_cells: int = Field(0, ge=0, le=1_000_000, description="list at most this many cells (0: all)")


class ReviewQuery(ReportQuery):
    committee: str = Field("", max_length=200, description="the issuing committee (default: the unit's name)")
    number: str = Field("", max_length=200, description="the report's number, e.g. 45-BC/ĐU")
    place: str = Field("", max_length=200, description="the place in the date line")


class ExemptionBody(Body):
    exempt: bool
    reason: str = Field("", max_length=500, description="required when exempt")
