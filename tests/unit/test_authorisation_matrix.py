"""The authorisation matrix: role x relation to the unit x action -> allowed or denied, over the
four services on real gRPC servers (each with its own database; SQLite and PostgreSQL).

The province has two communes, A (cells A1 and A2) and B (cell B1). The actors are the province
admin; the admin and the editor of commune A (members of the commune committee itself); the
secretary, a plain member and a probationary member of cell A1. Every action targets something
of one cell ("side"): A1 is the cell-level actors' own cell, A2 a sibling cell in commune A, B1 a
cell of the other commune. EXPECTED names, per action, the sides where each actor is allowed;
everywhere else the action must be refused (PERMISSION_DENIED, NOT_FOUND where a service hides
what the caller may not see, or a list without the item). Any other outcome is a failure. The
test prints the matrix size and denied/total.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.core.db import Database
from services.core.errors import error_info
from services.documents.app import MIGRATIONS as DOCUMENTS_MIGRATIONS
from services.documents.app import build as documents_build
from services.meetings.app import MIGRATIONS as MEETINGS_MIGRATIONS
from services.meetings.app import build as meetings_build
from services.notifications.app import MIGRATIONS as NOTIFICATIONS_MIGRATIONS
from services.notifications.app import build as notifications_build
from sotay.documents.v1 import documents_pb2 as dpb
from sotay.documents.v1 import documents_pb2_grpc
from sotay.identity.v1 import identity_pb2 as ipb
from sotay.meetings.v1 import meetings_pb2 as mpb
from sotay.meetings.v1 import meetings_pb2_grpc
from sotay.notifications.v1 import notifications_pb2 as npb
from sotay.notifications.v1 import notifications_pb2_grpc
from tests.support.identity import Identity, running_identity
from tests.support.service import running_service
from tests.unit.meetings.conftest import MARCH_EVENING, TEST_BALLOT_KEY, at

Auth = list[tuple[str, str]]
PASSWORD = "ma-tran-phan-quyen"
SIDES = ("A1", "A2", "B1")
ALL = set(SIDES)
ACTORS = ("province_admin", "commune_admin_a", "commune_editor_a", "secretary_a1", "member_a1", "probationary_a1")
RELATION = {  # how each actor stands to each side's cell, for the printed table
    "province_admin": {"A1": "above", "A2": "above", "B1": "above"},
    "commune_admin_a": {"A1": "own commune", "A2": "own commune", "B1": "other commune"},
    "commune_editor_a": {"A1": "own commune", "A2": "own commune", "B1": "other commune"},
    "secretary_a1": {"A1": "own cell", "A2": "sibling cell", "B1": "other commune"},
    "member_a1": {"A1": "own cell", "A2": "sibling cell", "B1": "other commune"},
    "probationary_a1": {"A1": "own cell", "A2": "sibling cell", "B1": "other commune"},
}
COMMUNE_A = {"A1", "A2"}
CELL_A1 = {"A1"}

# action -> actor -> sides where it is allowed (an actor not named is refused everywhere).
EXPECTED: dict[str, dict[str, set[str]]] = {
    # identity: the profile behind a member, account actions, creating members and officers
    "identity.read_profile": {"province_admin": ALL, "commune_admin_a": COMMUNE_A, "secretary_a1": CELL_A1},
    "identity.reset_password": {"province_admin": ALL, "commune_admin_a": COMMUNE_A},
    "identity.deactivate": {"province_admin": ALL, "commune_admin_a": COMMUNE_A},
    "identity.grant_role": {"province_admin": ALL, "commune_admin_a": COMMUNE_A},
    "identity.create_member": {"province_admin": ALL, "commune_admin_a": COMMUNE_A, "secretary_a1": CELL_A1},
    "identity.create_officer": {"province_admin": ALL, "commune_admin_a": COMMUNE_A},
    "identity.reset_officer_password": {"province_admin": ALL, "commune_admin_a": COMMUNE_A},
    "identity.reset_senior_password": {"province_admin": ALL},  # a cell member who is a province editor
    "identity.change_senior_position": {"province_admin": ALL},
    # documents: publishing for a cell, reading a document addressed to a cell
    "documents.upload": {
        "province_admin": ALL, "commune_admin_a": COMMUNE_A, "commune_editor_a": COMMUNE_A, "secretary_a1": CELL_A1,
    },
    "documents.read_addressed": {
        "province_admin": ALL, "commune_admin_a": COMMUNE_A, "commune_editor_a": COMMUNE_A,
        "secretary_a1": CELL_A1, "member_a1": CELL_A1, "probationary_a1": CELL_A1,
    },
    "documents.listed": {
        "province_admin": ALL, "commune_admin_a": COMMUNE_A, "commune_editor_a": COMMUNE_A,
        "secretary_a1": CELL_A1, "member_a1": CELL_A1, "probationary_a1": CELL_A1,
    },
    "documents.study_status": {
        "province_admin": ALL, "commune_admin_a": COMMUNE_A, "commune_editor_a": COMMUNE_A, "secretary_a1": CELL_A1,
    },
    # meetings: the secretary runs the cell's meeting; the committees above read; members vote
    "meetings.read": {
        "province_admin": ALL, "commune_admin_a": COMMUNE_A, "commune_editor_a": COMMUNE_A,
        "secretary_a1": CELL_A1, "member_a1": CELL_A1, "probationary_a1": CELL_A1,
    },
    "meetings.create": {"secretary_a1": CELL_A1},
    "meetings.list_attendance": {
        "province_admin": ALL, "commune_admin_a": COMMUNE_A, "commune_editor_a": COMMUNE_A,
        "secretary_a1": CELL_A1, "member_a1": CELL_A1, "probationary_a1": CELL_A1,
    },
    "meetings.add_own_opinion": {"secretary_a1": CELL_A1, "member_a1": CELL_A1, "probationary_a1": CELL_A1},
    "meetings.record_spoken_opinion": {"secretary_a1": CELL_A1},
    "meetings.compliance_report": {
        "province_admin": ALL, "commune_admin_a": COMMUNE_A, "commune_editor_a": COMMUNE_A, "secretary_a1": CELL_A1,
    },
    "meetings.list_named_votes": {
        "province_admin": ALL, "commune_admin_a": COMMUNE_A, "commune_editor_a": COMMUNE_A,
        "secretary_a1": CELL_A1, "member_a1": CELL_A1, "probationary_a1": CELL_A1,
    },
    "meetings.record_attendance": {"secretary_a1": CELL_A1},
    "meetings.record_attendance_sheet": {"secretary_a1": CELL_A1},
    # the side's document attached to a draft meeting of cell A1: only what A1 may read
    "meetings.attach_document": {"secretary_a1": CELL_A1},
    "meetings.vote": {"secretary_a1": CELL_A1, "member_a1": CELL_A1},
    "meetings.open_poll": {"secretary_a1": CELL_A1},
    # notifications: bulletins for a cell, a bulletin a commune addressed to one cell, feedback
    "notifications.publish_bulletin": {
        "province_admin": ALL, "commune_admin_a": COMMUNE_A, "commune_editor_a": COMMUNE_A,
    },
    "notifications.read_bulletin": {
        "province_admin": ALL, "commune_admin_a": COMMUNE_A, "commune_editor_a": COMMUNE_A,
        "secretary_a1": CELL_A1, "member_a1": CELL_A1, "probationary_a1": CELL_A1,
    },
    "notifications.edit_bulletin": {
        "province_admin": ALL, "commune_admin_a": COMMUNE_A, "commune_editor_a": COMMUNE_A,
    },
    "notifications.submit_feedback": {"secretary_a1": CELL_A1, "member_a1": CELL_A1, "probationary_a1": CELL_A1},
    "notifications.list_feedback": {"province_admin": ALL, "commune_admin_a": COMMUNE_A, "secretary_a1": CELL_A1},
    "notifications.read_stats": {
        "province_admin": ALL, "commune_admin_a": COMMUNE_A, "commune_editor_a": COMMUNE_A, "secretary_a1": CELL_A1,
    },
    "notifications.read_feedback": {"province_admin": ALL, "commune_admin_a": COMMUNE_A, "secretary_a1": CELL_A1},
    "notifications.answer_feedback": {"province_admin": ALL, "commune_admin_a": COMMUNE_A, "secretary_a1": CELL_A1},
}

NUMBERS = itertools.count(1)  # each document its own number: the register refuses a repeat


@dataclass
class Side:
    """What the actions of one cell target."""

    cell: str
    commune: str
    secretary: Auth
    voter: ipb.Member  # an official member (A1: the actor member_a1): minutes secretary, recorded present
    target: ipb.Member  # a plain member: profile read, password reset, role granted
    leaving: ipb.Member  # deactivated by the actions allowed to
    officer: ipb.Member  # the cell's deputy secretary: an officer's password
    senior: ipb.Member  # a member of the cell who is an editor of the whole province
    document: str = ""
    bulletin: str = ""
    feedback: str = ""
    meeting: str = ""
    poll: str = ""


@dataclass
class Stubs:
    identity: Identity
    documents: documents_pb2_grpc.DocumentsServiceStub
    meetings: meetings_pb2_grpc.MeetingsServiceStub
    notifications: notifications_pb2_grpc.NotificationsServiceStub
    root: Auth
    actors: dict[str, Auth] = field(default_factory=dict)
    sides: dict[str, Side] = field(default_factory=dict)
    draft_a1: str = ""  # a meeting of cell A1 not announced yet
    serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def key(self) -> str:
        return f"m{next(self.serial):05d}"


@pytest.fixture
def stubs(make_database: Callable[[], Database], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Stubs]:
    monkeypatch.setenv("MEETINGS_BALLOT_KEY", TEST_BALLOT_KEY)
    for key in ("S3_ENDPOINT", "ELASTICSEARCH_URL"):  # documents on the embedded backends
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOCUMENTS_FILES_DIR", str(tmp_path / "files"))
    monkeypatch.setenv("DOCUMENTS_SEARCH_DB", str(tmp_path / "search.db"))
    with (
        running_identity(make_database()) as identity,
        running_service("documents", documents_build, make_database(), DOCUMENTS_MIGRATIONS, identity, monkeypatch)
        as documents,
        running_service("meetings", meetings_build, make_database(), MEETINGS_MIGRATIONS, identity, monkeypatch)
        as meetings,
        running_service(
            "notifications", notifications_build, make_database(), NOTIFICATIONS_MIGRATIONS, identity, monkeypatch
        ) as notifications,
    ):
        s = Stubs(
            identity,
            documents_pb2_grpc.DocumentsServiceStub(documents),
            meetings_pb2_grpc.MeetingsServiceStub(meetings),
            notifications_pb2_grpc.NotificationsServiceStub(notifications),
            identity.admin(),
        )
        _province(s)
        yield s


def _province(s: Stubs) -> None:
    ids = s.identity.stub
    phones = (f"0916{n:06d}" for n in itertools.count(1))

    def unit(name: str, kind: int, parent: str) -> str:
        req = ipb.CreateUnitRequest(name=name, kind=kind, parent_id=parent)  # type: ignore[arg-type]
        return str(ids.CreateUnit(req, metadata=s.root).unit.id)

    def person(unit_id: str, name: str, login: bool = False, **fields: Any) -> ipb.Member:
        phone = next(phones)
        return ids.CreateMember(
            ipb.CreateMemberRequest(
                unit_id=unit_id, initial_password=PASSWORD if login else "",
                fields=ipb.MemberFields(full_name=name, phone=phone, party_card_number=f"MT{phone}", **fields),
            ),
            metadata=s.root,
        ).member

    def token(m: ipb.Member) -> Auth:
        return s.identity.token(m.phone, PASSWORD)

    communes = {"A": unit("Đảng ủy xã A", ipb.UNIT_KIND_COMMUNE, s.identity.root_id),
                "B": unit("Đảng ủy xã B", ipb.UNIT_KIND_COMMUNE, s.identity.root_id)}
    admin_a = person(communes["A"], "Chủ nhiệm UBKT xã A", login=True)
    editor_a = person(communes["A"], "Biên tập viên xã A", login=True)
    for m, role in ((admin_a, ipb.ROLE_ADMIN), (editor_a, ipb.ROLE_EDITOR)):
        ids.GrantRole(ipb.GrantRoleRequest(account_id=m.account_id, role=role, unit_id=communes["A"]), metadata=s.root)
    s.actors = {"province_admin": s.root, "commune_admin_a": token(admin_a), "commune_editor_a": token(editor_a)}

    probationary: ipb.Member | None = None
    for name in SIDES:
        commune = communes[name[0]]
        cell = unit(f"Chi bộ {name}", ipb.UNIT_KIND_CELL, commune)
        secretary = person(cell, f"Bí thư {name}", login=True, position=ipb.CELL_POSITION_SECRETARY)
        voter = person(cell, f"Đảng viên {name}", login=True)
        side = Side(
            cell, commune, token(secretary), voter,
            target=person(cell, f"Đảng viên được quản lý {name}"),
            leaving=person(cell, f"Đảng viên chuyển đi {name}"),
            officer=person(cell, f"Phó Bí thư {name}", position=ipb.CELL_POSITION_DEPUTY_SECRETARY),
            senior=person(cell, f"Biên tập viên tỉnh {name}"),
        )
        ids.GrantRole(ipb.GrantRoleRequest(account_id=side.senior.account_id, role=ipb.ROLE_EDITOR,
                                           unit_id=s.identity.root_id), metadata=s.root)
        if name == "A1":
            probationary = person(cell, "Đảng viên dự bị A1", login=True, status=ipb.MEMBER_STATUS_PROBATIONARY)
            s.actors.update(secretary_a1=side.secretary, member_a1=token(voter), probationary_a1=token(probationary))
        s.sides[name] = side

        # Addressed to the cell: a document it publishes, a bulletin of its commune, a member's feedback.
        side.document = _upload(s, s.root, cell).document.id
        side.bulletin = s.notifications.CreateBulletin(npb.CreateBulletinRequest(
            publisher_unit_id=commune, kind=npb.BULLETIN_KIND_BULLETIN, title=f"Thông báo cho chi bộ {name}",
            body_html="<p>Nội dung</p>", audience_unit_ids=[cell]), metadata=s.root).bulletin.id
        voter_auth = token(voter)
        writer = person(cell, f"Người kiến nghị {name}", login=True)  # no actor: feedback of another member
        side.feedback = s.notifications.SubmitFeedback(npb.SubmitFeedbackRequest(
            unit_id=cell, subject="Kiến nghị về đường thôn", body="Đề nghị chi bộ xem xét."),
            metadata=token(writer)).feedback.id

        # The cell's meeting, started, its voters present, a poll open.
        meet = s.meetings
        fields = mpb.MeetingFields(title="Sinh hoạt chi bộ tháng 3", starts_at=at(MARCH_EVENING),
                                   ends_at=at(MARCH_EVENING + 7200), place="Nhà văn hóa",
                                   mode=mpb.MEETING_MODE_HYBRID, agenda=[mpb.AgendaItem(title="Nghị quyết tháng")])
        side.meeting = meet.CreateMeeting(mpb.CreateMeetingRequest(
            cell_unit_id=cell, kind=mpb.MEETING_KIND_REGULAR, fields=fields), metadata=side.secretary).meeting.id
        meet.AttachDocument(mpb.AttachDocumentRequest(meeting_id=side.meeting, document_id=side.document),
                            metadata=side.secretary)
        meet.AnnounceMeeting(mpb.AnnounceMeetingRequest(meeting_id=side.meeting), metadata=side.secretary)
        meet.StartMeeting(mpb.StartMeetingRequest(meeting_id=side.meeting, minutes_secretary_member_id=voter.id),
                          metadata=side.secretary)
        present = [side.secretary, voter_auth]
        if probationary is not None and name == "A1":
            present.append(s.actors["probationary_a1"])
        for auth in present:
            meet.CheckIn(mpb.CheckInRequest(meeting_id=side.meeting, mode=mpb.ATTENDANCE_MODE_ONLINE,
                                            idempotency_key=s.key()), metadata=auth)
        if name == "A1":
            s.draft_a1 = meet.CreateMeeting(mpb.CreateMeetingRequest(
                cell_unit_id=cell, kind=mpb.MEETING_KIND_THEMATIC, fields=fields), metadata=side.secretary).meeting.id
        side.poll = meet.OpenPoll(mpb.OpenPollRequest(
            meeting_id=side.meeting, question="Thông qua nghị quyết tháng?", kind=mpb.POLL_KIND_QUESTION,
            ballot=mpb.BALLOT_TYPE_OPEN), metadata=side.secretary).poll.id


def _upload(s: Stubs, auth: Auth, unit_id: str) -> dpb.UploadDocumentResponse:
    header = dpb.UploadHeader(
        idempotency_key=uuid.uuid4().hex,
        metadata=dpb.DocumentMetadata(title="Nghị quyết chi bộ", number=f"{next(NUMBERS)}-NQ/CB",
                                      category="hoc-tap-nghi-quyet"),
        unit_id=unit_id, publish=True, filename="nghi-quyet.txt",
    )
    data = "Nghị quyết chi bộ".encode()
    requests = iter([dpb.UploadDocumentRequest(header=header), dpb.UploadDocumentRequest(chunk=data),
                     dpb.UploadDocumentRequest(end=dpb.UploadEnd(size=len(data)))])
    return s.documents.UploadDocument(requests, metadata=auth, timeout=30)


Action = Callable[[Stubs, Auth, Side], Any]


def _close_polls(s: Stubs) -> None:
    """Between voting and opening a poll: one poll at a time is open in a meeting."""
    for side in s.sides.values():
        s.meetings.ClosePoll(mpb.ClosePollRequest(poll_id=side.poll), metadata=side.secretary)


ACTIONS: dict[str, Action] = {
    "identity.read_profile": lambda s, a, t: s.identity.stub.GetMember(
        ipb.GetMemberRequest(id=t.target.id, purpose="kiểm tra"), metadata=a),
    "identity.reset_password": lambda s, a, t: s.identity.stub.ResetPassword(
        ipb.ResetPasswordRequest(account_id=t.target.account_id, new_password=f"pw-{s.key()}"), metadata=a),
    "identity.deactivate": lambda s, a, t: s.identity.stub.DeactivateMember(
        ipb.DeactivateMemberRequest(id=t.leaving.id, reason="chuyển sinh hoạt"), metadata=a),
    "identity.grant_role": lambda s, a, t: s.identity.stub.GrantRole(
        ipb.GrantRoleRequest(account_id=t.target.account_id, role=ipb.ROLE_EDITOR, unit_id=t.cell), metadata=a),
    "identity.create_member": lambda s, a, t: s.identity.stub.CreateMember(ipb.CreateMemberRequest(
        unit_id=t.cell, fields=ipb.MemberFields(full_name="Đảng viên mới", party_card_number=s.key())), metadata=a),
    "identity.create_officer": lambda s, a, t: s.identity.stub.CreateMember(ipb.CreateMemberRequest(
        unit_id=t.cell, fields=ipb.MemberFields(full_name="Chi ủy viên mới", party_card_number=s.key(),
                                                position=ipb.CELL_POSITION_COMMITTEE_MEMBER)), metadata=a),
    "identity.reset_officer_password": lambda s, a, t: s.identity.stub.ResetPassword(
        ipb.ResetPasswordRequest(account_id=t.officer.account_id, new_password=f"pw-{s.key()}"), metadata=a),
    "identity.reset_senior_password": lambda s, a, t: s.identity.stub.ResetPassword(
        ipb.ResetPasswordRequest(account_id=t.senior.account_id, new_password=f"pw-{s.key()}"), metadata=a),
    "identity.change_senior_position": lambda s, a, t: s.identity.stub.UpdateMember(ipb.UpdateMemberRequest(
        id=t.senior.id, fields=ipb.MemberFields(position=ipb.CELL_POSITION_COMMITTEE_MEMBER)), metadata=a),
    "documents.upload": lambda s, a, t: _upload(s, a, t.cell),
    "documents.read_addressed": lambda s, a, t: s.documents.GetDocument(
        dpb.GetDocumentRequest(id=t.document), metadata=a),
    "documents.listed": lambda s, a, t: _finds(t.document, [d.id for d in s.documents.ListDocuments(
        dpb.ListDocumentsRequest(unit_id=t.cell), metadata=a).documents]),
    "documents.study_status": lambda s, a, t: s.documents.ListStudyStatus(
        dpb.ListStudyStatusRequest(document_id=t.document, unit_id=t.cell), metadata=a),
    "meetings.read": lambda s, a, t: s.meetings.GetMeeting(mpb.GetMeetingRequest(meeting_id=t.meeting), metadata=a),
    "meetings.create": lambda s, a, t: s.meetings.CreateMeeting(mpb.CreateMeetingRequest(
        cell_unit_id=t.cell, kind=mpb.MEETING_KIND_THEMATIC, fields=mpb.MeetingFields(
            title="Chuyên đề quý", starts_at=at(MARCH_EVENING + 86400), ends_at=at(MARCH_EVENING + 93600))),
        metadata=a),
    "meetings.list_named_votes": lambda s, a, t: s.meetings.ListPollVotes(
        mpb.ListPollVotesRequest(poll_id=t.poll), metadata=a),
    "meetings.list_attendance": lambda s, a, t: s.meetings.ListAttendance(
        mpb.ListAttendanceRequest(meeting_id=t.meeting), metadata=a),
    "meetings.add_own_opinion": lambda s, a, t: s.meetings.AddOpinion(mpb.AddOpinionRequest(
        meeting_id=t.meeting, text="Tôi đồng ý với dự thảo.", idempotency_key=s.key()), metadata=a),
    "meetings.record_spoken_opinion": lambda s, a, t: s.meetings.AddOpinion(mpb.AddOpinionRequest(
        meeting_id=t.meeting, text="Đồng chí phát biểu tại phòng họp.", speaker_member_id=t.voter.id,
        idempotency_key=s.key()), metadata=a),
    "meetings.compliance_report": lambda s, a, t: s.meetings.GetComplianceReport(
        mpb.GetComplianceReportRequest(unit_id=t.cell, month="2026-03"), metadata=a),
    "meetings.attach_document": lambda s, a, t: s.meetings.AttachDocument(
        mpb.AttachDocumentRequest(meeting_id=s.draft_a1, document_id=t.document), metadata=a),
    "meetings.record_attendance": lambda s, a, t: s.meetings.RecordAttendance(mpb.RecordAttendanceRequest(
        meeting_id=t.meeting, member_id=t.voter.id, attendance=mpb.ATTENDANCE_STATUS_PRESENT,
        mode=mpb.ATTENDANCE_MODE_IN_PERSON), metadata=a),
    "meetings.record_attendance_sheet": lambda s, a, t: s.meetings.RecordAttendanceBulk(
        mpb.RecordAttendanceBulkRequest(meeting_id=t.meeting, marks=[mpb.AttendanceMark(
            member_id=t.voter.id, attendance=mpb.ATTENDANCE_STATUS_PRESENT)], idempotency_key=s.key()), metadata=a),
    "meetings.vote": lambda s, a, t: s.meetings.CastVote(mpb.CastVoteRequest(
        poll_id=t.poll, choice=mpb.VOTE_CHOICE_APPROVE, idempotency_key=s.key()), metadata=a),
    "meetings.open_poll": lambda s, a, t: s.meetings.OpenPoll(mpb.OpenPollRequest(
        meeting_id=t.meeting, question="Câu hỏi mới?", kind=mpb.POLL_KIND_QUESTION, ballot=mpb.BALLOT_TYPE_OPEN),
        metadata=a),
    "notifications.publish_bulletin": lambda s, a, t: s.notifications.CreateBulletin(npb.CreateBulletinRequest(
        publisher_unit_id=t.cell, kind=npb.BULLETIN_KIND_ANNOUNCEMENT, title="Thông báo họp",
        body_html="<p>Họp chi bộ</p>"), metadata=a),
    "notifications.read_bulletin": lambda s, a, t: s.notifications.GetBulletin(
        npb.GetBulletinRequest(id=t.bulletin), metadata=a),
    "notifications.edit_bulletin": lambda s, a, t: s.notifications.UpdateBulletin(
        npb.UpdateBulletinRequest(id=t.bulletin, title=f"Thông báo {s.key()}"), metadata=a),
    "notifications.submit_feedback": lambda s, a, t: s.notifications.SubmitFeedback(npb.SubmitFeedbackRequest(
        unit_id=t.cell, subject="Kiến nghị", body="Nội dung kiến nghị.", idempotency_key=s.key()), metadata=a),
    "notifications.list_feedback": lambda s, a, t: _finds(t.feedback, [f.id for f in s.notifications.ListFeedback(
        npb.ListFeedbackRequest(unit_id=t.cell), metadata=a).items]),
    "notifications.read_stats": lambda s, a, t: s.notifications.GetBulletinReadStats(
        npb.GetBulletinReadStatsRequest(bulletin_id=t.bulletin), metadata=a),
    "notifications.read_feedback": lambda s, a, t: s.notifications.GetFeedback(
        npb.GetFeedbackRequest(id=t.feedback), metadata=a),
    "notifications.answer_feedback": lambda s, a, t: s.notifications.AnswerFeedback(npb.AnswerFeedbackRequest(
        id=t.feedback, answer="Chi bộ đã ghi nhận.", idempotency_key=s.key()), metadata=a),
}
class Hidden(Exception):
    """A list answered without the item: for a list, what a refusal is."""


def _finds(wanted: str, listed: list[str]) -> None:
    if wanted not in listed:
        raise Hidden(wanted)


BEFORE = {"meetings.open_poll": _close_polls}
REFUSALS = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND)


def outcome(action: Action, s: Stubs, auth: Auth, side: Side) -> str:
    try:
        action(s, auth, side)
    except grpc.RpcError as exc:
        code = exc.code()  # type: ignore[attr-defined]
        if code in REFUSALS:
            return "denied"
        return f"{code.name} {error_info(exc)[0]}: {exc.details()}"  # type: ignore[attr-defined]
    except Hidden:
        return "denied"
    return "allowed"


def test_authorisation_matrix(stubs: Stubs, capsys: pytest.CaptureFixture[str]) -> None:
    assert set(ACTIONS) == set(EXPECTED)
    got: dict[tuple[str, str, str], str] = {}
    for action, call in ACTIONS.items():
        if action in BEFORE:
            BEFORE[action](stubs)
        for actor, side in itertools.product(ACTORS, SIDES):
            got[(actor, side, action)] = outcome(call, stubs, stubs.actors[actor], stubs.sides[side])

    wrong = [
        f"{actor:17} {RELATION[actor][side]:14} ({side}) {action:32} expected "
        f"{'allowed' if side in EXPECTED[action].get(actor, set()) else 'denied'}, got {result}"
        for (actor, side, action), result in got.items()
        if result != ("allowed" if side in EXPECTED[action].get(actor, set()) else "denied")
    ]
    denied = sum(1 for r in got.values() if r == "denied")
    per_service = {
        service: (sum(1 for (_, _, a), r in got.items() if a.startswith(service) and r == "denied"),
                  sum(1 for (_, _, a) in got if a.startswith(service)))
        for service in ("identity", "documents", "meetings", "notifications")
    }
    with capsys.disabled():
        print(f"\nauthorisation matrix: {len(ACTORS)} roles x {len(SIDES)} units x {len(ACTIONS)} actions "
              f"(4 services) = {len(got)} cells; denied {denied}/{len(got)}, allowed {len(got) - denied}; "
              + ", ".join(f"{name} {d}/{n}" for name, (d, n) in per_service.items()))
    assert len(got) == len(ACTORS) * len(SIDES) * len(ACTIONS)
    assert not wrong, "\n".join(wrong)
