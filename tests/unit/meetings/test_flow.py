"""A whole meeting in three parts through the gRPC API, and the compliance report it feeds."""

from __future__ import annotations

import grpc
import sqlalchemy as sa

from sotay.identity.v1 import identity_pb2 as ipb
from sotay.meetings.v1 import meetings_pb2 as pb
from tests.unit.meetings.conftest import STANDARD, World, expect_error, new_meeting, started, vote


def full_scores(w: World, points: dict[str, int] | None = None) -> list[pb.CriterionScore]:
    rubric = w.stub.GetRubric(pb.GetRubricRequest(), metadata=w.admin).rubric
    points = points or {}
    # Criteria the record decides are left out unless given: the service fills them in from the record.
    return [
        pb.CriterionScore(criterion_id=c.id, points=points.get(c.id, c.max_points))
        for c in rubric.criteria
        if c.id in points or not c.computed
    ]


def test_three_parts_end_to_end(world: World) -> None:
    w = world
    commune = w.unit("Đảng ủy xã Đồng Đăng", ipb.UNIT_KIND_COMMUNE, w.identity.root_id)
    cell = w.cell("Chi bộ Khối 1", commune, STANDARD)
    sec = cell.secretary.auth
    m = new_meeting(w, cell)
    assert m.state == pb.MEETING_STATE_DRAFT and len(m.agenda) == 2 and m.cell_name == "Chi bộ Khối 1"
    # Part 1: documents, announcement (roster snapshot + outbox event), who opened them.
    doc = w.document()
    w.stub.AttachDocument(pb.AttachDocumentRequest(meeting_id=m.id, document_id=doc, title="Dự thảo"), metadata=sec)
    m = w.stub.AnnounceMeeting(pb.AnnounceMeetingRequest(meeting_id=m.id), metadata=sec).meeting
    assert m.state == pb.MEETING_STATE_ANNOUNCED and m.roster_size == len(STANDARD)
    reader = cell.by_name("Trần Thị An")
    w.stub.RecordDocumentOpened(pb.RecordDocumentOpenedRequest(meeting_id=m.id, document_id=doc), metadata=reader.auth)
    w.stub.RecordDocumentOpened(pb.RecordDocumentOpenedRequest(meeting_id=m.id, document_id=doc), metadata=reader.auth)
    opens = w.stub.ListDocumentOpens(pb.ListDocumentOpensRequest(meeting_id=m.id), metadata=sec).opens
    assert [(o.full_name, o.times) for o in opens] == [("Trần Thị An", 2)]
    with w.db.read() as conn:
        events = conn.execute(sa.text("SELECT topic, payload FROM outbox ORDER BY created_at")).all()
    assert [e.topic for e in events] == ["meetings.meeting.announced"]
    assert doc in events[0].payload and reader.member_id in events[0].payload
    # Part 2: attendance, opinions, vote, evaluation.
    m = w.stub.StartMeeting(
        pb.StartMeetingRequest(meeting_id=m.id, minutes_secretary_member_id=reader.member_id), metadata=sec
    ).meeting
    assert m.chair_member_id == cell.secretary.member_id
    for p in cell.people[:7]:
        w.stub.CheckIn(pb.CheckInRequest(meeting_id=m.id, idempotency_key="k1"), metadata=p.auth)
    w.stub.RecordAttendance(
        pb.RecordAttendanceRequest(
            meeting_id=m.id,
            member_id=cell.by_name("Lương Thị Dự Bị").member_id,
            attendance=pb.ATTENDANCE_STATUS_PRESENT,
            mode=pb.ATTENDANCE_MODE_IN_PERSON,
        ),
        metadata=sec,
    )
    w.stub.RecordAttendance(
        pb.RecordAttendanceRequest(
            meeting_id=m.id,
            member_id=cell.by_name("Hà Thị Chuyển").member_id,
            attendance=pb.ATTENDANCE_STATUS_ABSENT_EXCUSED,
            reason="Đi công tác",
        ),
        metadata=sec,
    )
    w.stub.AddOpinion(
        pb.AddOpinionRequest(
            meeting_id=m.id, agenda_item_id=m.agenda[0].id, text="Tôi đồng ý.", idempotency_key="op-1"
        ),
        metadata=reader.auth,
    )
    w.stub.AddOpinion(
        pb.AddOpinionRequest(
            meeting_id=m.id, agenda_item_id=m.agenda[0].id, text="Tôi đồng ý.", idempotency_key="op-1"
        ),
        metadata=reader.auth,
    )
    w.stub.AddOpinion(
        pb.AddOpinionRequest(
            meeting_id=m.id,
            agenda_item_id=m.agenda[1].id,
            text="Cần làm rõ kinh phí.",
            speaker_member_id=cell.by_name("Lê Văn Bình").member_id,
        ),
        metadata=sec,
    )
    said = w.stub.ListOpinions(pb.ListOpinionsRequest(meeting_id=m.id), metadata=reader.auth).opinions
    assert [(o.speaker_name, o.source) for o in said] == [
        ("Trần Thị An", pb.OPINION_SOURCE_TYPED),
        ("Lê Văn Bình", pb.OPINION_SOURCE_SPOKEN),
    ]
    poll = w.stub.OpenPoll(
        pb.OpenPollRequest(
            meeting_id=m.id,
            question="Thông qua nghị quyết tháng 3",
            kind=pb.POLL_KIND_RESOLUTION_ADOPTION,
            ballot=pb.BALLOT_TYPE_OPEN,
        ),
        metadata=sec,
    ).poll
    for p in cell.people[:6]:
        vote(w, poll.id, p, pb.VOTE_CHOICE_APPROVE)
    vote(w, poll.id, cell.people[6], pb.VOTE_CHOICE_REJECT)
    closed = w.stub.ClosePoll(pb.ClosePollRequest(poll_id=poll.id), metadata=sec).poll
    # 9 official - 1 absent exempt = 8; 6 > 8/2.
    assert closed.result.denominator == 8 and closed.result.total.approve == 6 and closed.result.passed
    named = w.stub.ListPollVotes(pb.ListPollVotesRequest(poll_id=poll.id), metadata=reader.auth).votes
    assert len(named) == 7
    a = w.stub.SubmitEvaluation(
        pb.SubmitEvaluationRequest(meeting_id=m.id, scores=full_scores(w, {"att_rate": 10}), official=True),
        metadata=sec,
    ).assessment
    # att_rate given 10 of 15; close_follow_up filled in as 0 (the resolution is not published yet).
    assert (a.total, a.rating_code) == (85, "kha")
    w.stub.SubmitEvaluation(
        pb.SubmitEvaluationRequest(meeting_id=m.id, scores=full_scores(w, {"con_discussion": 0})), metadata=reader.auth
    )
    ev = w.stub.GetEvaluation(pb.GetEvaluationRequest(meeting_id=m.id), metadata=sec)
    assert ev.official.total == 85 and ev.member_assessments == 1 and ev.member_average_points == 75.0
    m = w.stub.CloseMeeting(
        pb.CloseMeetingRequest(meeting_id=m.id, conclusion="Chi bộ thống nhất."), metadata=sec
    ).meeting
    assert m.state == pb.MEETING_STATE_CLOSED
    # Part 3: resolution, tasks, progress.
    m = w.stub.PublishResolution(
        pb.PublishResolutionRequest(meeting_id=m.id, text="Nghị quyết tháng 3 ..."), metadata=sec
    ).meeting
    assert m.state == pb.MEETING_STATE_RESOLUTION_PUBLISHED and m.resolution.text
    task = w.stub.AssignTask(
        pb.AssignTaskRequest(
            meeting_id=m.id,
            title="Vận động hội viên",
            due_on="2026-03-31",
            assignee_member_ids=[reader.member_id],
            idempotency_key="t1",
        ),
        metadata=sec,
    ).task
    again = w.stub.AssignTask(
        pb.AssignTaskRequest(
            meeting_id=m.id,
            title="Vận động hội viên",
            due_on="2026-03-31",
            assignee_member_ids=[reader.member_id],
            idempotency_key="t1",
        ),
        metadata=sec,
    ).task
    assert again.id == task.id
    task = w.stub.ReportTaskProgress(
        pb.ReportTaskProgressRequest(task_id=task.id, progress_percent=40, note="Đã họp"), metadata=reader.auth
    ).task
    assert task.status == pb.TASK_STATUS_IN_PROGRESS and task.progress_percent == 40
    expect_error(
        grpc.StatusCode.PERMISSION_DENIED,
        "not_cell_officer",
        w.stub.ReportTaskProgress,
        pb.ReportTaskProgressRequest(task_id=task.id, progress_percent=50),
        metadata=cell.by_name("Lê Văn Bình").auth,
    )
    listed = w.stub.ListTasks(pb.ListTasksRequest(cell_unit_id=cell.id), metadata=reader.auth).tasks
    assert [t.id for t in listed] == [task.id]
    # Compliance: this cell did all three parts; a second cell only held a draft-free bare meeting.
    report = w.stub.GetComplianceReport(
        pb.GetComplianceReportRequest(unit_id=commune, month="2026-03"), metadata=w.admin
    )
    assert report.totals.cells == 1 and report.totals.cells_all_three_parts == 1
    part = report.cells[0].meeting_parts[0]
    assert (part.part1_documents, part.part2_meeting, part.part3_follow_up, part.documents_opened_by) == (
        True,
        True,
        True,
        1,
    )


def test_live_state_versions_and_not_modified(world: World) -> None:
    w = world
    cell = w.cell("Chi bộ Live", w.identity.root_id, STANDARD[:4])
    m = started(w, cell, present=[])
    first = w.stub.GetLiveState(pb.GetLiveStateRequest(meeting_id=m.id), metadata=cell.people[1].auth)
    assert first.attendance.present == 0 and not first.not_modified
    same = w.stub.GetLiveState(
        pb.GetLiveStateRequest(meeting_id=m.id, since_version=first.version), metadata=cell.people[1].auth
    )
    assert same.not_modified and same.version == first.version and not same.HasField("attendance")
    w.stub.CheckIn(pb.CheckInRequest(meeting_id=m.id), metadata=cell.people[2].auth)
    after = w.stub.GetLiveState(
        pb.GetLiveStateRequest(meeting_id=m.id, since_version=first.version), metadata=cell.people[1].auth
    )
    assert after.version > first.version and after.attendance.present == 1
    poll = w.stub.OpenPoll(
        pb.OpenPollRequest(meeting_id=m.id, question="Q", ballot=pb.BALLOT_TYPE_SECRET), metadata=cell.secretary.auth
    ).poll
    opened = w.stub.GetLiveState(
        pb.GetLiveStateRequest(meeting_id=m.id, since_version=after.version), metadata=cell.people[1].auth
    )
    assert opened.version > after.version and opened.polls[0].state == pb.POLL_STATE_OPEN
    vote(w, poll.id, cell.people[2], pb.VOTE_CHOICE_APPROVE)
    voted = w.stub.GetLiveState(
        pb.GetLiveStateRequest(meeting_id=m.id, since_version=opened.version), metadata=cell.people[1].auth
    )
    assert voted.polls[0].votes_cast == 1 and not voted.polls[0].HasField("result")
