"""Who may see and change a meeting: only its cell and the committees above read it, nobody else;
an attached document must be one the cell can read. The wrong caller gets a status with a reason."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from sotay.identity.v1 import identity_pb2 as ipb
from sotay.meetings.v1 import meetings_pb2 as pb
from tests.unit.meetings.conftest import STANDARD, World, at, expect_error, new_meeting, started, vote

UNKNOWN = "00000000-0000-4000-8000-000000000000"
INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
DENIED, PRECONDITION = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION


@pytest.fixture
def two_cells(world: World):  # type: ignore[no-untyped-def]
    commune = world.unit("Đảng ủy xã A", ipb.UNIT_KIND_COMMUNE, world.identity.root_id)
    other_commune = world.unit("Đảng ủy xã B", ipb.UNIT_KIND_COMMUNE, world.identity.root_id)
    mine = world.cell("Chi bộ Của Tôi", commune, STANDARD[:3])
    theirs = world.cell("Chi bộ Khác", other_commune, STANDARD[3:6])
    return commune, other_commune, mine, theirs


def committee_admin(w: World, unit_id: str, home_cell_id: str) -> list[tuple[str, str]]:
    m = w.identity.stub.CreateMember(
        ipb.CreateMemberRequest(unit_id=home_cell_id, fields=ipb.MemberFields(full_name="Ủy viên thường vụ")),
        metadata=w.admin,
    ).member
    w.identity.stub.GrantRole(
        ipb.GrantRoleRequest(account_id=m.account_id, role=ipb.ROLE_ADMIN, unit_id=unit_id), metadata=w.admin
    )
    return w.token(m.id)


def test_only_the_cell_sees_committees_read_nobody_else(world: World, two_cells) -> None:  # type: ignore[no-untyped-def]
    w = world
    commune, other_commune, mine, theirs = two_cells
    m = started(w, mine)
    poll = w.stub.OpenPoll(pb.OpenPollRequest(meeting_id=m.id, question="q"), metadata=mine.secretary.auth).poll
    outsider = theirs.people[1].auth
    for call, request in (
        (w.stub.GetMeeting, pb.GetMeetingRequest(meeting_id=m.id)),
        (w.stub.GetLiveState, pb.GetLiveStateRequest(meeting_id=m.id)),
        (w.stub.ListMeetings, pb.ListMeetingsRequest(cell_unit_id=mine.id)),
        (w.stub.GetPoll, pb.GetPollRequest(poll_id=poll.id)),
    ):
        expect_error(DENIED, "not_allowed", call, request, metadata=outsider)
    expect_error(DENIED, "not_in_roster", w.stub.CheckIn, pb.CheckInRequest(meeting_id=m.id), metadata=outsider)
    expect_error(DENIED, "not_in_roster", vote, w, poll.id, theirs.people[1], pb.VOTE_CHOICE_APPROVE)
    # Another cell's secretary cannot run this one.
    expect_error(
        DENIED,
        "not_cell_officer",
        w.stub.ClosePoll,
        pb.ClosePollRequest(poll_id=poll.id),
        metadata=theirs.secretary.auth,
    )
    expect_error(
        DENIED,
        "not_cell_officer",
        w.stub.CreateMeeting,
        pb.CreateMeetingRequest(cell_unit_id=mine.id, kind=1, fields=pb.MeetingFields(title="x", starts_at=at(2e9))),
        metadata=theirs.secretary.auth,
    )
    # A plain member takes part but does not run the meeting.
    expect_error(
        DENIED,
        "not_cell_officer",
        w.stub.OpenPoll,
        pb.OpenPollRequest(meeting_id=m.id, question="q"),
        metadata=mine.people[1].auth,
    )
    expect_error(
        DENIED,
        "not_cell_officer",
        w.stub.AddOpinion,
        pb.AddOpinionRequest(meeting_id=m.id, text="x", speaker_member_id=mine.people[2].member_id),
        metadata=mine.people[1].auth,
    )
    # The commune committee above reads the record and statistics, but neither votes nor edits.
    reader = committee_admin(w, commune, theirs.id)
    assert w.stub.GetMeeting(pb.GetMeetingRequest(meeting_id=m.id), metadata=reader).meeting.id == m.id
    assert w.stub.ListAttendance(pb.ListAttendanceRequest(meeting_id=m.id), metadata=reader).totals.present == 3
    expect_error(DENIED, "not_in_roster", vote, w, poll.id, theirs.people[0], pb.VOTE_CHOICE_APPROVE)
    expect_error(
        DENIED,
        "not_in_roster",
        w.stub.CastVote,
        pb.CastVoteRequest(poll_id=poll.id, choice=pb.VOTE_CHOICE_APPROVE, idempotency_key="r"),
        metadata=reader,
    )
    # The province admin's account has no member: refused as in documents and notifications.
    expect_error(
        DENIED,
        "not_a_member",
        w.stub.CastVote,
        pb.CastVoteRequest(poll_id=poll.id, choice=pb.VOTE_CHOICE_APPROVE, idempotency_key="r"),
        metadata=w.admin,
    )
    expect_error(DENIED, "not_cell_officer", w.stub.ClosePoll, pb.ClosePollRequest(poll_id=poll.id), metadata=reader)
    expect_error(
        DENIED,
        "not_cell_officer",
        w.stub.UpdateMeeting,
        pb.UpdateMeetingRequest(
            meeting_id=m.id, fields=pb.MeetingFields(conclusion="x"), update_mask=FieldMask(paths=["conclusion"])
        ),
        metadata=reader,
    )
    # The other commune's committee sees nothing of it.
    stranger = committee_admin(w, other_commune, theirs.id)
    expect_error(DENIED, "not_allowed", w.stub.GetMeeting, pb.GetMeetingRequest(meeting_id=m.id), metadata=stranger)
    expect_error(
        DENIED,
        "not_allowed",
        w.stub.GetComplianceReport,
        pb.GetComplianceReportRequest(unit_id=commune, month="2026-03"),
        metadata=stranger,
    )


def test_an_attached_document_must_be_one_the_cell_can_read(world: World) -> None:
    w = world
    commune_a = w.unit("Đảng ủy xã A", ipb.UNIT_KIND_COMMUNE, w.identity.root_id)
    commune_b = w.unit("Đảng ủy xã B", ipb.UNIT_KIND_COMMUNE, w.identity.root_id)
    cell = w.cell("Chi bộ A1", commune_a, STANDARD[:3])
    m = new_meeting(w, cell)
    sec = cell.secretary.auth

    def attach(document_id: str, title: str = "") -> pb.Meeting:
        req = pb.AttachDocumentRequest(meeting_id=m.id, document_id=document_id, title=title)
        return w.stub.AttachDocument(req, metadata=sec).meeting

    expect_error(NOT_FOUND, "document_not_found", attach, UNKNOWN)
    expect_error(NOT_FOUND, "document_not_found", attach, "not-an-id")
    # Another commune's document: the secretary cannot see it, so it does not exist for them.
    expect_error(NOT_FOUND, "document_not_found", attach, w.document("Kế hoạch xã B", unit_id=commune_b))
    draft = w.document("Dự thảo chưa ban hành", unit_id=commune_a, publish=False)
    expect_error(NOT_FOUND, "document_not_found", attach, draft)  # a member sees no drafts
    # A secretary who is also the commune's editor sees its drafts and its other cells' documents.
    w.identity.stub.GrantRole(
        ipb.GrantRoleRequest(account_id=cell.secretary.account_id, role=ipb.ROLE_EDITOR, unit_id=commune_a),
        metadata=w.admin,
    )
    sec[:] = w.token(cell.secretary.member_id)
    expect_error(PRECONDITION, "document_not_published", attach, draft)
    other_cell = w.unit("Chi bộ A2", ipb.UNIT_KIND_CELL, commune_a)
    expect_error(PRECONDITION, "document_not_for_this_cell", attach, w.document("Của chi bộ A2", unit_id=other_cell))
    named = attach(w.document("Nghị quyết của xã A", unit_id=commune_a))
    assert [d.title for d in named.documents] == ["Nghị quyết của xã A"]  # its own title by default
    renamed = attach(w.document("Nghị quyết của Tỉnh ủy"), title="Tài liệu học tập")
    assert "Tài liệu học tập" in [d.title for d in renamed.documents]
