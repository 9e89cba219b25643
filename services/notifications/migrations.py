"""Notifications' schema. Timestamps are epoch seconds; ids are UUIDs; `{path}` columns hold
unit paths '/<root id>/.../<unit id>/' compared byte-wise (prefix range scans)."""

from services.core.db import Migration
from services.core.outbox import OUTBOX_MIGRATIONS, OUTBOX_STATEMENTS


def _idempotency_keys(position: str) -> tuple[str, ...]:
    """The table, and the keys of bulletins, feedback ('<account>:<key>') and answers
    ('answer:<account>:<key>') copied into it under the scopes the code uses."""
    rest = "substr(key, 8)"  # '<account>:<key>' of an answer
    return (
        "CREATE TABLE idempotency_keys (scope TEXT NOT NULL, key TEXT NOT NULL, result_id TEXT NOT NULL, "
        "created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (scope, key))",
        "INSERT INTO idempotency_keys (scope, key, result_id, created_at) "
        "SELECT 'bulletin:' || author_account_id, substr(idempotency_key, length(author_account_id) + 2), id, "
        "created_at FROM bulletins WHERE idempotency_key IS NOT NULL",
        "INSERT INTO idempotency_keys (scope, key, result_id, created_at) "
        "SELECT 'feedback:' || account_id, substr(idempotency_key, length(account_id) + 2), id, created_at "
        "FROM feedback WHERE idempotency_key IS NOT NULL",
        "INSERT INTO idempotency_keys (scope, key, result_id, created_at) "
        f"SELECT 'answer:' || substr({rest}, 1, {position}({rest}, ':') - 1), "
        f"substr({rest}, {position}({rest}, ':') + 1), result_id, created_at FROM idempotency",
    )


MIGRATIONS = [
    *OUTBOX_MIGRATIONS,  # the event log's own (versions 1001+), applied after the first
    Migration(
        1,
        "bulletins, reads, personal notifications, delivery, feedback",
        (
            *OUTBOX_STATEMENTS,
            # Bulletins (and documents announced by the documents service). Addressed to units;
            # never copied per member: the inbox joins bulletin_audience on the reader's ancestors.
            "CREATE TABLE bulletins (id TEXT PRIMARY KEY, publisher_unit_id TEXT NOT NULL, "
            "kind TEXT NOT NULL, "
            "title TEXT NOT NULL, body_html TEXT NOT NULL, body_text TEXT NOT NULL, "
            "attachments TEXT NOT NULL, "
            "publish_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION, pinned BOOLEAN NOT NULL, "
            "withdrawn_at DOUBLE PRECISION, withdraw_reason TEXT, author_account_id TEXT, "
            "source_key TEXT UNIQUE, idempotency_key TEXT UNIQUE, fanned_out_at DOUBLE PRECISION, "
            "created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX bulletins_publisher ON bulletins (publisher_unit_id, publish_at)",
            "CREATE INDEX bulletins_fanout ON bulletins (publish_at) WHERE fanned_out_at IS NULL",
            "CREATE TABLE bulletin_audience (unit_id TEXT NOT NULL, publish_at DOUBLE PRECISION NOT NULL, "
            "bulletin_id TEXT NOT NULL REFERENCES bulletins(id), "
            "PRIMARY KEY (unit_id, publish_at, bulletin_id))",
            "CREATE INDEX bulletin_audience_bulletin ON bulletin_audience (bulletin_id)",
            # One row when a member reads a bulletin; unit_path is where the member was then.
            "CREATE TABLE bulletin_reads (bulletin_id TEXT NOT NULL REFERENCES bulletins(id), "
            "member_id TEXT NOT NULL, unit_path {path} NOT NULL, read_at DOUBLE PRECISION NOT NULL, "
            "PRIMARY KEY (bulletin_id, member_id))",
            "CREATE INDEX bulletin_reads_member ON bulletin_reads (member_id, read_at)",
            "CREATE INDEX bulletin_reads_path ON bulletin_reads (bulletin_id, unit_path)",
            # Personal notifications (few recipients each: a meeting's cell, a task's assignees).
            "CREATE TABLE notifications (id TEXT PRIMARY KEY, member_id TEXT NOT NULL, kind TEXT NOT NULL, "
            "title TEXT NOT NULL, body TEXT NOT NULL, link TEXT NOT NULL, dedupe_key TEXT NOT NULL, "
            "created_at DOUBLE PRECISION NOT NULL, read_at DOUBLE PRECISION, UNIQUE (member_id, dedupe_key))",
            "CREATE INDEX notifications_member ON notifications (member_id, created_at)",
            # Per-member counter bumped by every change of personal state (for GetInboxVersion).
            "CREATE TABLE member_state (member_id TEXT PRIMARY KEY, version BIGINT NOT NULL)",
            # Where a member is (from their latest token), to fan bulletins out to channels.
            "CREATE TABLE member_units (member_id TEXT NOT NULL, unit_id TEXT NOT NULL, "
            "PRIMARY KEY (member_id, unit_id))",
            "CREATE INDEX member_units_unit ON member_units (unit_id)",
            "CREATE TABLE member_paths (member_id TEXT PRIMARY KEY, unit_path {path} NOT NULL, "
            "updated_at DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE preferences (member_id TEXT PRIMARY KEY, email_enabled BOOLEAN NOT NULL, "
            "email TEXT, webpush_enabled BOOLEAN NOT NULL, quiet_start INTEGER NOT NULL, "
            "quiet_end INTEGER NOT NULL, bulletins_by_channel BOOLEAN NOT NULL, "
            "updated_at DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE push_subscriptions (id TEXT PRIMARY KEY, member_id TEXT NOT NULL, "
            "endpoint TEXT NOT NULL UNIQUE, p256dh TEXT NOT NULL, auth TEXT NOT NULL, user_agent TEXT, "
            "created_at DOUBLE PRECISION NOT NULL, failures INTEGER NOT NULL)",
            "CREATE INDEX push_subscriptions_member ON push_subscriptions (member_id)",
            # One row per (item, member, channel); the in-app record is the item itself.
            "CREATE TABLE deliveries (id TEXT PRIMARY KEY, item_type TEXT NOT NULL, item_id TEXT NOT NULL, "
            "member_id TEXT NOT NULL, channel TEXT NOT NULL, status TEXT NOT NULL, "
            "attempts INTEGER NOT NULL, "
            "next_attempt_at DOUBLE PRECISION NOT NULL, last_error TEXT, "
            "created_at DOUBLE PRECISION NOT NULL, sent_at DOUBLE PRECISION, "
            "UNIQUE (item_id, member_id, channel))",
            "CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending'",
            "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            # Feedback: target_path is the chosen unit's path; unit_path where it is handled now.
            "CREATE TABLE feedback (id TEXT PRIMARY KEY, member_id TEXT NOT NULL, account_id TEXT NOT NULL, "
            "target_unit_id TEXT NOT NULL, target_path {path} NOT NULL, unit_id TEXT NOT NULL, "
            "unit_path {path} NOT NULL, "
            "subject TEXT NOT NULL, body TEXT NOT NULL, attachments TEXT NOT NULL, status TEXT NOT NULL, "
            "answer TEXT, answered_by TEXT, answered_at DOUBLE PRECISION, escalations INTEGER NOT NULL, "
            "due_at DOUBLE PRECISION NOT NULL, idempotency_key TEXT UNIQUE, "
            "created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX feedback_member ON feedback (member_id, created_at)",
            "CREATE INDEX feedback_unit ON feedback (unit_path, status)",
            "CREATE INDEX feedback_due ON feedback (due_at) WHERE status IN ('received', 'in_progress')",
            "CREATE TABLE feedback_events (id TEXT PRIMARY KEY, "
            "feedback_id TEXT NOT NULL REFERENCES feedback(id), "
            "at DOUBLE PRECISION NOT NULL, action TEXT NOT NULL, actor_account_id TEXT, "
            "unit_id TEXT NOT NULL, "
            "note TEXT)",
            "CREATE INDEX feedback_events_item ON feedback_events (feedback_id, at)",
            # Idempotency keys of answers (a repeated answer is recorded once).
            "CREATE TABLE idempotency (key TEXT PRIMARY KEY, result_id TEXT NOT NULL, "
            "created_at DOUBLE PRECISION NOT NULL)",
        ),
    ),
    Migration(
        2,
        "inbox reads: bulletin change counter, read state by member",
        (
            # One row, bumped in every transaction that creates, edits or withdraws a bulletin:
            # inbox readers compare it with the version of their cached visible-bulletin lists.
            "CREATE TABLE bulletin_changes (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)",
            "INSERT INTO bulletin_changes (id, version) VALUES (1, 0)",
            # A member's read bulletins from the index alone (the unread filter, unread counts).
            "CREATE INDEX bulletin_reads_member_bulletin ON bulletin_reads (member_id, bulletin_id, read_at)",
        ),
    ),
    Migration(
        3,
        "feedback assigned to an account of its unit",
        (
            "ALTER TABLE feedback ADD COLUMN assignee_account_id TEXT",
            "ALTER TABLE feedback ADD COLUMN assigned_at DOUBLE PRECISION",
            "CREATE INDEX feedback_assignee ON feedback (assignee_account_id)",
        ),
    ),
    Migration(
        4,
        "bulletin fan-out by pages: cursor per bulletin, audience members in id order",
        (
            # The last member id whose deliveries are queued (a crashed worker resumes after it).
            "ALTER TABLE bulletins ADD COLUMN fanout_after TEXT",
            "CREATE INDEX member_units_unit_member ON member_units (unit_id, member_id)",
        ),
    ),
    Migration(
        5,
        "idempotency keys in the shared table (services.core.idempotency); the keys kept so far copied",
        _idempotency_keys("instr"),
        postgres=_idempotency_keys("strpos"),
    ),
]
