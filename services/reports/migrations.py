"""Reports' schema: read models built from the other services' events (consumers.py) and the
rollout exemptions this service owns. Ids are the producing services' ids; days are ISO dates;
`{path}` columns hold unit paths '/<root id>/.../<unit id>/' compared byte-wise."""

from services.core.db import Migration
from services.core.outbox import OUTBOX_MIGRATIONS, OUTBOX_STATEMENTS
from services.reports.consumers import ACTIVE_ROLLUP_REBUILD, READ_ROLLUP_REBUILD, STUDY_ROLLUP_REBUILD

MIGRATIONS = [
    *OUTBOX_MIGRATIONS,  # the event log's own (versions 1001+), applied after the first
    Migration(
        1,
        "read models: units, members, activity, meetings, documents, study, feedback; rollout exemptions",
        (
            *OUTBOX_STATEMENTS,
            "CREATE TABLE units (id TEXT PRIMARY KEY, parent_id TEXT, path {path} NOT NULL, "
            "name TEXT NOT NULL, kind TEXT NOT NULL, active BOOLEAN NOT NULL)",
            "CREATE INDEX units_path ON units (path)",
            # The roster as it stands: what identity.member.* events said last.
            "CREATE TABLE members (id TEXT PRIMARY KEY, unit_id TEXT NOT NULL, status TEXT NOT NULL, "
            "gender TEXT NOT NULL, exempt BOOLEAN NOT NULL, active BOOLEAN NOT NULL, activated_on TEXT)",
            "CREATE INDEX members_unit ON members (unit_id) WHERE active",
            # Days of a month a member signed in: bit d-1 of `days` for day d (no finer data).
            "CREATE TABLE member_activity (member_id TEXT NOT NULL, month TEXT NOT NULL, "
            "days BIGINT NOT NULL, PRIMARY KEY (member_id, month))",
            "CREATE INDEX member_activity_month ON member_activity (month, member_id)",
            # Meetings held, the latest meetings.meeting.held snapshot of each.
            "CREATE TABLE meetings (id TEXT PRIMARY KEY, cell_unit_id TEXT NOT NULL, kind TEXT NOT NULL, "
            "month TEXT NOT NULL, day TEXT NOT NULL, part1 BOOLEAN NOT NULL, part2 BOOLEAN NOT NULL, "
            "part3 BOOLEAN NOT NULL, attended INTEGER NOT NULL, expected INTEGER NOT NULL, "
            "rating TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX meetings_cell_day ON meetings (cell_unit_id, day)",
            "CREATE TABLE documents (id TEXT PRIMARY KEY, publisher_unit_id TEXT NOT NULL, "
            "category TEXT NOT NULL, doc_type TEXT NOT NULL, day TEXT NOT NULL)",
            "CREATE INDEX documents_publisher_day ON documents (publisher_unit_id, day)",
            "CREATE TABLE study_marks (document_id TEXT NOT NULL, member_id TEXT NOT NULL, day TEXT NOT NULL, "
            "PRIMARY KEY (document_id, member_id))",
            "CREATE INDEX study_marks_member_day ON study_marks (member_id, day)",
            "CREATE TABLE feedback (id TEXT PRIMARY KEY, unit_id TEXT NOT NULL, received_on TEXT, "
            "answered_on TEXT, answered_by_unit_id TEXT)",
            "CREATE INDEX feedback_unit ON feedback (unit_id)",
            "CREATE TABLE feedback_escalations (feedback_id TEXT NOT NULL, from_unit_id TEXT NOT NULL, "
            "day TEXT NOT NULL, PRIMARY KEY (feedback_id, from_unit_id))",
            # Owned here: cells exempt from the rollout (reported apart).
            "CREATE TABLE rollout_exemptions (unit_id TEXT PRIMARY KEY, reason TEXT NOT NULL, "
            "set_by_account_id TEXT NOT NULL, set_at DOUBLE PRECISION NOT NULL)",
        ),
    ),
    Migration(
        2,
        "read models: bulletins, their audiences and reads; tasks",
        (
            "CREATE TABLE bulletins (id TEXT PRIMARY KEY, publisher_unit_id TEXT NOT NULL, kind TEXT NOT NULL, "
            "day TEXT NOT NULL, withdrawn BOOLEAN NOT NULL)",
            "CREATE INDEX bulletins_day ON bulletins (day)",
            "CREATE TABLE bulletin_audience (bulletin_id TEXT NOT NULL, unit_id TEXT NOT NULL, "
            "PRIMARY KEY (bulletin_id, unit_id))",
            "CREATE TABLE bulletin_reads (bulletin_id TEXT NOT NULL, member_id TEXT NOT NULL, "
            "PRIMARY KEY (bulletin_id, member_id))",
            "CREATE INDEX bulletin_reads_member ON bulletin_reads (member_id, bulletin_id)",
            # The latest meetings.task.state snapshot of each task.
            "CREATE TABLE tasks (id TEXT PRIMARY KEY, cell_unit_id TEXT NOT NULL, due_on TEXT NOT NULL, "
            "status TEXT NOT NULL, done_on TEXT, updated_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX tasks_cell_due ON tasks (cell_unit_id, due_on)",
        ),
    ),
    Migration(
        3,
        "roll-up: bulletin reads per unit of the reading member (consumers.py keeps it), filled from the reads",
        (
            "CREATE TABLE unit_bulletin_reads (unit_id TEXT NOT NULL, bulletin_id TEXT NOT NULL, "
            "n INTEGER NOT NULL, PRIMARY KEY (unit_id, bulletin_id))",
            READ_ROLLUP_REBUILD,
        ),
    ),
    Migration(
        4,
        "roll-ups: months of each year a member signed in / studied in (consumers.py keeps them), filled",
        (
            "CREATE TABLE active_years (member_id TEXT NOT NULL, year TEXT NOT NULL, months INTEGER NOT NULL, "
            "PRIMARY KEY (member_id, year))",
            ACTIVE_ROLLUP_REBUILD,
            "CREATE TABLE study_years (member_id TEXT NOT NULL, year TEXT NOT NULL, months INTEGER NOT NULL, "
            "PRIMARY KEY (member_id, year))",
            STUDY_ROLLUP_REBUILD,
        ),
    ),
]
