"""The review's figures on a constructed province whose numbers are known by construction.

The seed report's town (Đồng Đăng): 13 cells, 320 members (310 official, 10 probationary; 155 men,
165 women), 304 activated, the police cell exempt from the rollout, 3 of the 12 others doing all
three parts. Units, members and account activity go through identity's own code and its real
event log over gRPC; meetings, documents and feedback events are fed to the consumers with the
payloads their producers emit (tests/unit/reports/test_producers.py checks those producers).
Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.days import CALENDAR
from services.core.db import Database
from services.core.outbox import Event, grpc_fetch, relay_once
from services.identity import activity, members, units
from services.identity.accounts import hash_password
from services.reports import consumers, figures, periods
from services.reports.app import MIGRATIONS, build
from sotay.reports.v1 import reports_pb2 as pb
from sotay.reports.v1 import reports_pb2_grpc
from tests.support.identity import Identity, running_identity
from tests.support.service import running_service

SECRETARY_CARD, SECRETARY_PASSWORD = "CB0000", "secretary-password-1"
CELL_NAMES = [
    "Chi bộ Mầm non", "Chi bộ Tiểu học", "Chi bộ THCS Đồng Đăng",
    *(f"Chi bộ khu phố {k}" for k in range(1, 8)),
    "Chi bộ Quân sự", "Chi bộ Ban Quản lý Chợ", "Chi bộ Công an",
]
POLICE = 12
ALL3, KHU_PHO, NO_PART1 = range(0, 3), range(3, 10), range(10, 12)


def ts(day: str, hour: int = 12) -> float:
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=CALENDAR).timestamp()


@dataclass
class Province:
    identity: Identity
    stub: reports_pb2_grpc.ReportsServiceStub
    db: Database
    commune: str
    other_commune: str
    cells: list[str]
    members: list[str]  # index i as constructed below
    cell_of: list[int]
    fed: dict[str, list[Event]] = field(default_factory=dict)

    def feed(self, source: str, topic: str, key: str, payload: dict[str, Any]) -> None:
        log = self.fed.setdefault(source, [])
        log.append(Event(f"{source}-{len(log) + 1}", len(log) + 1, topic, key, payload))

    def consume(self) -> None:
        """Every fed event, then identity's real log, through the reports consumers."""
        for source, log in self.fed.items():
            def fetch(after: int, log: list[Event] = log) -> tuple[list[Event], int]:
                page = [e for e in log if e.seq > after]
                return page, (page[-1].seq if page else after)

            while consumers.consumer(self.db, source, fetch).poll_once():
                pass
        while relay_once(self.identity.db, "identity"):
            pass
        channel = grpc.insecure_channel(self.identity.target)
        try:
            consumer = consumers.consumer(
                self.db, "identity", grpc_fetch(channel, consumers.TOPICS["identity"])
            )
            while consumer.poll_once():
                pass
        finally:
            channel.close()

    def report(self, unit_id: str, period: str = "2024-Q1", auth: Any = None, **dates: str) -> pb.GetReportResponse:
        return self.stub.GetReport(
            pb.GetReportRequest(unit_id=unit_id, period=period, **dates),
            metadata=auth or self.identity.admin(), timeout=30,
        )


def account_of(conn: Connection, member_id: str) -> Any:
    return conn.execute(
        sa.text("SELECT id, member_id, activated_on FROM accounts WHERE member_id = :m"), {"m": member_id}
    ).one()


def build_people(idb: Database, root_id: str) -> tuple[str, str, list[str], list[str], list[int]]:
    """Units and 320 members (+1 transferred in, +1 deactivated) through identity's domain code."""
    with idb.write() as conn:
        commune = units.create(conn, "Đảng bộ thị trấn Đồng Đăng", "commune", root_id).id
        other = units.create(conn, "Đảng bộ xã Hợp Thành", "commune", root_id).id
        cells = [units.create(conn, name, "cell", commune).id for name in CELL_NAMES]
        other_cell = units.create(conn, "Chi bộ thôn Nà Hán", "cell", other).id
        ids: list[str] = []
        cell_of: list[int] = []
        for i in range(320):
            c = i // 25 if i < 200 else 8 + (i - 200) // 24  # 8 cells of 25, 5 of 24
            profile = members.Profile(
                full_name=f"Đảng viên {i:03d}",
                gender="female" if i < 165 else "male",
                status="probationary" if i % 32 == 0 else "official",
                exempt=300 <= i < 304,
                exempt_reason="tuổi cao" if 300 <= i < 304 else "",
                party_card_number=SECRETARY_CARD if i == 0 else "",
                position="secretary" if i == 0 else "",
            )
            pw = hash_password(SECRETARY_PASSWORD) if i == 0 else None
            ids.append(members.create(conn, cells[c], profile, pw).id)
            cell_of.append(c)
        # Moves between cells 5 and 6 and back out of the picture: known effects only.
        mover = members.create(conn, other_cell, members.Profile(full_name="Người chuyển đến", gender="male")).id
        members.transfer(conn, mover, cells[6], "chuyển sinh hoạt", "test")
        gone = members.create(conn, cells[1], members.Profile(full_name="Đã ra khỏi", gender="female")).id
        members.deactivate(conn, gone, "chuyển đi tỉnh khác")
        ids.append(mover)
        cell_of.append(6)
        # Activity: 0..249 first on 2024-01-05, again 2024-03-15, 0..99 also 2024-03-31;
        # 250..303 only on 2023-12-20; 304..319 never (not activated). Coarse days only.
        for i, member_id in enumerate(ids[:304]):
            days = ["2024-01-05", "2024-03-15", *(["2024-03-31"] if i < 100 else [])] if i < 250 else ["2023-12-20"]
            for day in days:
                activity.record(conn, account_of(conn, member_id), ts(day))
        # The mover signs in once in March: one more active member of cell 6 (321 members).
        activity.record(conn, account_of(conn, mover), ts("2024-03-02"))
    return commune, other, cells, ids, cell_of


def feed_activity_of_other_services(p: Province, root_id: str) -> None:
    months = ["2024-01", "2024-02", "2024-03"]
    for c, cell in enumerate(p.cells):
        for month in months:
            if c == POLICE and month == "2024-02":
                continue  # the police cell holds two meetings (exempt: reported apart)
            part1 = c not in NO_PART1
            part3 = not (c in KHU_PHO and month == "2024-03")
            meeting = f"m-{c}-{month}"
            payload = {
                "meeting_id": meeting, "cell_unit_id": cell, "kind": "regular", "state": "resolution_published",
                "month": month, "starts_at": ts(f"{month}-10", 19), "closed_at": ts(f"{month}-10", 21),
                "part1": part1, "part2": True, "part3": part3, "documents_opened_by": 10,
                "roster": 25, "present": 24 if c == 0 else 20, "expected": 24,
                "attended": 24 if c == 0 else 20, "absent_excused": 0, "absent_unexcused": 0,
                "rating": "tot" if c == 0 else "", "at": ts(f"{month}-11"),
            }
            if c == 1 and month == "2024-01":  # an earlier snapshot (no part 3 yet) delivered late
                p.feed("meetings", "meetings.meeting.held", meeting,
                       {**payload, "part3": False, "state": "closed", "at": ts("2024-01-10", 22)})
            p.feed("meetings", "meetings.meeting.held", meeting, payload)
            if c == 2 and month == "2024-02":
                p.feed("meetings", "meetings.meeting.held", meeting,
                       {**payload, "part3": False, "at": ts("2024-01-10", 22)})  # stale: ignored
    # Documents: the commune 3 resolutions + 2 bulletins in Q1 and one in December; cell 0 one
    # bulletin; the province 2 resolutions (outside the commune's subtree).
    docs = [
        ("d-nq1", p.commune, "nghi_quyet", "2024-01-08"), ("d-nq2", p.commune, "nghi_quyet", "2024-02-08"),
        ("d-nq3", p.commune, "nghi_quyet", "2024-03-08"), ("d-tb1", p.commune, "thong_bao", "2024-01-02"),
        ("d-tb2", p.commune, "thong_bao", "2024-03-29"), ("d-old", p.commune, "thong_bao", "2023-12-28"),
        ("d-cell", p.cells[0], "thong_bao", "2024-02-14"), ("d-p1", root_id, "nghi_quyet", "2024-01-20"),
        ("d-p2", root_id, "nghi_quyet", "2024-02-20"),
    ]
    for doc, unit, category, day in docs:
        p.feed("documents", "documents.document.published", doc, {
            "document_id": doc, "title": doc, "number": "", "doc_type": "nghi_quyet" if "nq" in doc else "thong_bao",
            "category": category, "audience_unit_ids": [unit], "publisher_unit_id": unit, "published_at": ts(day),
        })
    marks = [(i, "d-nq1", "2024-02-01") for i in range(50)]
    marks += [(i, "d-p1", "2024-03-01") for i in range(20)]
    marks += [(300, "d-tb1", "2024-01-03"), (301, "d-tb1", "2024-04-02"), (0, "d-nq1", "2024-02-02")]
    for i, doc, day in marks:  # (0, d-nq1) twice: a re-published fact counts once
        p.feed("documents", "documents.study.marked", doc,
               {"document_id": doc, "member_id": p.members[i], "unit_id": p.cells[p.cell_of[i]], "at": ts(day)})
    # Feedback: cell 1 receives 3 in Q1 (one answered, one escalated), the province 1.
    for fid, unit, day in (("f1", p.cells[1], "2024-01-15"), ("f2", p.cells[1], "2024-02-15"),
                           ("f3", p.cells[1], "2024-03-01"), ("f4", root_id, "2024-02-01")):
        p.feed("notifications", "notifications.feedback.received", fid, {"feedback_id": fid, "unit_id": unit,
                                                                         "at": ts(day)})
    p.feed("notifications", "notifications.feedback.answered", "f1",
           {"feedback_id": "f1", "unit_id": p.cells[1], "at": ts("2024-01-20")})
    p.feed("notifications", "notifications.feedback.escalated", "f2",
           {"feedback_id": "f2", "from_unit_id": p.cells[1], "to_unit_id": p.commune, "at": ts("2024-03-01")})
    # Bulletins: b1 to the commune (321 members), b2 to cell 0 (25) in Q1; b3 withdrawn, b4 a
    # document's bulletin, b5 of December: not counted. 200 members read b1, 10 read b2.
    for bid, kind, unit, day in (("b1", "bulletin", p.commune, "2024-01-15"),
                                 ("b2", "announcement", p.cells[0], "2024-02-01"),
                                 ("b3", "bulletin", p.commune, "2024-02-01"),
                                 ("b4", "document", p.commune, "2024-02-01"),
                                 ("b5", "bulletin", root_id, "2023-12-01")):
        p.feed("notifications", "notifications.bulletin.created", bid, {
            "bulletin_id": bid, "publisher_unit_id": unit, "audience_unit_ids": [unit], "kind": kind,
            "publish_at": ts(day)})
    p.feed("notifications", "notifications.bulletin.withdrawn", "b3", {"bulletin_id": "b3"})
    for i in range(200):
        read = ["b1", *(["b2"] if i < 10 else []), *(["b3", "b4", "b5"] if i == 0 else [])]
        p.feed("notifications", "notifications.bulletin.read", p.members[i],
               {"member_id": p.members[i], "bulletin_ids": read, "at": ts("2024-03-01")})
    p.feed("notifications", "notifications.bulletin.read", p.members[0],
           {"member_id": p.members[0], "bulletin_ids": ["b1"], "at": ts("2024-03-02")})  # again: once
    # Tasks of cell 0: t1 done on time, t2 late, t3 overdue, t4 cancelled, t5 due after Q1.
    for tid, due, status, done, at in (("t1", "2024-01-31", "open", None, 1.0),
                                       ("t1", "2024-01-31", "done", "2024-01-30", 2.0),
                                       ("t2", "2024-02-28", "done", "2024-03-02", 2.0),
                                       ("t2", "2024-02-28", "open", None, 1.0),  # stale: ignored
                                       ("t3", "2024-03-31", "in_progress", None, 1.0),
                                       ("t4", "2024-03-15", "cancelled", None, 1.0),
                                       ("t5", "2024-04-10", "done", "2024-03-20", 1.0)):
        p.feed("meetings", "meetings.task.state", tid, {
            "task_id": tid, "meeting_id": "m-0-2024-01", "cell_unit_id": p.cells[0], "due_on": due, "status": status,
            "done_on": done, "at": at})


@pytest.fixture
def province(make_database: Callable[[], Database], monkeypatch: pytest.MonkeyPatch) -> Iterator[Province]:
    idb, rdb = make_database(), make_database()
    with running_identity(idb) as identity:
        commune, other, cells, ids, cell_of = build_people(idb, identity.root_id)
        with running_service("reports", build, rdb, MIGRATIONS, identity, monkeypatch) as channel:
            p = Province(identity, reports_pb2_grpc.ReportsServiceStub(channel), rdb, commune, other, cells, ids,
                         cell_of)
            feed_activity_of_other_services(p, identity.root_id)
            p.consume()
            p.stub.SetCellExemption(
                pb.SetCellExemptionRequest(unit_id=cells[POLICE], exempt=True, reason="Đặc thù ngành"),
                metadata=identity.admin(), timeout=10,
            )
            yield p


def test_membership_and_adoption_match_the_seed_report(province: Province) -> None:
    r = province.report(province.commune, "2024-Q1")
    m = r.membership
    # 320 constructed + the member transferred in; the deactivated one is gone.
    assert (m.members, m.official, m.probationary, m.exempt) == (321, 311, 10, 4)
    assert (m.female, m.male, m.other_gender) == (165, 156, 0)
    a = r.adoption
    assert (a.members, a.activated, a.active) == (321, 305, 251)  # 250 + the mover, in March
    assert a.activated_percent == 95.0 and a.active_percent == round(100 * 251 / 321, 1)
    cells = {c.unit_id: c for c in r.cells}
    assert len(cells) == 13
    assert cells[province.cells[0]].membership.members == 25
    assert cells[province.cells[6]].membership.members == 26  # 25 + the mover
    assert cells[province.cells[12]].membership.members == 24
    police = cells[province.cells[POLICE]]
    # Members 296..319 sit in the police cell: 296..299 active, 300..303 activated in December.
    assert (police.adoption.members, police.adoption.activated, police.adoption.active) == (24, 8, 0)
    assert police.membership.exempt == 4


def test_adoption_follows_the_period(province: Province) -> None:
    december = province.report(province.commune, "2023-12").adoption
    assert (december.activated, december.active) == (54, 54)
    march = province.report(province.commune, "2024-03").adoption
    assert (march.activated, march.active) == (305, 251)
    late_march = province.report(province.commune, "", from_date="2024-03-16", to_date="2024-03-31").adoption
    assert late_march.active == 100  # only those seen on 31/3 (bit masks of a partial month)
    early_march = province.report(province.commune, "", from_date="2024-03-01", to_date="2024-03-14").adoption
    assert early_march.active == 1  # the mover, 2/3
    year = province.report(province.commune, "2024")
    assert year.period.label == "năm 2024" and (year.adoption.activated, year.adoption.active) == (305, 251)


def test_meetings_three_parts_and_attendance(province: Province) -> None:
    r = province.report(province.commune, "2024-Q1")
    s = r.meetings
    assert (s.cells, s.rollout_exempt_cells, s.rollout_cells, s.cells_using) == (13, 1, 12, 12)
    assert (s.cells_part1, s.cells_part2, s.cells_part3, s.cells_all_three) == (10, 12, 5, 3)
    t = s.meetings
    assert (t.held, t.part1, t.part2, t.part3, t.all_three) == (36, 30, 36, 29, 23)
    assert (t.attended, t.expected) == (3 * 24 + 33 * 20, 36 * 24)
    assert t.attendance_percent == round(100 * 732 / 864, 1)
    assert dict(t.ratings) == {"tot": 3}
    cells = {c.unit_id: c for c in r.cells}
    done = [c.name for c in r.cells if c.did_all_three and not c.rollout_exempt]
    assert sorted(done) == sorted(CELL_NAMES[:3])
    police = cells[province.cells[POLICE]]
    assert police.rollout_exempt and police.rollout_exempt_reason == "Đặc thù ngành"
    assert police.meetings.held == 2 and police.did_all_three  # shown, but apart from the totals
    late = cells[province.cells[1]]
    assert late.meetings.part3 == 3  # the late earlier snapshot did not undo part 3
    assert cells[province.cells[2]].meetings.part3 == 3  # nor did a stale one
    assert len(r.cell_months) == 36 and {m.month for m in r.cell_months} == {"2024-01", "2024-02", "2024-03"}
    january = province.report(province.commune, "2024-01").meetings
    assert (january.cells_using, january.cells_all_three, january.meetings.held) == (12, 10, 12)
    assert [(m.month, m.meetings.held, m.meetings.all_three) for m in r.months] == [
        ("2024-01", 12, 10), ("2024-02", 12, 10), ("2024-03", 12, 3)]
    short = province.stub.GetReport(  # a page's reply: the same figures without the cell-months, 5 cells
        pb.GetReportRequest(unit_id=province.commune, period="2024-Q1", omit_cell_months=True, max_cells=5),
        metadata=province.identity.admin(), timeout=30)
    assert not short.cell_months and len(short.cells) == 5 and short.meetings == r.meetings
    assert short.months == r.months and [c.meetings for c in short.cells] == [c.meetings for c in r.cells[:5]]


def test_documents_study_and_feedback(province: Province) -> None:
    r = province.report(province.commune, "2024-Q1")
    assert r.documents_posted == 6
    by_unit = {d.unit_id: d.documents_posted for d in r.documents_by_unit}
    assert by_unit == {province.commune: 5, province.cells[0]: 1}
    study = {c.category: c for c in r.study}
    assert (study["nghi_quyet"].documents_posted, study["nghi_quyet"].study_marks,
            study["nghi_quyet"].studied_members) == (3, 70, 50)
    assert (study["thong_bao"].documents_posted, study["thong_bao"].study_marks,
            study["thong_bao"].studied_members) == (3, 1, 1)
    assert r.studied_members == 51 and r.study_percent == round(100 * 51 / 321, 1)
    cells = {c.unit_id: c for c in r.cells}
    assert cells[province.cells[0]].studied_members == 25 and cells[province.cells[1]].studied_members == 25
    assert (r.feedback.received, r.feedback.answered, r.feedback.escalated) == (3, 1, 1)
    assert cells[province.cells[1]].feedback.received == 3
    whole = province.report(province.identity.root_id, "2024-Q1")
    assert whole.documents_posted == 8 and whole.feedback.received == 4
    assert whole.membership.members == 321  # the other commune's only member moved here


def test_bulletin_read_rates_and_tasks_on_time(province: Province) -> None:
    r = province.report(province.commune, "2024-Q1")
    b = r.bulletins
    assert (b.bulletins, b.expected, b.read) == (2, 346, 210) and b.read_percent == round(100 * 210 / 346, 1)
    kinds = {k.kind: k.counts for k in r.bulletin_kinds}
    assert set(kinds) == {"bulletin", "announcement"}
    assert (kinds["bulletin"].bulletins, kinds["bulletin"].expected, kinds["bulletin"].read) == (1, 321, 200)
    assert (kinds["announcement"].expected, kinds["announcement"].read) == (25, 10)
    cells = {c.unit_id: c for c in r.cells}
    first = cells[province.cells[0]].bulletins
    assert (first.bulletins, first.expected, first.read) == (2, 50, 35)
    assert cells[province.cells[12]].bulletins.read == 0 and cells[province.cells[12]].bulletins.expected == 24
    t = r.tasks
    assert (t.due, t.on_time, t.late, t.overdue, t.pending) == (3, 1, 1, 1, 0)
    assert t.on_time_percent == 33.3 and cells[province.cells[0]].tasks.due == 3
    assert province.report(province.commune, "2024-04").tasks.on_time == 1  # t5, done before it was due
    december = province.report(province.identity.root_id, "2023-12").bulletins
    assert (december.bulletins, december.expected, december.read) == (1, 321, 1)


def test_review_docx(province: Province) -> None:
    """The DOCX review in the usual layout, read back: heading block, the figures in the text,
    the per-cell table, three charts, the committee's paragraphs left to edit."""
    import io

    import docx

    reply = province.stub.ExportReview(
        pb.ExportReviewRequest(report=pb.GetReportRequest(unit_id=province.commune, period="2024-Q1"),
                               committee="Đảng ủy thị trấn Đồng Đăng", number="45-BC/ĐU", place="Đồng Đăng"),
        metadata=province.identity.admin(), timeout=30,
    )
    assert reply.filename == "so-ket-2024-01-01-2024-03-31.docx" and reply.content_type.endswith("document")
    doc = docx.Document(io.BytesIO(reply.content))
    heading = doc.tables[0].rows[0].cells
    assert "ĐẢNG ỦY THỊ TRẤN ĐỒNG ĐĂNG" in heading[0].text and "Số 45-BC/ĐU" in heading[0].text
    assert "ĐẢNG CỘNG SẢN VIỆT NAM" in heading[1].text and "Đồng Đăng, ngày" in heading[1].text
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "BÁO CÁO" in text and "quý 1/2024" in text
    assert "13 chi bộ với 321 đảng viên" in text and "chính thức 311" in text and "nữ 165" in text
    assert "305/321 đảng viên đã cài đặt" in text and "đạt 95%" in text
    assert "11/12" not in text and "12/12" in text and "3/12 chi bộ thực hiện đủ 3 phần" in text
    assert "Chi bộ Công an không triển khai: Đặc thù ngành" in text
    assert "tỷ lệ đọc 60.7%" in text and "hoàn thành đúng hạn 1 (33.3%)" in text
    assert text.count("[Nội dung do cấp ủy bổ sung.]") == 5  # the committee's own text, to edit
    cells = {row.cells[0].text: [c.text for c in row.cells] for row in doc.tables[1].rows[1:]}
    assert len(cells) == 13 and cells["Chi bộ Mầm non"][1:5] == ["25", "25", "3", "Có"]
    assert cells["Chi bộ Công an"][6] == "Không triển khai: Đặc thù ngành"
    study = {row.cells[0].text: [c.text for c in row.cells] for row in doc.tables[2].rows[1:]}
    assert study["nghi_quyet"][1:4] == ["3", "70", "50"]
    assert len(doc.inline_shapes) == 3
    with pytest.raises(grpc.RpcError) as long:
        province.stub.ExportReview(
            pb.ExportReviewRequest(report=pb.GetReportRequest(unit_id=province.commune, period="2024"),
                                   place="x" * 300),
            metadata=province.identity.admin(), timeout=30,
        )
    assert long.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_access_and_bad_input(province: Province) -> None:
    secretary = province.identity.token(SECRETARY_CARD, SECRETARY_PASSWORD)
    own = province.report(province.cells[0], "2024-Q1", auth=secretary)
    assert own.membership.members == 25 and [c.unit_id for c in own.cells] == [province.cells[0]]
    with pytest.raises(grpc.RpcError) as denied:
        province.report(province.commune, "2024-Q1", auth=secretary)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as bad:
        province.report(province.commune, "2024-13")
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as backwards:
        province.report(province.commune, "", from_date="2024-03-02", to_date="2024-03-01")
    assert backwards.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as missing:
        province.report("5f0c7a52-0000-4000-8000-000000000000", "2024")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    admin = province.identity.admin()
    with pytest.raises(grpc.RpcError) as not_cell:
        province.stub.SetCellExemption(
            pb.SetCellExemptionRequest(unit_id=province.commune, exempt=True, reason="x"), metadata=admin, timeout=10
        )
    assert not_cell.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as no_reason:
        province.stub.SetCellExemption(
            pb.SetCellExemptionRequest(unit_id=province.cells[11], exempt=True, reason="  "), metadata=admin, timeout=10
        )
    assert no_reason.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as officer:
        province.stub.SetCellExemption(
            pb.SetCellExemptionRequest(unit_id=province.cells[0], exempt=True, reason="x"), metadata=secretary,
            timeout=10,
        )
    assert officer.value.code() == grpc.StatusCode.PERMISSION_DENIED
    listed = province.stub.ListCellExemptions(pb.ListCellExemptionsRequest(unit_id=province.commune), metadata=admin,
                                              timeout=10)
    assert [(e.unit_id, e.reason) for e in listed.exemptions] == [(province.cells[POLICE], "Đặc thù ngành")]
    province.stub.SetCellExemption(pb.SetCellExemptionRequest(unit_id=province.cells[POLICE], exempt=False),
                                   metadata=admin, timeout=10)
    lifted = province.report(province.commune, "2024-Q1").meetings
    assert (lifted.rollout_exempt_cells, lifted.rollout_cells, lifted.cells_all_three) == (0, 13, 4)


def test_the_tree_follows_identity(province: Province) -> None:
    """A cell renamed and moved to the other commune takes its figures with it; events re-read
    from the start change nothing."""
    with province.identity.db.write() as conn:
        units.rename(conn, province.cells[3], "Chi bộ khu phố Mới")
        units.move(conn, province.cells[3], province.other_commune, "test")
    province.consume()
    commune = province.report(province.commune, "2024-Q1")
    other = province.report(province.other_commune, "2024-Q1")
    assert commune.membership.members == 321 - 25 and other.membership.members == 25
    assert [c.name for c in other.cells] == ["Chi bộ khu phố Mới", "Chi bộ thôn Nà Hán"]
    assert other.meetings.meetings.held == 3 and commune.meetings.meetings.held == 33
    before = province.report(province.identity.root_id, "2024-Q1")
    with province.db.write() as conn:
        conn.execute(sa.text("DELETE FROM event_cursors"))
    province.consume()  # every event again: each one already applied
    assert province.report(province.identity.root_id, "2024-Q1").adoption == before.adoption


def test_rest_routes(province: Province) -> None:
    """The gateway's /api/v1/reports routes (Flask test client -> gRPC): JSON figures, exemptions,
    status, errors as JSON with their reason, documented in the OpenAPI."""
    from gateway import clients
    from gateway.app import create_app
    from gateway.settings import Settings

    clients.close_all()  # channels of an earlier test point at its servers
    try:
        rest_checks(province, create_app(Settings.from_env()).test_client())
    finally:
        clients.close_all()


def rest_checks(province: Province, client: Any) -> None:
    admin = {"Authorization": province.identity.admin()[0][1]}
    got = client.get(f"/api/v1/reports/units/{province.commune}?period=2024-Q1", headers=admin)
    assert got.status_code == 200, got.get_json()
    body = got.get_json()
    assert body["membership"]["members"] == 321 and body["adoption"]["activated"] == 305
    assert body["meetings"]["cells_all_three"] == 3 and body["meetings"]["meetings"]["ratings"] == {"tot": 3}
    assert body["period"] == {"label": "quý 1/2024", "from_date": "2024-01-01", "to_date": "2024-03-31"}
    custom = client.get(
        f"/api/v1/reports/units/{province.commune}?from_date=2024-03-16&to_date=2024-03-31", headers=admin
    )
    assert custom.get_json()["adoption"]["active"] == 100
    listed = client.get(f"/api/v1/reports/units/{province.commune}/exemptions", headers=admin).get_json()
    assert [e["reason"] for e in listed["exemptions"]] == ["Đặc thù ngành"]
    put = client.put(f"/api/v1/reports/cells/{province.cells[11]}/exemption", headers=admin,
                     json={"exempt": True, "reason": "Đơn vị đặc thù"})
    assert put.status_code == 200 and put.get_json()["exemption"]["reason"] == "Đơn vị đặc thù"
    status = client.get("/api/v1/reports/status", headers=admin).get_json()
    assert {s["source"] for s in status["sources"]} == {"identity", "meetings", "documents", "notifications"}
    bad = client.get(f"/api/v1/reports/units/{province.commune}?period=2024-Q5", headers=admin)
    assert bad.status_code == 400 and bad.get_json()["error"]["reason"] == "invalid_period"
    unknown = client.get(f"/api/v1/reports/units/{province.commune}?year=2024", headers=admin)
    assert unknown.status_code == 400
    anonymous = client.get(f"/api/v1/reports/units/{province.commune}?period=2024")
    assert anonymous.status_code == 401
    missing_reason = client.put(f"/api/v1/reports/cells/{province.cells[10]}/exemption", headers=admin,
                                json={"exempt": True})
    assert missing_reason.status_code == 400
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/reports/units/{unit_id}", "/api/v1/reports/units/{unit_id}/xlsx",
            "/api/v1/reports/status"} <= set(paths)
    xlsx = client.get(f"/api/v1/reports/units/{province.commune}/xlsx?period=2024-Q1", headers=admin)
    assert xlsx.status_code == 200 and xlsx.mimetype.endswith("spreadsheetml.sheet")
    assert 'filename="bao-cao-2024-01-01-2024-03-31.xlsx"' in xlsx.headers["Content-Disposition"]
    read_back(province, xlsx.get_data())
    review = client.get(f"/api/v1/reports/units/{province.commune}/docx?period=2024-Q1&number=45-BC/%C4%90U",
                        headers=admin)
    assert review.status_code == 200 and review.mimetype.endswith("wordprocessingml.document")
    assert "/api/v1/reports/units/{unit_id}/docx" in paths
    assert 'filename="so-ket-2024-01-01-2024-03-31.docx"' in review.headers["Content-Disposition"]
    refused = client.get(f"/api/v1/reports/units/{province.commune}/xlsx?period=2024-Q9", headers=admin)
    assert refused.status_code == 400


def read_back(province: Province, data: bytes) -> None:
    """The workbook's tables hold the figures (cells 11 and 12 are exempt by now)."""
    import io

    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    assert wb.sheetnames == ["Tổng hợp", "Chi bộ", "Sinh hoạt theo tháng", "Văn bản", "Học tập", "Thông báo"]
    summary = {row[0]: row[1] for row in wb["Tổng hợp"].iter_rows(min_row=2, values_only=True)}
    assert summary["Đảng viên"] == 321 and summary["Đảng viên nữ"] == 165
    assert summary["Đã kích hoạt (cài đặt, sử dụng)"] == 305 and summary["Tỷ lệ kích hoạt (%)"] == 95.0
    assert summary["Chi bộ"] == 13 and summary["Chi bộ không triển khai (miễn)"] == 2
    assert summary["Chi bộ thực hiện đủ 3 phần"] == 3 and summary["Cuộc họp trên nền tảng"] == 33
    rows = list(wb["Chi bộ"].iter_rows(values_only=True))
    header, cells = rows[0], {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert len(cells) == 13 and header[0] == "Chi bộ"
    police = cells["Chi bộ Công an"]
    assert police["Không triển khai (lý do)"] == "Đặc thù ngành" and police["Số cuộc họp"] == 2
    assert cells["Chi bộ Mầm non"]["Đủ 3 phần"] == "Có" and cells["Chi bộ khu phố 1"]["Đủ 3 phần"] == "Không"
    assert cells["Chi bộ khu phố 4"]["Đảng viên"] == 26  # cell 6, with the member transferred in
    months = list(wb["Sinh hoạt theo tháng"].iter_rows(min_row=2, values_only=True))
    assert len(months) == 33  # rollout cells only: 11 cells x 3 months
    study = {r[0]: r for r in wb["Học tập"].iter_rows(min_row=2, values_only=True)}
    assert study["nghi_quyet"][1:4] == (3, 70, 50)
    bulletins = {r[0]: r[1:] for r in wb["Thông báo"].iter_rows(min_row=2, values_only=True)}
    assert bulletins == {"announcement": (1, 25, 10, 40.0), "bulletin": (1, 321, 200, 62.3)}
    assert summary["Tỷ lệ đọc thông báo (%)"] == 60.7 and summary["Nhiệm vụ hoàn thành đúng hạn"] == 1
    assert cells["Chi bộ Mầm non"]["Nhiệm vụ đến hạn"] == 3 and cells["Chi bộ Mầm non"]["Tỷ lệ đúng hạn (%)"] == 33.3
    documents = {r[0]: r[1] for r in wb["Văn bản"].iter_rows(min_row=2, values_only=True)}
    assert documents == {"Đảng bộ thị trấn Đồng Đăng": 5, "Chi bộ Mầm non": 1}


def facts_of(db: Database, service: str, run: Callable[[Database, Any], None]) -> consumers.Fetch:
    """Run the producer's `report-facts` on its database; a fetch of its `<service>.facts.` events
    only (as if every older event carried nothing the reports read)."""
    import threading

    from services.core.outbox import read_events

    run(db, threading.Event())
    while relay_once(db, service):
        pass

    def fetch(after: int) -> tuple[list[Event], int]:
        with db.read() as conn:
            return read_events(conn, after, 500, [f"{service}.facts."])

    return fetch


def test_backfill_from_the_producers_facts(province: Province, make_database: Callable[[], Database]) -> None:
    """An installation upgraded from before the reports: a new reports database, fed only the
    snapshots the producers' `report-facts` commands write to their own outboxes."""
    import json

    from services.documents import report_facts as documents_facts
    from services.documents.migrations import MIGRATIONS as DOCUMENTS
    from services.identity import report_facts as identity_facts
    from services.meetings import report_facts as meetings_facts
    from services.meetings.migrations import MIGRATIONS as MEETINGS
    from services.notifications import report_facts as notifications_facts
    from services.notifications.migrations import MIGRATIONS as NOTIFICATIONS

    rdb, mdb, ddb, ndb = make_database(), make_database(), make_database(), make_database()
    rdb.migrate("reports", MIGRATIONS)
    mdb.migrate("meetings", MEETINGS)
    ddb.migrate("documents", DOCUMENTS)
    ndb.migrate("notifications", NOTIFICATIONS)
    cell0, cell1, commune = province.cells[0], province.cells[1], province.commune
    m0, m1 = province.members[0], province.members[1]
    with mdb.write() as conn:
        conn.execute(sa.text(
            "INSERT INTO meetings (id, cell_unit_id, cell_name, kind, title, state, starts_at, month, place, mode, "
            "session_id, session_order, conclusion, created_by, created_at, updated_at, live_version) VALUES "
            "(:id, :c, 'c', 'regular', 't', :state, :at, '2024-02', '', 'in_person', :id, 0, '', 'x', :at, :at, 0)"),
            [{"id": "5f0c7a52-0000-4000-8000-00000000000" + str(i), "c": cell0, "state": state,
              "at": ts("2024-02-10", 19)} for i, state in enumerate(("closed", "resolution_published", "announced"))])
        conn.execute(sa.text(
            "INSERT INTO tasks (id, meeting_id, cell_unit_id, title, description, due_on, status, progress, "
            "created_at, updated_at) VALUES (:id, '5f0c7a52-0000-4000-8000-000000000000', :c, 't', '', :due, "
            ":s, 0, 0, :at)"),
            [{"id": f"task-{i}", "c": cell0, "due": "2024-02-20", "s": s, "at": ts(day)}
             for i, (s, day) in enumerate((("done", "2024-02-19"), ("done", "2024-02-25"), ("open", "2024-02-01")))])
    with ddb.write() as conn:
        conn.execute(sa.text(
            "INSERT INTO documents (id, title, number, number_key, number_seq, doc_type, issuer_code, category, "
            "issuing_body, signer, summary, status, unit_id, current_version, change_seq, created_by, created_at, "
            "updated_at, published_at) VALUES (:id, 't', '', '', 0, 'nghi_quyet', '', 'nghi_quyet', '', '', '', "
            ":st, :u, 1, 0, 'x', 0, 0, :p)"),
            [{"id": "doc-1", "st": "published", "u": commune, "p": ts("2024-01-08")},
             {"id": "doc-2", "st": "draft", "u": commune, "p": None}])
        conn.execute(sa.text(
            "INSERT INTO study_marks (document_id, member_id, account_id, unit_id, studied_at) "
            "VALUES ('doc-1', :m, 'a', :u, :at)"),
            [{"m": province.members[i], "u": province.cells[province.cell_of[i]], "at": ts("2024-02-01")}
             for i in range(30)])
    with ndb.write() as conn:
        common = {"att": "[]", "now": ts("2024-01-15")}
        conn.execute(sa.text(
            "INSERT INTO feedback (id, member_id, account_id, target_unit_id, target_path, unit_id, unit_path, "
            "subject, body, attachments, status, answered_at, escalations, due_at, created_at, updated_at) VALUES "
            "(:id, :m, 'a', :t, '/', :u, '/', 's', 'b', :att, 'received', :ans, 0, 0, :now, :now)"),
            [{"id": "fb-1", "m": m0, "t": cell1, "u": cell1, "ans": ts("2024-01-20"), **common},
             {"id": "fb-2", "m": m1, "t": cell1, "u": commune, "ans": None, **common}])
        conn.execute(sa.text(
            "INSERT INTO feedback_events (id, feedback_id, at, action, unit_id, note) "
            "VALUES ('e1', 'fb-2', :at, 'escalated', :u, '')"), {"at": ts("2024-02-01"), "u": commune})
        for bid, withdrawn in (("bul-1", None), ("bul-2", ts("2024-01-03"))):
            conn.execute(sa.text(
                "INSERT INTO bulletins (id, publisher_unit_id, kind, title, body_html, body_text, attachments, "
                "publish_at, pinned, withdrawn_at, created_at, updated_at) VALUES "
                "(:id, :u, 'bulletin', 't', '', '', '[]', :at, FALSE, :w, :at, :at)"),
                {"id": bid, "u": commune, "at": ts("2024-01-02"), "w": withdrawn})
            conn.execute(sa.text("INSERT INTO bulletin_audience (unit_id, publish_at, bulletin_id) "
                                 "VALUES (:u, 0, :b)"), {"u": commune, "b": bid})
        conn.execute(sa.text("INSERT INTO bulletin_reads (bulletin_id, member_id, unit_path, read_at) "
                             "VALUES ('bul-1', :m, '/', 0)"), [{"m": m} for m in province.members[:40]])

    fetches = {
        "identity": facts_of(province.identity.db, "identity", identity_facts.run),
        "meetings": facts_of(mdb, "meetings", meetings_facts.run),
        "documents": facts_of(ddb, "documents", documents_facts.run),
        "notifications": facts_of(ndb, "notifications", notifications_facts.run),
    }
    for source, fetch in fetches.items():
        consumer = consumers.consumer(rdb, source, fetch)
        while True:  # to the end of the log (a page of other topics applies nothing)
            at = consumer.cursor()
            consumer.poll_once()
            if consumer.cursor() == at:
                break
    before = province.report(commune, "2024-Q1")
    with rdb.read() as conn:
        r = figures.build(conn, figures.unit(conn, commune), periods.parse("2024-Q1"))
    # Identity's facts give the same membership and adoption (the activity dates suffice here).
    assert (r.membership.members, r.membership.female, r.membership.exempt) == (321, 165, 4)
    assert (r.adoption.activated, r.adoption.active) == (before.adoption.activated, before.adoption.active)
    assert [c.name for c in r.cells] == [c.name for c in before.cells]
    assert (r.meetings.meetings.held, r.meetings.cells_using) == (2, 1)  # the announced one is not held
    assert (r.tasks.due, r.tasks.on_time, r.tasks.late, r.tasks.overdue) == (3, 1, 1, 1)
    assert r.documents_posted == 1 and r.studied_members == 30
    assert (r.feedback.received, r.feedback.answered, r.feedback.escalated) == (2, 1, 1)
    assert (r.bulletins.bulletins, r.bulletins.expected, r.bulletins.read) == (1, 321, 40)
    with ndb.read() as conn:
        assert json.loads(conn.execute(sa.text(
            "SELECT payload FROM outbox WHERE topic = 'notifications.facts.feedback'")).scalar_one())["feedback"][1][
            "escalations"] == [{"from_unit_id": cell1, "at": ts("2024-02-01")}]
