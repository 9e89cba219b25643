"""Minutes (biên bản) generated from the record, read back from DOCX and PDF; a combined session."""

from __future__ import annotations

import io
import re
import time

import docx
import grpc
import pypdf

from sotay.meetings.v1 import meetings_pb2 as pb
from tests.unit.meetings.conftest import MARCH_EVENING, STANDARD, World, at, expect_error, new_meeting, started, vote


def fetch(w: World, meeting_id: str, fmt: int, auth) -> tuple[str, str, bytes]:  # type: ignore[no-untyped-def]
    parts = list(w.stub.GetMinutes(pb.GetMinutesRequest(meeting_id=meeting_id, format=fmt), metadata=auth))
    data = b"".join(p.chunk for p in parts)
    assert parts[0].size == len(data)
    return parts[0].filename, parts[0].content_type, data


def docx_text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    text = [p.text for p in document.paragraphs]
    text += [c.text for t in document.tables for row in t.rows for c in row.cells]
    return " ".join(" ".join(text).split())


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def hold_meeting(w: World) -> tuple[object, pb.Meeting]:
    cell = w.cell("Chi bộ Trường Mầm non", w.identity.root_id, STANDARD)
    sec = cell.secretary.auth
    present = [n for n, _, _ in STANDARD if n not in ("Nông Văn Miễn", "Hà Thị Chuyển", "Đặng Văn Hải")]
    m = started(w, cell, present=present)
    w.stub.RecordAttendance(
        pb.RecordAttendanceRequest(
            meeting_id=m.id,
            member_id=cell.by_name("Đặng Văn Hải").member_id,
            attendance=pb.ATTENDANCE_STATUS_ABSENT_EXCUSED,
            reason="Ốm nằm viện",
        ),
        metadata=sec,
    )
    w.stub.SetSessionStatus(
        pb.SetSessionStatusRequest(
            meeting_id=m.id,
            member_id=cell.by_name("Hà Thị Chuyển").member_id,
            status=pb.SESSION_STATUS_TRANSFERRED,
            reason="Sinh hoạt tạm thời tại Hà Nội",
        ),
        metadata=sec,
    )
    w.stub.AddOpinion(
        pb.AddOpinionRequest(
            meeting_id=m.id,
            agenda_item_id=m.agenda[0].id,
            speaker_member_id=cell.by_name("Lê Văn Bình").member_id,
            text="Đề nghị bổ sung chỉ tiêu đảng viên mới.",
        ),
        metadata=sec,
    )
    poll = w.stub.OpenPoll(
        pb.OpenPollRequest(
            meeting_id=m.id,
            question="Thông qua nghị quyết tháng 3",
            kind=pb.POLL_KIND_RESOLUTION_ADOPTION,
            ballot=pb.BALLOT_TYPE_SECRET,
        ),
        metadata=sec,
    ).poll
    for name in ("Nguyễn Văn Bí", "Trần Thị An", "Lê Văn Bình", "Phạm Thị Cúc"):
        vote(w, poll.id, cell.by_name(name), pb.VOTE_CHOICE_APPROVE)
    w.stub.RecordRoomCount(
        pb.RecordRoomCountRequest(poll_id=poll.id, counts=pb.Counts(approve=1, reject=1)), metadata=sec
    )
    w.stub.ClosePoll(pb.ClosePollRequest(poll_id=poll.id), metadata=sec)
    m = w.stub.CloseMeeting(
        pb.CloseMeetingRequest(meeting_id=m.id, conclusion="Chi bộ thống nhất 3 nhiệm vụ."), metadata=sec
    ).meeting
    return cell, m


EXPECTED = [
    "BIÊN BẢN",
    "Tổng số đảng viên của chi bộ: 10; trong đó đảng viên chính thức: 9, đảng viên dự bị: 1; đảng viên được miễn "
    "công tác và sinh hoạt đảng: 1.",
    "Có mặt: 7 (trực tiếp 0, trực tuyến 7). Vắng mặt: 3 (có lý do: 1, không lý do: 0).",
    "Đồng chí Đặng Văn Hải (chính thức): vắng có lý do (Ốm nằm viện).",
    "Đồng chí Hà Thị Chuyển (chính thức): chuyển sinh hoạt tạm thời (Sinh hoạt tạm thời tại Hà Nội).",
    "Đồng chí Nông Văn Miễn (chính thức): miễn công tác và sinh hoạt đảng.",
    "Đồng chí Lê Văn Bình (phát biểu tại cuộc họp) [Đánh giá tình hình tháng]: Đề nghị bổ sung chỉ tiêu đảng viên mới.",
    "Tán thành: 5 (trên ứng dụng 4, tại cuộc họp 1).",
    "Không tán thành: 1 (trên ứng dụng 0, tại cuộc họp 1).",
    "Số đảng viên chính thức làm căn cứ tính: 7 (= 9 chính thức - 1 chuyển sinh hoạt tạm thời - 1 miễn sinh hoạt "
    "vắng mặt); cần quá một nửa: ít nhất 4.",
    "Kết quả: 5/7 tán thành — THÔNG QUA.",
    "Chi bộ thống nhất 3 nhiệm vụ.",
    "cử đồng chí Trần Thị An làm thư ký cuộc họp.",
]


def test_docx_and_pdf_minutes_read_back(world: World) -> None:
    cell, m = hold_meeting(world)
    auth = cell.secretary.auth  # type: ignore[attr-defined]
    name, media, data = fetch(world, m.id, pb.MINUTES_FORMAT_DOCX, auth)
    assert name.endswith(".docx") and media.startswith("application/vnd.openxmlformats")
    text = docx_text(data)
    for expected in EXPECTED:
        assert expected in text, expected
    order = [
        text.index(h)
        for h in (
            "1. Khai mạc",
            "2. Cử thư ký",
            "3. Điểm danh",
            "4. Nội dung",
            "5. Thảo luận",
            "6. Biểu quyết",
            "7. Kết luận",
            "9. Bế mạc",
        )
    ]
    assert order == sorted(order)
    name, media, data = fetch(world, m.id, pb.MINUTES_FORMAT_PDF, auth)
    assert name.endswith(".pdf") and media == "application/pdf" and data.startswith(b"%PDF")
    text = pdf_text(data)
    for expected in EXPECTED:
        assert re.sub(r"\s", "", expected) in re.sub(r"\s", "", text), expected


def test_combined_session_is_two_meetings_with_two_minutes(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Khối 2", w.identity.root_id, STANDARD[:5])
    sec = cell.secretary.auth
    first = started(w, cell, present=[p.name for p in cell.people[:4]])
    second = new_meeting(
        w,
        cell,
        kind=pb.MEETING_KIND_THEMATIC,
        follows=first.id,
        title="Chuyên đề: học tập và làm theo tư tưởng Hồ Chí Minh",
    )
    assert second.session_id == first.session_id and second.session_order == 2
    assert list(second.session_meeting_ids) == [first.id, second.id]
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "session_same_kind", new_meeting, w, cell, follows=first.id)
    w.stub.AnnounceMeeting(pb.AnnounceMeetingRequest(meeting_id=second.id), metadata=sec)
    expect_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        "session_previous_not_closed",
        w.stub.StartMeeting,
        pb.StartMeetingRequest(meeting_id=second.id),
        metadata=sec,
    )
    w.stub.CloseMeeting(pb.CloseMeetingRequest(meeting_id=first.id, conclusion="Kết luận thường kỳ"), metadata=sec)
    w.stub.StartMeeting(pb.StartMeetingRequest(meeting_id=second.id), metadata=sec)
    for p in cell.people:  # everyone attends the thematic part
        w.stub.CheckIn(pb.CheckInRequest(meeting_id=second.id), metadata=p.auth)
    w.stub.CloseMeeting(pb.CloseMeetingRequest(meeting_id=second.id, conclusion="Kết luận chuyên đề"), metadata=sec)
    one = docx_text(fetch(w, first.id, pb.MINUTES_FORMAT_DOCX, sec)[2])
    two = docx_text(fetch(w, second.id, pb.MINUTES_FORMAT_DOCX, sec)[2])
    assert "Sinh hoạt chi bộ thường kỳ" in one and "Kết luận thường kỳ" in one and "Có mặt: 4" in one
    assert "Phần 1/2 của buổi sinh hoạt kết hợp" in one
    assert "Sinh hoạt chi bộ chuyên đề" in two and "Kết luận chuyên đề" in two and "Có mặt: 5" in two
    assert "Phần 2/2 của buổi sinh hoạt kết hợp" in two
    assert fetch(w, first.id, pb.MINUTES_FORMAT_PDF, sec)[0] != fetch(w, second.id, pb.MINUTES_FORMAT_PDF, sec)[0]


def test_no_minutes_before_the_meeting_starts(world: World) -> None:
    cell = world.cell("Chi bộ Nháp", world.identity.root_id, STANDARD[:2])
    m = new_meeting(world, cell)
    expect_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        "wrong_state",
        fetch,
        world,
        m.id,
        pb.MINUTES_FORMAT_PDF,
        cell.secretary.auth,
    )


def test_pdf_falls_back_cleanly_without_a_unicode_font(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from services.meetings.minutes import record, to_pdf

    monkeypatch.setattr(to_pdf, "unicode_font", lambda: None)
    data = to_pdf.render(
        [record.Block("title", "BIÊN BẢN"), record.Block("para", "Đồng chí Nguyễn Thị Hạnh: vắng")], "Biên bản"
    )
    assert pdf_text(data).replace(" ", "") == "BIENBANDongchiNguyenThiHanh:vang"


def test_a_configured_font_is_used(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from services.meetings.minutes import fonts

    fonts.unicode_font.cache_clear()
    monkeypatch.setenv("MEETINGS_PDF_FONT", str(tmp_path / "missing.ttf"))
    try:
        found = fonts.unicode_font()
        assert found is not None and found.name in ("SourceSansPro", "DejaVuSans")  # falls through to the next
    finally:
        fonts.unicode_font.cache_clear()


def test_a_meeting_entered_after_it_was_held_keeps_the_paper_minutes_times(world: World) -> None:
    """A cell without connection meets on 10/3 at 19:30; the secretary enters it the next days.
    The record and the minutes carry the times of the paper minutes, not the time of typing."""
    w = world
    cell = w.cell("Chi bộ Bản Khuổi", w.identity.root_id, STANDARD[:4])
    sec = cell.secretary.auth
    m = new_meeting(w, cell)
    w.stub.AttachDocument(pb.AttachDocumentRequest(meeting_id=m.id, document_id=w.document()), metadata=sec)
    w.stub.AnnounceMeeting(pb.AnnounceMeetingRequest(meeting_id=m.id), metadata=sec)
    began, ended = MARCH_EVENING + 10 * 60, MARCH_EVENING + 2 * 3600 + 5 * 60  # 19:40 to 21:35

    def start(when: float) -> pb.Meeting:
        return w.stub.StartMeeting(pb.StartMeetingRequest(meeting_id=m.id, started_at=at(when)), metadata=sec).meeting

    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "started_at_in_future", start, time.time() + 3600)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "started_before_schedule", start, MARCH_EVENING - 86400 - 60)
    assert start(began).started_at.seconds == int(began)
    for p in cell.people:
        w.stub.CheckIn(pb.CheckInRequest(meeting_id=m.id), metadata=p.auth)

    def close(when: float) -> pb.Meeting:
        return w.stub.CloseMeeting(
            pb.CloseMeetingRequest(meeting_id=m.id, conclusion="Kết luận", closed_at=at(when)), metadata=sec
        ).meeting

    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "closed_before_start", close, began - 60)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "meeting_too_long", close, began + 86400 + 60)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "closed_at_in_future", close, time.time() + 3600)
    closed = close(ended)
    assert (closed.started_at.seconds, closed.closed_at.seconds) == (int(began), int(ended))
    text = docx_text(fetch(w, m.id, pb.MINUTES_FORMAT_DOCX, sec)[2])
    assert "Thời gian: 19 giờ 40, ngày 10/03/2026." in text
    assert "khai mạc lúc 19 giờ 40, ngày 10/03/2026." in text
    assert "Cuộc họp kết thúc lúc 21 giờ 35, ngày 10/03/2026." in text
    # Its documents reached the members (announced) only after it was held: part 1 is not counted.
    line = w.stub.GetComplianceReport(
        pb.GetComplianceReportRequest(unit_id=cell.id, month="2026-03"), metadata=sec
    ).cells[0]
    assert line.meetings == 1 and not line.part1_documents and not line.meeting_parts[0].part1_documents


def test_the_second_meeting_of_a_session_entered_later_begins_after_the_first_closed(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Bản Piềng", w.identity.root_id, STANDARD[:4])
    sec = cell.secretary.auth
    first = new_meeting(w, cell)
    second = new_meeting(w, cell, kind=pb.MEETING_KIND_THEMATIC, follows=first.id, title="Chuyên đề quý I")
    for mid in (first.id, second.id):
        w.stub.AnnounceMeeting(pb.AnnounceMeetingRequest(meeting_id=mid), metadata=sec)
    w.stub.StartMeeting(pb.StartMeetingRequest(meeting_id=first.id, started_at=at(MARCH_EVENING)), metadata=sec)
    first_closed = MARCH_EVENING + 90 * 60
    w.stub.CloseMeeting(pb.CloseMeetingRequest(meeting_id=first.id, closed_at=at(first_closed)), metadata=sec)
    expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        "started_before_previous_closed",
        w.stub.StartMeeting,
        pb.StartMeetingRequest(meeting_id=second.id, started_at=at(first_closed - 60)),
        metadata=sec,
    )
    began = w.stub.StartMeeting(
        pb.StartMeetingRequest(meeting_id=second.id, started_at=at(first_closed + 5 * 60)), metadata=sec
    ).meeting.started_at.seconds
    assert began == int(first_closed + 5 * 60)
