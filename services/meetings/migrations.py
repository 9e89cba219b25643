"""The meetings service's schema. Times are epoch seconds; dates ISO text; ids UUIDs.

Secret ballots (see ballots.py) use three tables that share no column but the poll id:
`poll_voters` (who voted: no choice, no time), `sealed_ballots` (choices encrypted while the poll
is open: no voter) and `ballots` (choices written once, shuffled, when the poll closes: no voter,
no time, a random integer key, which is also SQLite's rowid, so storage order is random).
"""

from services.core.db import Migration
from services.core.outbox import OUTBOX_MIGRATIONS, OUTBOX_STATEMENTS

MIGRATIONS = [
    *OUTBOX_MIGRATIONS,  # the event log's own (versions 1001+), applied after the first
    Migration(
        1,
        "meetings, roster, attendance, opinions, polls, ballots, evaluations, tasks",
        (
            *OUTBOX_STATEMENTS,
            "CREATE TABLE meetings (id TEXT PRIMARY KEY, cell_unit_id TEXT NOT NULL, cell_name TEXT NOT NULL, "
            "kind TEXT NOT NULL, title TEXT NOT NULL, state TEXT NOT NULL, starts_at DOUBLE PRECISION NOT NULL, "
            "ends_at DOUBLE PRECISION, month TEXT NOT NULL, place TEXT NOT NULL, mode TEXT NOT NULL, "
            "session_id TEXT NOT NULL, session_order INTEGER NOT NULL, chair_member_id TEXT, "
            "minutes_secretary_member_id TEXT, conclusion TEXT NOT NULL, resolution_text TEXT, "
            "resolution_document_id TEXT, resolution_published_at DOUBLE PRECISION, "
            "announced_at DOUBLE PRECISION, started_at DOUBLE PRECISION, closed_at DOUBLE PRECISION, "
            "created_by TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL, "
            "live_version BIGINT NOT NULL)",
            "CREATE INDEX meetings_cell ON meetings (cell_unit_id, starts_at)",
            "CREATE INDEX meetings_cell_month ON meetings (cell_unit_id, month)",
            "CREATE INDEX meetings_session ON meetings (session_id, session_order)",
            "CREATE TABLE agenda_items (id TEXT PRIMARY KEY, meeting_id TEXT NOT NULL REFERENCES meetings(id) "
            "ON DELETE CASCADE, position INTEGER NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL)",
            "CREATE INDEX agenda_items_meeting ON agenda_items (meeting_id, position)",
            "CREATE TABLE meeting_documents (meeting_id TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE, "
            "document_id TEXT NOT NULL, title TEXT NOT NULL, attached_at DOUBLE PRECISION NOT NULL, "
            "PRIMARY KEY (meeting_id, document_id))",
            "CREATE TABLE document_opens (meeting_id TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE, "
            "document_id TEXT NOT NULL, member_id TEXT NOT NULL, first_opened_at DOUBLE PRECISION NOT NULL, "
            "times INTEGER NOT NULL, PRIMARY KEY (meeting_id, document_id, member_id))",
            # The roster snapshot taken at the announcement, with this session's statuses.
            "CREATE TABLE roster (meeting_id TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE, "
            "member_id TEXT NOT NULL, account_id TEXT, full_name TEXT NOT NULL, name_order INTEGER NOT NULL, "
            "status TEXT NOT NULL, exempt BOOLEAN NOT NULL, position TEXT NOT NULL, "
            "session_status TEXT NOT NULL, session_reason TEXT NOT NULL, attendance TEXT NOT NULL, "
            "attendance_mode TEXT NOT NULL, attendance_reason TEXT NOT NULL, self_checked_in BOOLEAN NOT NULL, "
            "PRIMARY KEY (meeting_id, member_id))",
            "CREATE TABLE opinions (id TEXT PRIMARY KEY, meeting_id TEXT NOT NULL REFERENCES meetings(id) "
            "ON DELETE CASCADE, agenda_item_id TEXT NOT NULL, speaker_member_id TEXT NOT NULL, "
            "speaker_name TEXT NOT NULL, source TEXT NOT NULL, text TEXT NOT NULL, "
            "recorded_by_member_id TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX opinions_meeting ON opinions (meeting_id, created_at)",
            "CREATE TABLE polls (id TEXT PRIMARY KEY, meeting_id TEXT NOT NULL REFERENCES meetings(id), "
            "agenda_item_id TEXT NOT NULL, question TEXT NOT NULL, kind TEXT NOT NULL, ballot TEXT NOT NULL, "
            "state TEXT NOT NULL, votes_cast INTEGER NOT NULL, key_id TEXT NOT NULL, "
            "room_recorded BOOLEAN NOT NULL, room_approve INTEGER NOT NULL, room_reject INTEGER NOT NULL, "
            "room_abstain INTEGER NOT NULL, app_approve INTEGER, app_reject INTEGER, app_abstain INTEGER, "
            "eligible INTEGER, official INTEGER, excl_transferred INTEGER, excl_suspended INTEGER, "
            "excl_excused INTEGER, excl_absent_exempt INTEGER, denominator INTEGER, passed BOOLEAN, "
            "arithmetic TEXT, opened_at DOUBLE PRECISION NOT NULL, closed_at DOUBLE PRECISION)",
            "CREATE INDEX polls_meeting ON polls (meeting_id, opened_at)",
            # Who voted in a poll: no choice and no time (idempotency_key answers a retry).
            "CREATE TABLE poll_voters (poll_id TEXT NOT NULL REFERENCES polls(id), member_id TEXT NOT NULL, "
            "idempotency_key TEXT NOT NULL, PRIMARY KEY (poll_id, member_id))",
            # Open (named) ballots: who voted what is the point.
            "CREATE TABLE open_votes (poll_id TEXT NOT NULL REFERENCES polls(id), member_id TEXT NOT NULL, "
            "choice TEXT NOT NULL, PRIMARY KEY (poll_id, member_id))",
            # Secret ballots while the poll is open: encrypted, no voter, random key.
            "CREATE TABLE sealed_ballots (id BIGINT PRIMARY KEY, poll_id TEXT NOT NULL REFERENCES polls(id), "
            "sealed TEXT NOT NULL)",
            "CREATE INDEX sealed_ballots_poll ON sealed_ballots (poll_id)",
            # Secret ballots once the poll is closed: shuffled, no voter, no time, random key.
            "CREATE TABLE ballots (id BIGINT PRIMARY KEY, poll_id TEXT NOT NULL REFERENCES polls(id), "
            "choice TEXT NOT NULL)",
            "CREATE INDEX ballots_poll ON ballots (poll_id)",
            "CREATE TABLE evaluations (meeting_id TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE, "
            "kind TEXT NOT NULL, member_id TEXT NOT NULL, full_name TEXT NOT NULL, rubric_id TEXT NOT NULL, "
            "scores TEXT NOT NULL, total INTEGER NOT NULL, rating_code TEXT NOT NULL, "
            "rating_label TEXT NOT NULL, comment TEXT NOT NULL, submitted_at DOUBLE PRECISION NOT NULL, "
            "PRIMARY KEY (meeting_id, kind, member_id))",
            "CREATE TABLE tasks (id TEXT PRIMARY KEY, meeting_id TEXT NOT NULL REFERENCES meetings(id), "
            "cell_unit_id TEXT NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL, due_on TEXT NOT NULL, "
            "status TEXT NOT NULL, progress INTEGER NOT NULL, reminded_due_on TEXT, "
            "created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX tasks_meeting ON tasks (meeting_id, created_at)",
            "CREATE INDEX tasks_cell ON tasks (cell_unit_id, created_at)",
            "CREATE INDEX tasks_due ON tasks (status, due_on)",
            "CREATE TABLE task_assignees (task_id TEXT NOT NULL REFERENCES tasks(id), member_id TEXT NOT NULL, "
            "PRIMARY KEY (task_id, member_id))",
            "CREATE TABLE task_reports (id TEXT PRIMARY KEY, task_id TEXT NOT NULL REFERENCES tasks(id), "
            "member_id TEXT NOT NULL, progress INTEGER NOT NULL, note TEXT NOT NULL, status TEXT NOT NULL, "
            "at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX task_reports_task ON task_reports (task_id, at)",
            "CREATE TABLE idempotency_keys (scope TEXT NOT NULL, key TEXT NOT NULL, result_id TEXT NOT NULL, "
            "created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (scope, key))",
        ),
    ),
]
