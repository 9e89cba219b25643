"""The one idempotency rule and storage (services.core.idempotency)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from services.core import idempotency
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
