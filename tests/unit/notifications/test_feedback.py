"""Feedback (phản ánh – kiến nghị): routing to the right handlers, answering, escalation, statistics,
and nobody else reading it."""

from __future__ import annotations

import time

import grpc
import pytest
import sqlalchemy as sa

from services.notifications import feedback
from sotay.identity.v1 import identity_pb2 as ipb
from sotay.notifications.v1 import notifications_pb2 as pb
from tests.unit.notifications.conftest import (
    ADMIN_A,
    EDITOR,
    MEMBER_A1,
    MEMBER_A2,
    MEMBER_B1,
    SECRETARY_A1,
    World,
    expect_error,
)


def submit(w: World, login: str, unit: str, subject: str = "Đường làng xuống cấp", key: str = "") -> pb.Feedback:
    return w.stub.SubmitFeedback(pb.SubmitFeedbackRequest(
        unit_id=w.units[unit], subject=subject, body="Đề nghị chi bộ kiến nghị sửa đường.",
        idempotency_key=key), metadata=w.token(login)).feedback


def test_routing_answer_and_notification(world: World) -> None:
    w = world
    item = submit(w, MEMBER_A1, "cell_a1", key="fb-1")
    assert submit(w, MEMBER_A1, "cell_a1", key="fb-1").id == item.id  # a retry is recorded once
    assert item.status == pb.FEEDBACK_STATUS_RECEIVED and item.unit_id == w.units["cell_a1"]
    # The cell secretary (a handler of the cell) sees it; so does the commune admin.
    listed = w.stub.ListFeedback(pb.ListFeedbackRequest(unit_id=w.units["cell_a1"]), metadata=w.token(SECRETARY_A1))
    assert [f.id for f in listed.items] == [item.id]
    sub = w.stub.ListFeedback(pb.ListFeedbackRequest(unit_id=w.units["commune_a"], subtree=True),
                              metadata=w.token(ADMIN_A))
    assert [f.id for f in sub.items] == [item.id]
    w.stub.UpdateFeedbackStatus(pb.UpdateFeedbackStatusRequest(id=item.id, status=pb.FEEDBACK_STATUS_IN_PROGRESS),
                                metadata=w.token(SECRETARY_A1))
    req = pb.AnswerFeedbackRequest(id=item.id, answer="Chi bộ đã kiến nghị với xã.", idempotency_key="ans-1")
    answered = w.stub.AnswerFeedback(req, metadata=w.token(SECRETARY_A1)).feedback
    w.stub.AnswerFeedback(req, metadata=w.token(SECRETARY_A1))  # retried: one answer, one notification
    assert answered.status == pb.FEEDBACK_STATUS_ANSWERED and answered.answer == "Chi bộ đã kiến nghị với xã."
    mine = w.stub.GetFeedback(pb.GetFeedbackRequest(id=item.id), metadata=w.token(MEMBER_A1))
    assert mine.feedback.answer == answered.answer
    assert [e.action for e in mine.history] == ["received", "in_progress", "answered"]
    notes = w.stub.ListInbox(pb.ListInboxRequest(filter=pb.INBOX_FILTER_PERSONAL), metadata=w.token(MEMBER_A1))
    assert [(n.notification_kind, n.link.feedback_id) for n in notes.items] == [
        (pb.NOTIFICATION_KIND_FEEDBACK_ANSWERED, item.id)]
    closed = w.stub.UpdateFeedbackStatus(pb.UpdateFeedbackStatusRequest(id=item.id, status=pb.FEEDBACK_STATUS_CLOSED),
                                         metadata=w.token(MEMBER_A1)).feedback
    assert closed.status == pb.FEEDBACK_STATUS_CLOSED
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "feedback_closed", w.stub.AnswerFeedback,
                 pb.AnswerFeedbackRequest(id=item.id, answer="lại"), metadata=w.token(SECRETARY_A1))
    assert [f.id for f in w.stub.ListMyFeedback(pb.ListMyFeedbackRequest(), metadata=w.token(MEMBER_A1)).items] == [
        item.id]


def test_nobody_else_reads_feedback_and_bad_input(world: World) -> None:
    w = world
    item = submit(w, MEMBER_A1, "cell_a1")
    for login in (MEMBER_A2, MEMBER_B1, EDITOR):  # another member, another cell, an editor of the province
        expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", w.stub.GetFeedback,
                     pb.GetFeedbackRequest(id=item.id), metadata=w.token(login))
        expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", w.stub.AnswerFeedback,
                     pb.AnswerFeedbackRequest(id=item.id, answer="x"), metadata=w.token(login))
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_handler", w.stub.ListFeedback,
                 pb.ListFeedbackRequest(unit_id=w.units["cell_a1"]), metadata=w.token(MEMBER_A2))
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_handler", w.stub.ListFeedback,
                 pb.ListFeedbackRequest(unit_id=w.units["commune_a"], subtree=True), metadata=w.token(SECRETARY_A1))
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_handler", w.stub.UpdateFeedbackStatus,
                 pb.UpdateFeedbackStatusRequest(id=item.id, status=pb.FEEDBACK_STATUS_IN_PROGRESS),
                 metadata=w.token(MEMBER_A1))  # the submitter cannot take it up themselves
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_handler", w.stub.GetFeedbackStats,
                 pb.GetFeedbackStatsRequest(unit_id=w.units["commune_a"]), metadata=w.token(MEMBER_A1))
    # Only to one's own cell or an ancestor.
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "unit_not_in_ancestry", submit, w, MEMBER_A1, "commune_b")
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "unit_not_in_ancestry", submit, w, MEMBER_A1, "cell_a2")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "subject_required", submit, w, MEMBER_A1, "cell_a1", " ")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "unit_required", w.stub.SubmitFeedback,
                 pb.SubmitFeedbackRequest(subject="x", body="y"), metadata=w.token(MEMBER_A1))
    expect_error(grpc.StatusCode.NOT_FOUND, "feedback_not_found", w.stub.GetFeedback,
                 pb.GetFeedbackRequest(id="garbage"), metadata=w.token(MEMBER_A1))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid_status", w.stub.UpdateFeedbackStatus,
                 pb.UpdateFeedbackStatusRequest(id=item.id, status=pb.FEEDBACK_STATUS_ANSWERED),
                 metadata=w.token(SECRETARY_A1))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid_status", w.stub.UpdateFeedbackStatus,
                 pb.UpdateFeedbackStatusRequest(id=item.id, status=77), metadata=w.token(SECRETARY_A1))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "answer_required", w.stub.AnswerFeedback,
                 pb.AnswerFeedbackRequest(id=item.id, answer="  "), metadata=w.token(SECRETARY_A1))


def test_unanswered_feedback_escalates_to_the_parent_unit(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world
    monkeypatch.setenv("FEEDBACK_ESCALATION_DAYS", "7")
    item = submit(w, MEMBER_A1, "cell_a1")
    answered = submit(w, MEMBER_A1, "cell_a1", "Đã xử lý")
    w.stub.AnswerFeedback(pb.AnswerFeedbackRequest(id=answered.id, answer="Xong"), metadata=w.token(SECRETARY_A1))
    assert feedback.escalate_once(w.db, time.time() + 6 * 86400) == 0
    assert feedback.escalate_once(w.db, time.time() + 8 * 86400) == 1  # only the unanswered one
    moved = w.stub.GetFeedback(pb.GetFeedbackRequest(id=item.id), metadata=w.token(MEMBER_A1))
    assert moved.feedback.unit_id == w.units["commune_a"] and moved.feedback.escalations == 1
    assert moved.feedback.target_unit_id == w.units["cell_a1"]
    assert moved.history[-1].action == "escalated"
    # Now with the commune: its admin lists it at the unit; the cell secretary still sees it.
    at_commune = w.stub.ListFeedback(pb.ListFeedbackRequest(unit_id=w.units["commune_a"]), metadata=w.token(ADMIN_A))
    assert [f.id for f in at_commune.items] == [item.id]
    w.stub.GetFeedback(pb.GetFeedbackRequest(id=item.id), metadata=w.token(SECRETARY_A1))
    kinds = [n.notification_kind for n in w.stub.ListInbox(
        pb.ListInboxRequest(filter=pb.INBOX_FILTER_PERSONAL), metadata=w.token(MEMBER_A1)).items]
    assert pb.NOTIFICATION_KIND_FEEDBACK_ESCALATED in kinds
    # Up again to the province, then it stays at the top.
    assert feedback.escalate_once(w.db, time.time() + 16 * 86400) == 1
    assert feedback.escalate_once(w.db, time.time() + 24 * 86400) == 0
    top = w.stub.GetFeedback(pb.GetFeedbackRequest(id=item.id), metadata=w.admin).feedback
    assert top.unit_id == w.units["province"] and top.escalations == 2
    stats = w.stub.GetFeedbackStats(pb.GetFeedbackStatsRequest(unit_id=w.units["province"]), metadata=w.admin)
    assert (stats.total.received, stats.total.answered, stats.total.escalated) == (1, 1, 1)
    assert {u.unit_id: (u.received, u.answered) for u in stats.units} == {
        w.units["province"]: (1, 0), w.units["cell_a1"]: (0, 1)}
    commune = w.stub.GetFeedbackStats(pb.GetFeedbackStatsRequest(unit_id=w.units["commune_a"]),
                                      metadata=w.token(ADMIN_A))
    assert commune.total.answered == 1 and commune.total.mean_answer_seconds >= 0


def test_cell_deputy_is_a_handler_but_a_committee_member_is_not(world: World) -> None:
    w = world
    w.add_member("0911000010", "cell_a1", "Phó Bí thư", position=ipb.CELL_POSITION_DEPUTY_SECRETARY)
    w.add_member("0911000011", "cell_a1", "Chi ủy viên", position=ipb.CELL_POSITION_COMMITTEE_MEMBER)
    item = submit(w, MEMBER_A1, "cell_a1")
    w.stub.GetFeedback(pb.GetFeedbackRequest(id=item.id), metadata=w.token("0911000010"))
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", w.stub.GetFeedback,
                 pb.GetFeedbackRequest(id=item.id), metadata=w.token("0911000011"))
    # Feedback to the commune is not for the cell's officers.
    up = submit(w, MEMBER_A1, "commune_a")
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", w.stub.GetFeedback,
                 pb.GetFeedbackRequest(id=up.id), metadata=w.token(SECRETARY_A1))
    w.stub.GetFeedback(pb.GetFeedbackRequest(id=up.id), metadata=w.token(ADMIN_A))


def test_committee_assigns_escalates_and_sees_the_median(world: World) -> None:
    w = world
    w.add_member("0911000012", "cell_a2", "Ủy viên Ban Thường vụ xã A")
    w.grant("0911000012", ipb.ROLE_EDITOR, "commune_a")  # holds a role on the commune: may be assigned
    staff = w.members["0911000012"].account_id
    item = submit(w, MEMBER_A1, "commune_a", "Cấp giấy chứng nhận chậm")
    # Before being assigned, the committee member cannot read it; an account without a role on
    # the unit is refused as an assignee; only handlers assign.
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", w.stub.GetFeedback,
                 pb.GetFeedbackRequest(id=item.id), metadata=w.token("0911000012"))
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "assignee_without_role", w.stub.AssignFeedback,
                 pb.AssignFeedbackRequest(id=item.id, account_id=w.members[MEMBER_A2].account_id),
                 metadata=w.token(ADMIN_A))
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_allowed", w.stub.AssignFeedback,
                 pb.AssignFeedbackRequest(id=item.id, account_id=staff), metadata=w.token(MEMBER_A2))
    expect_error(grpc.StatusCode.NOT_FOUND, "account_not_found", w.stub.AssignFeedback,
                 pb.AssignFeedbackRequest(id=item.id, account_id="garbage"), metadata=w.token(ADMIN_A))
    assigned = w.stub.AssignFeedback(pb.AssignFeedbackRequest(id=item.id, account_id=staff, note="Đồng chí xử lý"),
                                     metadata=w.token(ADMIN_A)).feedback
    assert assigned.assignee_account_id == staff and assigned.assigned_at.seconds > 0
    # The assignee now reads and answers it.
    seen = w.stub.GetFeedback(pb.GetFeedbackRequest(id=item.id), metadata=w.token("0911000012"))
    assert seen.history[-1].action == "assigned" and seen.history[-1].note == f"{staff}: Đồng chí xử lý"
    w.stub.AnswerFeedback(pb.AnswerFeedbackRequest(id=item.id, answer="Đã đôn đốc bộ phận một cửa."),
                          metadata=w.token("0911000012"))
    # Answered items are not assigned or escalated any more.
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "feedback_not_open", w.stub.EscalateFeedback,
                 pb.EscalateFeedbackRequest(id=item.id), metadata=w.token(ADMIN_A))
    # A cell's item escalated by its secretary now: at the commune, assignment cleared, member told.
    other = submit(w, MEMBER_A1, "cell_a1", "Vượt thẩm quyền chi bộ")
    expect_error(grpc.StatusCode.PERMISSION_DENIED, "not_handler", w.stub.EscalateFeedback,
                 pb.EscalateFeedbackRequest(id=other.id), metadata=w.token(MEMBER_A1))
    up = w.stub.EscalateFeedback(pb.EscalateFeedbackRequest(id=other.id, note="Thuộc thẩm quyền xã"),
                                 metadata=w.token(SECRETARY_A1)).feedback
    assert (up.unit_id, up.escalations, up.status) == (w.units["commune_a"], 1, pb.FEEDBACK_STATUS_RECEIVED)
    history = w.stub.GetFeedback(pb.GetFeedbackRequest(id=other.id), metadata=w.token(ADMIN_A)).history
    assert (history[-1].action, history[-1].note, history[-1].unit_id) == (
        "escalated", "Thuộc thẩm quyền xã", w.units["commune_a"])
    kinds = [n.notification_kind for n in w.stub.ListInbox(
        pb.ListInboxRequest(filter=pb.INBOX_FILTER_PERSONAL), metadata=w.token(MEMBER_A1)).items]
    assert pb.NOTIFICATION_KIND_FEEDBACK_ESCALATED in kinds
    top = submit(w, MEMBER_A1, "province", "Gửi Tỉnh ủy")
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, "no_unit_above", w.stub.EscalateFeedback,
                 pb.EscalateFeedbackRequest(id=top.id), metadata=w.admin)
    # Median and mean time to answer, over answered items: 100 s, 300 s and 2,000 s.
    made = [(s, submit(w, MEMBER_A2, "commune_a", subject).id) for s, subject in ((100, "một"), (300, "hai"),
                                                                                 (2000, "ba"))]
    with w.db.write() as conn:
        for seconds, made_id in made:
            conn.execute(sa.text("UPDATE feedback SET status = 'answered', answered_at = created_at + :s, "
                                 "answer = 'x' WHERE id = :id"), {"s": seconds, "id": made_id})
        conn.execute(sa.text("UPDATE feedback SET answered_at = created_at + 200 WHERE id = :id"), {"id": item.id})
    stats = w.stub.GetFeedbackStats(pb.GetFeedbackStatsRequest(unit_id=w.units["commune_a"]),
                                    metadata=w.token(ADMIN_A))
    assert stats.total.with_answer == 4
    assert stats.total.median_answer_seconds == pytest.approx(250)
    assert stats.total.mean_answer_seconds == pytest.approx(650)
    assert (stats.total.received, stats.total.answered) == (1, 4)
