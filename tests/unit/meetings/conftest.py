"""Identity, documents (embedded files and search) and meetings on real gRPC servers, each with its
own database, on SQLite and PostgreSQL.

Members are created through identity's API; their access tokens are signed with identity's own
key (as Login would, without paying for argon2 on every test member).
"""

from __future__ import annotations

import base64
import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp

from services.core.auth import issue_access_token
from services.core.db import Database
from services.documents.app import MIGRATIONS as DOCUMENTS_MIGRATIONS
from services.documents.app import build as documents_build
from services.identity.accounts import principal_for
from services.identity.keys import KeyStore
from services.meetings.app import MIGRATIONS, build
from sotay.documents.v1 import documents_pb2 as dpb
from sotay.documents.v1 import documents_pb2_grpc
from sotay.identity.v1 import identity_pb2 as ipb
from sotay.meetings.v1 import meetings_pb2 as pb
from sotay.meetings.v1 import meetings_pb2_grpc
from tests.support.identity import Identity, running_identity
from tests.support.service import running_service

Auth = list[tuple[str, str]]
TEST_BALLOT_KEY = base64.b64encode(b"k" * 32).decode()

NUMBERS = itertools.count(1)  # each document its own number: the register refuses a repeat


@dataclass
class Person:
    member_id: str
    account_id: str
    name: str
    auth: Auth


@dataclass
class Cell:
    id: str
    name: str
    parent_id: str
    people: list[Person] = field(default_factory=list)

    @property
    def secretary(self) -> Person:
        return self.people[0]

    def by_name(self, name: str) -> Person:
        return next(p for p in self.people if p.name == name)


@dataclass
class World:
    identity: Identity
    stub: meetings_pb2_grpc.MeetingsServiceStub
    db: Database
    admin: Auth
    documents: documents_pb2_grpc.DocumentsServiceStub | None = None

    def document(self, title: str = "Dự thảo nghị quyết", unit_id: str = "", publish: bool = True) -> str:
        """A document published (or a draft) by the province admin to `unit_id`'s subtree (the root)."""
        assert self.documents is not None
        header = dpb.UploadHeader(
            idempotency_key=uuid.uuid4().hex,
            metadata=dpb.DocumentMetadata(title=title, number=f"{next(NUMBERS)}-NQ/TU", category="hoc-tap-nghi-quyet"),
            unit_id=unit_id or self.identity.root_id,
            publish=publish,
            filename="du-thao.txt",
        )
        data = title.encode()
        requests = iter([dpb.UploadDocumentRequest(header=header), dpb.UploadDocumentRequest(chunk=data),
                         dpb.UploadDocumentRequest(end=dpb.UploadEnd(size=len(data)))])
        return str(self.documents.UploadDocument(requests, metadata=self.admin).document.id)

    def token(self, member_id: str) -> Auth:
        keys = KeyStore(self.identity.db)
        kid, key = keys.signing_key()
        with self.identity.db.read() as conn:
            account = conn.execute(sa.text("SELECT * FROM accounts WHERE member_id = :m"), {"m": member_id}).one()
            principal = principal_for(conn, account)
        return [("authorization", f"Bearer {issue_access_token(key, kid, principal, 900)}")]

    def unit(self, name: str, kind: int, parent: str) -> str:
        req = ipb.CreateUnitRequest(name=name, kind=kind, parent_id=parent)
        return str(self.identity.stub.CreateUnit(req, metadata=self.admin).unit.id)

    def cell(self, name: str, parent: str, spec: list[tuple[str, str, bool]]) -> Cell:
        """spec: (name, 'official'|'probationary', exempt); the first one is the secretary."""
        cell = Cell(self.unit(name, ipb.UNIT_KIND_CELL, parent), name, parent)
        for i, (person, status, exempt) in enumerate(spec):
            fields = ipb.MemberFields(
                full_name=person,
                status=ipb.MEMBER_STATUS_PROBATIONARY if status == "probationary" else ipb.MEMBER_STATUS_OFFICIAL,
                set_exempt=True,
                exempt=exempt,
                exempt_reason="Tuổi cao" if exempt else "",
                position=ipb.CELL_POSITION_SECRETARY if i == 0 else ipb.CELL_POSITION_MEMBER,
            )
            m = self.identity.stub.CreateMember(
                ipb.CreateMemberRequest(unit_id=cell.id, fields=fields), metadata=self.admin
            ).member
            cell.people.append(Person(m.id, m.account_id, person, []))
        for p in cell.people:
            p.auth = self.token(p.member_id)
        return cell


@pytest.fixture
def world(
    make_database: Callable[[], Database], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[World]:
    monkeypatch.setenv("MEETINGS_BALLOT_KEY", TEST_BALLOT_KEY)
    for key in ("S3_ENDPOINT", "ELASTICSEARCH_URL"):  # documents on the embedded backends
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOCUMENTS_FILES_DIR", str(tmp_path / "files"))
    monkeypatch.setenv("DOCUMENTS_SEARCH_DB", str(tmp_path / "search.db"))
    identity_db, documents_db, meetings_db = make_database(), make_database(), make_database()
    with (
        running_identity(identity_db) as identity,
        running_service("documents", documents_build, documents_db, DOCUMENTS_MIGRATIONS, identity, monkeypatch)
        as documents,
        running_service("meetings", build, meetings_db, MIGRATIONS, identity, monkeypatch) as channel,
    ):
        yield World(
            identity, meetings_pb2_grpc.MeetingsServiceStub(channel), meetings_db, identity.admin(),
            documents_pb2_grpc.DocumentsServiceStub(documents),
        )


def at(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


# 2026-03-10 19:30 in Vietnam (UTC+7)
MARCH_EVENING = 1773145800.0
STANDARD = [
    ("Nguyễn Văn Bí", "official", False),  # secretary
    ("Trần Thị An", "official", False),
    ("Lê Văn Bình", "official", False),
    ("Phạm Thị Cúc", "official", False),
    ("Hoàng Văn Dũng", "official", False),
    ("Vi Thị Giang", "official", False),
    ("Đặng Văn Hải", "official", False),
    ("Lương Thị Dự Bị", "probationary", False),
    ("Nông Văn Miễn", "official", True),  # exempt
    ("Hà Thị Chuyển", "official", False),
]


def expect_error(code: grpc.StatusCode, reason: str, call, *args, **kwargs) -> grpc.RpcError:  # type: ignore[no-untyped-def]
    from services.core.errors import error_info

    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    assert caught.value.code() == code, caught.value.details()
    assert error_info(caught.value)[0] == reason, error_info(caught.value)
    return caught.value


def new_meeting(
    w: World,
    cell: Cell,
    kind: int = pb.MEETING_KIND_REGULAR,
    follows: str = "",
    title: str = "Sinh hoạt chi bộ tháng 3",
    starts: float = MARCH_EVENING,
) -> pb.Meeting:
    fields = pb.MeetingFields(
        title=title,
        starts_at=at(starts),
        ends_at=at(starts + 2 * 3600),
        place="Nhà văn hóa khối 1",
        mode=pb.MEETING_MODE_HYBRID,
        agenda=[pb.AgendaItem(title="Đánh giá tình hình tháng"), pb.AgendaItem(title="Phương hướng tháng tới")],
    )
    return w.stub.CreateMeeting(
        pb.CreateMeetingRequest(cell_unit_id=cell.id, kind=kind, fields=fields, follows_meeting_id=follows),
        metadata=cell.secretary.auth,
    ).meeting


def started(w: World, cell: Cell, present: list[str] | None = None, **kwargs) -> pb.Meeting:  # type: ignore[no-untyped-def]
    """A meeting announced (with a document) and started; `present` names check in (default all)."""
    m = new_meeting(w, cell, **kwargs)
    sec = cell.secretary.auth
    w.stub.AttachDocument(pb.AttachDocumentRequest(meeting_id=m.id, document_id=w.document()), metadata=sec)
    w.stub.AnnounceMeeting(pb.AnnounceMeetingRequest(meeting_id=m.id), metadata=sec)
    m = w.stub.StartMeeting(
        pb.StartMeetingRequest(meeting_id=m.id, minutes_secretary_member_id=cell.people[1].member_id), metadata=sec
    ).meeting
    names = [p.name for p in cell.people] if present is None else present
    for p in cell.people:
        if p.name in names:
            w.stub.CheckIn(
                pb.CheckInRequest(meeting_id=m.id, mode=pb.ATTENDANCE_MODE_ONLINE, idempotency_key=f"ci-{p.member_id}"),
                metadata=p.auth,
            )
    return m


def vote(w: World, poll_id: str, who: Person, choice: int, key: str = "") -> pb.CastVoteResponse:
    return w.stub.CastVote(
        pb.CastVoteRequest(poll_id=poll_id, choice=choice, idempotency_key=key or f"v-{poll_id}-{who.member_id}"),
        metadata=who.auth,
    )


def now() -> float:
    return time.time()
