"""protobuf <-> JSON, and the response models matching what the converters produce."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from pydantic import BaseModel

from gateway.convert import ConversionError, enum_from_json, enum_names, enum_prefix, from_json, to_json
from gateway.routes.auth import me_json
from gateway.routes.documents import document_json, document_list_json, search_json, uploaded_json
from gateway.routes.identity import audit_event_json, member_fields
from gateway.schemas import auth as auth_models
from gateway.schemas import documents as doc_models
from gateway.schemas import identity as models
from sotay.documents.v1 import documents_pb2 as dpb
from sotay.identity.v1 import identity_pb2 as pb


def test_enum_names_come_from_the_descriptor() -> None:
    assert enum_prefix(pb.UnitKind.DESCRIPTOR) == "UNIT_KIND_"
    assert enum_names(pb.UnitKind.DESCRIPTOR) == [
        "province", "commune", "direct_committee", "grassroots", "cell"
    ]
    assert enum_names(pb.Role.DESCRIPTOR) == [
        "member", "cell_secretary", "cell_deputy", "cell_committee", "editor", "admin"
    ]
    assert enum_from_json(pb.MemberStatus.DESCRIPTOR, "official") == pb.MEMBER_STATUS_OFFICIAL
    assert enum_from_json(pb.CellPosition.DESCRIPTOR, "secretary") == pb.CELL_POSITION_SECRETARY
    with pytest.raises(ConversionError):
        enum_from_json(pb.UnitKind.DESCRIPTOR, "unspecified")
    with pytest.raises(ConversionError):
        enum_from_json(pb.UnitKind.DESCRIPTOR, "district")


def test_to_json_conventions() -> None:
    unit = pb.Unit(id="u1", name="Chi bộ 1", kind=pb.UNIT_KIND_CELL, ancestor_ids=["r", "p"], depth=2)
    unit.created_at.FromDatetime(dt.datetime(2025, 7, 1, 8, 30, tzinfo=dt.UTC))
    out = to_json(unit)
    assert out["kind"] == "cell"
    assert out["created_at"] == "2025-07-01T08:30:00Z"
    assert out["ancestor_ids"] == ["r", "p"]
    assert out["parent_id"] == ""  # zero values are present
    assert out["active"] is False
    empty = to_json(pb.Unit())
    assert empty["kind"] is None
    assert empty["created_at"] is None
    assert to_json(pb.GetMeResponse(account_id="a"))["member"] is None


def test_to_json_nested_lists_maps_and_newer_enum_values() -> None:
    from sotay.meetings.v1 import meetings_pb2 as mpb

    meeting = mpb.Meeting(id="m1", agenda=[mpb.AgendaItem(title="Một"), mpb.AgendaItem(title="Hai")],
                          session_meeting_ids=["m1", "m2"])
    meeting.kind = 999  # a value added to the contract after this gateway was built
    out = to_json(meeting)
    assert [item["title"] for item in out["agenda"]] == ["Một", "Hai"]
    assert out["session_meeting_ids"] == ["m1", "m2"] and isinstance(out["session_meeting_ids"], list)
    assert out["kind"] is None and out["starts_at"] is None
    ratings = to_json(mpb.GetEvaluationResponse(member_ratings={"tot": 3, "kha": 1}))
    assert ratings["member_ratings"] == {"tot": 3, "kha": 1}
    assert ratings["rubric"] is None


def test_from_json() -> None:
    req = from_json(pb.CreateUnitRequest, {"name": "X", "kind": "grassroots", "parent_id": "p", "code": None})
    assert req.kind == pb.UNIT_KIND_GRASSROOTS
    assert req.code == ""
    fields = from_json(pb.MemberFields, {"birth_date": dt.date(1990, 2, 3), "gender": "female"})
    assert fields.birth_date == "1990-02-03"
    assert fields.gender == pb.GENDER_FEMALE


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"page_size": 2**40}, "page_size"),
        ({"kind": "district"}, "kind"),
        ({"kind": 3}, "kind"),
        ({"nope": 1}, "nope"),
        ({"subtree": "yes"}, "subtree"),
    ],
)
def test_from_json_errors_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ConversionError) as caught:
        from_json(pb.ListUnitsRequest, data)
    assert caught.value.field == field


def test_member_fields_set_exempt_only_when_given() -> None:
    assert not member_fields(models.MemberFieldsBody(full_name="A")).set_exempt
    given = member_fields(models.MemberFieldsBody(exempt=False))
    assert given.set_exempt and not given.exempt


# ---------- every response model matches the converter output ----------


def _fill(message: Message, depth: int = 0) -> Message:
    """Set every field of a message to a non-zero value (recursively)."""
    field: Any
    for field in message.DESCRIPTOR.fields:
        name = field.name
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.full_name == "google.protobuf.Timestamp":
                target = getattr(message, name).add() if field.is_repeated else getattr(message, name)
                target.FromDatetime(dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
            elif depth < 3:
                target = getattr(message, name).add() if field.is_repeated else getattr(message, name)
                _fill(target, depth + 1)
        elif field.type == FieldDescriptor.TYPE_ENUM:
            value = field.enum_type.values[-1].number
            if field.is_repeated:
                getattr(message, name).append(value)
            else:
                setattr(message, name, value)
        else:
            sample = {
                FieldDescriptor.TYPE_STRING: "2025-01-02",
                FieldDescriptor.TYPE_BOOL: True,
                FieldDescriptor.TYPE_BYTES: b"x",
            }.get(field.type, 7)
            if name == "details_json":
                sample = '{"role": "admin"}'
            if field.is_repeated:
                getattr(message, name).append(sample)
            else:
                setattr(message, name, sample)
    return message


CASES: list[tuple[type[Message], type[BaseModel], Any]] = [
    (pb.Unit, models.Unit, to_json),
    (pb.Member, models.Member, to_json),
    (pb.MemberTransfer, models.MemberTransfer, to_json),
    (pb.RoleGrant, models.RoleGrant, to_json),
    (pb.MoveUnitResponse, models.MoveResult, to_json),
    (pb.ImportMembersResponse, models.ImportReport, to_json),
    (pb.GetMeResponse, models.Me, me_json),
    (pb.AuditEvent, models.AuditEvent, audit_event_json),
    (pb.LoginResponse, auth_models.Tokens, to_json),
    (pb.RefreshTokenResponse, auth_models.Tokens, to_json),
    (dpb.Document, doc_models.Document, document_json),
    (dpb.UploadDocumentResponse, doc_models.UploadedDocument, uploaded_json),
    (dpb.AddDocumentVersionResponse, doc_models.UploadedDocument, uploaded_json),
    (dpb.ListDocumentsResponse, doc_models.DocumentList, document_list_json),
    (dpb.ListDocumentVersionsResponse, doc_models.DocumentVersions, to_json),
    (dpb.SearchDocumentsResponse, doc_models.SearchResults, search_json),
    (dpb.CheckDocumentNumberResponse, doc_models.NumberCheck, to_json),
    (dpb.MarkStudiedResponse, doc_models.Studied, to_json),
    (dpb.ListStudyStatusResponse, doc_models.StudyStatus, to_json),
]


@pytest.mark.parametrize(("message", "model", "convert"), CASES, ids=[c[1].__name__ for c in CASES])
def test_response_models_match_the_converters(
    message: type[Message], model: type[BaseModel], convert: Any
) -> None:
    full = convert(_fill(message()))
    # An empty reply too (unset timestamps and enums are null), except where identity always
    # sets a sub-message (the moved unit).
    samples = [full] if message is pb.MoveUnitResponse else [full, convert(message())]
    for data in samples:
        parsed = model.model_validate(data)  # extra="forbid": no field of the output is undocumented
        assert set(parsed.model_fields_set) == set(data)  # no documented field is missing
    assert set(model.model_fields) == set(full)


def test_audit_details_are_an_object() -> None:
    event = audit_event_json(pb.AuditEvent(details_json='{"role": "admin"}'))
    assert event["details"] == {"role": "admin"}
    assert "details_json" not in event
    assert audit_event_json(pb.AuditEvent(details_json="not json"))["details"] == {"raw": "not json"}
    assert audit_event_json(pb.AuditEvent())["details"] == {}


def test_a_time_before_the_first_utc_day_is_a_conversion_error() -> None:
    from sotay.meetings.v1 import meetings_pb2

    year_one = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    with pytest.raises(ConversionError, match="started_at"):
        from_json(meetings_pb2.StartMeetingRequest, {"meeting_id": "m", "started_at": year_one})
