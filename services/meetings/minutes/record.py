"""The minutes (biên bản) as an ordered list of blocks, built from the meeting record only.

Order (the usual one): opening -> meeting secretary appointed -> attendance (totals of official,
probationary, exempt, present; absentees named with reasons) -> content -> discussion (who said
what) -> votes with counts -> conclusion/resolution -> evaluation -> minutes read back and close.
Both renderers (DOCX, PDF) draw the same blocks, so the two files always say the same thing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from services.meetings import charter, evaluation, meetings, opinions, roster, voting
from services.meetings.charter import Rubric
from services.meetings.meetings import VN_OFFSET

KIND_VI = {"regular": "thường kỳ", "thematic": "chuyên đề"}
MODE_VI = {"in_person": "trực tiếp", "online": "trực tuyến", "hybrid": "trực tiếp kết hợp trực tuyến"}
SESSION_VI = {
    charter.TRANSFERRED: "chuyển sinh hoạt tạm thời",
    charter.SUSPENDED: "đình chỉ sinh hoạt / bị tạm giam",
    charter.EXCUSED: "được vắng mặt cả kỳ họp",
}
STATUS_VI = {charter.OFFICIAL: "chính thức", charter.PROBATIONARY: "dự bị"}


@dataclass(frozen=True)
class Block:
    kind: str  # title | center | heading | para | bullet | signatures
    text: str = ""
    extra: str = ""


def vn_time(ts: float | None) -> str:
    if not ts:
        return "…"
    return time.strftime("%H giờ %M, ngày %d/%m/%Y", time.gmtime(ts + VN_OFFSET))


def name_of(people: dict[str, Any], member_id: str | None) -> str:
    row = people.get(member_id or "")
    return str(row.full_name) if row is not None else "…"


def build(conn: Connection, meeting_id: str, rubric: Rubric) -> tuple[Any, list[Block]]:
    m = meetings.get(conn, meeting_id)
    rows = roster.all_rows(conn, m.id)
    people = {r.member_id: r for r in rows}
    summary = charter.attendance([roster.participant(r) for r in rows])
    in_person, online = roster.mode_counts(conn, m.id)
    blocks: list[Block] = [
        Block("center", "ĐẢNG CỘNG SẢN VIỆT NAM"),
        Block("center", m.cell_name.upper()),
        Block("title", "BIÊN BẢN"),
        Block("center", f"Sinh hoạt chi bộ {KIND_VI.get(m.kind, m.kind)}: {m.title}"),
    ]
    if m.state in ("draft", "announced", "in_progress"):
        blocks.append(Block("center", "(DỰ THẢO — cuộc họp chưa kết thúc)"))
    session = meetings.session_meetings(conn, m.session_id)
    if len(session) > 1:
        blocks.append(
            Block(
                "center",
                f"Phần {m.session_order}/{len(session)} của buổi sinh hoạt kết hợp (mỗi cuộc họp có biên bản riêng)",
            )
        )
    blocks += [
        Block("para", f"Thời gian: {vn_time(m.started_at or m.starts_at)}."),
        Block("para", f"Địa điểm: {m.place or '…'}. Hình thức: {MODE_VI.get(m.mode, m.mode)}."),
        Block("heading", "1. Khai mạc"),
        Block(
            "para",
            f"Đồng chí {name_of(people, m.chair_member_id)} chủ trì, tuyên bố lý do và khai mạc "
            f"lúc {vn_time(m.started_at)}.",
        ),
        Block("heading", "2. Cử thư ký cuộc họp"),
        Block(
            "para",
            f"Chi bộ thống nhất cử đồng chí {name_of(people, m.minutes_secretary_member_id)} làm thư ký cuộc họp.",
        ),
        Block("heading", "3. Điểm danh"),
        Block(
            "para",
            f"Tổng số đảng viên của chi bộ: {summary.roster}; trong đó đảng viên chính thức: "
            f"{summary.official}, đảng viên dự bị: {summary.probationary}; đảng viên được miễn công tác "
            f"và sinh hoạt đảng: {summary.exempt}.",
        ),
        Block(
            "para",
            f"Có mặt: {summary.present} (trực tiếp {in_person}, trực tuyến {online}). "
            f"Vắng mặt: {summary.roster - summary.present} (có lý do: {summary.absent_excused}, "
            f"không lý do: {summary.absent_unexcused}). Tỷ lệ dự họp (không tính đảng viên miễn sinh "
            f"hoạt): {summary.percent:.1f}%.",
        ),
    ]
    absentees = [r for r in rows if not roster.participant(r).present]
    if absentees:
        blocks.append(Block("para", "Đảng viên vắng mặt:"))
        for r in absentees:
            blocks.append(
                Block("bullet", f"Đồng chí {r.full_name} ({STATUS_VI.get(r.status, r.status)}): {absence_reason(r)}.")
            )
    blocks.append(Block("heading", "4. Nội dung"))
    items = meetings.agenda(conn, m.id)
    for i, item in enumerate(items, start=1):
        blocks.append(Block("bullet", f"{i}. {item.title}" + (f" — {item.description}" if item.description else "")))
    if not items:
        blocks.append(Block("para", "(không có chương trình nghị sự)"))
    docs = meetings.documents(conn, m.id)
    if docs:
        names = "; ".join(d.title or d.document_id for d in docs)
        blocks.append(Block("para", f"Tài liệu gửi đảng viên trước cuộc họp: {names}."))
    blocks.append(Block("heading", "5. Thảo luận"))
    said = opinions.all_for(conn, m.id)
    titles = {item.id: item.title for item in items}
    for o in said:
        where = "phát biểu tại cuộc họp" if o.source == "spoken" else "ý kiến trên ứng dụng"
        about = f" [{titles[o.agenda_item_id]}]" if o.agenda_item_id in titles else ""
        blocks.append(Block("bullet", f"Đồng chí {o.speaker_name} ({where}){about}: {o.text}"))
    if not said:
        blocks.append(Block("para", "(không có ý kiến)"))
    blocks.append(Block("heading", "6. Biểu quyết"))
    polls, _ = voting.list_polls(conn, m.id, 0, 1000)
    for p in polls:
        blocks += poll_blocks(p)
    if not polls:
        blocks.append(Block("para", "(không có biểu quyết)"))
    blocks.append(Block("heading", "7. Kết luận"))
    blocks.append(Block("para", m.conclusion or "…"))
    if m.resolution_text:
        blocks.append(Block("para", f"Nghị quyết: {m.resolution_text}"))
    grade = evaluation.summary(conn, m.id, rubric)
    if grade.official is not None:
        blocks.append(Block("heading", "8. Đánh giá chất lượng sinh hoạt"))
        blocks.append(
            Block(
                "para",
                f"Chi bộ tự chấm {grade.official.total}/{rubric.max_points} điểm, xếp loại "
                f"{grade.official.rating_label}."
                + (
                    f" Đảng viên đánh giá: {grade.count} ý kiến, bình quân {grade.average} điểm." if grade.count else ""
                ),
            )
        )
    blocks.append(Block("heading", "9. Bế mạc"))
    blocks.append(
        Block(
            "para",
            "Biên bản đã được đọc lại trước chi bộ và được các đồng chí dự họp nhất trí thông qua. "
            f"Cuộc họp kết thúc lúc {vn_time(m.closed_at)}.",
        )
    )
    blocks.append(
        Block(
            "signatures",
            f"THƯ KÝ\n{name_of(people, m.minutes_secretary_member_id)}",
            f"CHỦ TRÌ\n{name_of(people, m.chair_member_id)}",
        )
    )
    return m, blocks


def absence_reason(r: Any) -> str:
    if r.session_status in SESSION_VI:
        text = SESSION_VI[r.session_status]
        return f"{text} ({r.session_reason})" if r.session_reason else text
    if r.attendance == charter.ABSENT_EXCUSED:
        return f"vắng có lý do ({r.attendance_reason})"
    if r.attendance == charter.ABSENT_UNEXCUSED:
        return f"vắng không lý do ({r.attendance_reason})" if r.attendance_reason else "vắng không lý do"
    if r.exempt:
        return "miễn công tác và sinh hoạt đảng"
    return "chưa điểm danh"


def poll_blocks(p: Any) -> list[Block]:
    ballot = "bỏ phiếu kín" if p.ballot == "secret" else "biểu quyết công khai"
    out = [Block("para", f"Biểu quyết: {p.question} (hình thức: {ballot}).")]
    if p.state != "closed":
        out.append(Block("bullet", f"Đang biểu quyết: {p.votes_cast} phiếu trên ứng dụng."))
        return out
    approve = p.app_approve + p.room_approve
    reject = p.app_reject + p.room_reject
    abstain = p.app_abstain + p.room_abstain
    out += [
        Block("bullet", f"Tán thành: {approve} (trên ứng dụng {p.app_approve}, tại cuộc họp {p.room_approve})."),
        Block("bullet", f"Không tán thành: {reject} (trên ứng dụng {p.app_reject}, tại cuộc họp {p.room_reject})."),
        Block("bullet", f"Ý kiến khác: {abstain} (trên ứng dụng {p.app_abstain}, tại cuộc họp {p.room_abstain})."),
        Block(
            "bullet",
            f"Số đảng viên chính thức làm căn cứ tính: {p.denominator} (= {p.official} chính thức"
            + "".join(
                f" - {n} {label}"
                for n, label in (
                    (p.excl_transferred, "chuyển sinh hoạt tạm thời"),
                    (p.excl_suspended, "đình chỉ / tạm giam"),
                    (p.excl_excused, "được vắng cả kỳ họp"),
                    (p.excl_absent_exempt, "miễn sinh hoạt vắng mặt"),
                )
                if n
            )
            + f"); cần quá một nửa: ít nhất {p.denominator // 2 + 1}.",
        ),
        Block(
            "bullet",
            f"Kết quả: {approve}/{p.denominator} tán thành — " + ("THÔNG QUA." if p.passed else "KHÔNG THÔNG QUA."),
        ),
    ]
    return out
