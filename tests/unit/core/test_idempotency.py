"""The one idempotency rule and storage (services.core.idempotency)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.core import idempotency
from services.core.db import Database
from services.core.errors import InvalidArgument


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("k" * 129, "idempotency_key_too_long"),
        (" key", "idempotency_key_invalid"),
        ("two words", "idempotency_key_invalid"),
        ("phiếu-1", "idempotency_key_invalid"),
        ("tab\tkey", "idempotency_key_invalid"),
        ("line\n", "idempotency_key_invalid"),
    ],
)
def test_keys_breaking_the_rule_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        idempotency.check(raw)
    assert (caught.value.reason, caught.value.metadata) == (reason, {"field": "idempotency_key"})


def test_keys_within_the_rule_are_kept_as_sent() -> None:
    for key in ("a", "k" * 128, "7f0c-2a/b+c=", "!~"):
        assert idempotency.check(key) == key == idempotency.check(key, required=True)
    assert idempotency.check("") == ""  # no key: the request is not idempotent
    with pytest.raises(InvalidArgument) as caught:
        idempotency.check("", required=True)
    assert caught.value.reason == "idempotency_key_required"


def test_the_first_answer_is_kept_per_scope(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "CREATE TABLE idempotency_keys (scope TEXT NOT NULL, key TEXT NOT NULL, result_id TEXT NOT NULL, "
            "created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (scope, key))"
        ))
        assert idempotency.seen(conn, "opinion:a1", "k") is None
        idempotency.remember(conn, "opinion:a1", "k", "first")
        assert idempotency.seen(conn, "opinion:a1", "k") == "first"
        assert idempotency.seen(conn, "opinion:a2", "k") is None  # another caller's scope
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        idempotency.remember(conn, "opinion:a1", "k", "second")
    with engine.connect() as conn:
        assert idempotency.seen(conn, "opinion:a1", "k") == "first"


def test_keys_stored_the_former_ways_are_copied_into_the_table(make_database: Callable[[], Database]) -> None:
    """documents' upload_requests, notifications' bulletin and feedback columns and answer table:
    each key found again under its scope after the migration."""
    from services.documents.migrations import MIGRATIONS as DOCUMENTS
    from services.notifications.migrations import MIGRATIONS as NOTIFICATIONS

    account = "1b8f3c9e-0000-4000-8000-00000000000a"
    notifications, documents = make_database(), make_database()
    notifications.migrate("notifications", [m for m in NOTIFICATIONS if m.version < 5])
    documents.migrate("documents", [m for m in DOCUMENTS if m.version < 5])
    with documents.write() as conn:
        conn.execute(sa.text(
            "INSERT INTO upload_requests (account_id, idempotency_key, document_id, version, created_at) "
            "VALUES (:a, 'up:1', 'doc-1', 1, 1)"), {"a": account})
    with notifications.write() as conn:
        conn.execute(sa.text(
            "INSERT INTO bulletins (id, publisher_unit_id, kind, title, body_html, body_text, attachments, "
            "publish_at, pinned, author_account_id, idempotency_key, created_at, updated_at) "
            "VALUES ('b-1', 'u', 'bulletin', 't', '', '', '[]', 0, FALSE, :a, :k, 1, 1)"),
            {"a": account, "k": f"{account}:bul:1"})
        conn.execute(sa.text(
            "INSERT INTO feedback (id, member_id, account_id, target_unit_id, target_path, unit_id, unit_path, "
            "subject, body, attachments, status, escalations, due_at, idempotency_key, created_at, updated_at) "
            "VALUES ('f-1', 'm', :a, 'u', '/u/', 'u', '/u/', 's', 'b', '[]', 'received', 0, 1, :k, 1, 1)"),
            {"a": account, "k": f"{account}:fb:1"})
        conn.execute(sa.text("INSERT INTO idempotency (key, result_id, created_at) VALUES (:k, 'f-1', 1)"),
                     {"k": f"answer:{account}:ans:1"})
    notifications.migrate("notifications", NOTIFICATIONS)
    documents.migrate("documents", DOCUMENTS)
    with documents.read() as conn:
        assert idempotency.seen(conn, f"upload:{account}", "up:1") == "doc-1"
    with notifications.read() as conn:
        assert idempotency.seen(conn, f"bulletin:{account}", "bul:1") == "b-1"
        assert idempotency.seen(conn, f"feedback:{account}", "fb:1") == "f-1"
        assert idempotency.seen(conn, f"answer:{account}", "ans:1") == "f-1"
