"""Base models, proto enums as JSON strings, pages and the error body."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import core_schema

from gateway.convert import enum_names
from services.core import idempotency

T = TypeVar("T")

# Every integer a client sends ends in a protobuf int32 or int64 field: bounded here, so a value
# that does not fit is a 400 naming the field (tests/unit/gateway/test_bad_input.py checks that
# each one is), and the OpenAPI document says so.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MAX = 2**63 - 1
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
# services.core.idempotency's rule; empty: the request is not idempotent (the Idempotency-Key header
# may carry the key instead, checked by the service).
IdempotencyKey = Annotated[str, Field(
    max_length=idempotency.MAX_LENGTH, pattern=idempotency.PATTERN.replace("{1,", "{0,"),
    description="1-128 printable ASCII characters without spaces; a retry sends the same key, a request "
                "without one is not idempotent",
)]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
Int64Version = Annotated[int, Field(ge=0, le=INT64_MAX, json_schema_extra={"format": "int64"})]
PageToken = Annotated[str, Field(max_length=200, pattern=r"^[A-Za-z0-9_=-]*$",
                                 description="next_page_token of the previous page")]


class Body(BaseModel):
    """A JSON request body: strict JSON types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """A query string: values are strings converted to the field types, unknown names refused;
    a text is at most 200 characters unless its field says otherwise (the whole request line must
    fit gunicorn's limit_request_line)."""

    model_config = ConfigDict(extra="forbid", str_max_length=200)


class Form(BaseModel):
    """The non-file fields of a multipart form."""

    model_config = ConfigDict(extra="forbid")


class Reply(BaseModel):
    """A response body (documentation; the unit tests check that the converters produce it)."""

    model_config = ConfigDict(extra="forbid")


class ProtoEnum:
    """`Annotated[str, ProtoEnum(pb.UnitKind)]`: one of the enum's JSON names ("cell", ...)."""

    def __init__(self, enum: EnumTypeWrapper | EnumDescriptor) -> None:
        self.descriptor: EnumDescriptor = enum.DESCRIPTOR if isinstance(enum, EnumTypeWrapper) else enum

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.literal_schema(enum_names(self.descriptor))


class PageQuery(Query):
    page_size: int = Field(0, ge=0, le=1000, description="0: the service's default; capped by the service")
    page_token: PageToken = ""


class Page(Reply, Generic[T]):
    items: list[T]
    next_page_token: str = Field(description="empty on the last page")
    total_size: int | None = Field(description="all matches, when the service counts them")


class ItemList(Reply, Generic[T]):
    items: list[T]


class LocalizedMessage(BaseModel):
    locale: str = Field(description="vi (default) or en, from Accept-Language")
    message: str = Field(description="the error in words for people")


class ErrorDetail(BaseModel):
    code: int = Field(description="the HTTP status")
    status: str = Field(description="the gRPC status code name, e.g. NOT_FOUND")
    reason: str = Field(description="machine-readable reason, e.g. unit_not_found")
    message: str = Field(description="for developers, in English")
    localized_message: LocalizedMessage
    details: dict[str, Any]
    request_id: str


class ErrorBody(BaseModel):
    error: ErrorDetail
