"""Migrations a rolling update survives (docs/operations.md, "Migrations and rolling updates"):
outside a migration named `contract: …`, no statement may take away or reshape what the release
before still reads and writes."""

from __future__ import annotations

import re

import pytest

from services.cli import SERVICES, migrations_of
from services.core.db import Migration
from services.core.outbox import OUTBOX_MIGRATIONS

DESTRUCTIVE = (
    (re.compile(r"\bDROP\s+(COLUMN|TABLE)\b", re.I), "drops what the release before reads"),
    (re.compile(r"\bRENAME\b", re.I), "renames what the release before reads"),
    (re.compile(r"\bALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b", re.I), "changes a column's type"),
    (re.compile(r"\bSET\s+NOT\s+NULL\b", re.I), "makes a column required that the release before may leave empty"),
    (re.compile(r"\bDROP\s+DEFAULT\b", re.I), "drops a default the release before relies on"),
)
REQUIRED_WITHOUT_DEFAULT = re.compile(r"\bADD\s+(COLUMN\s+)?[^,]*\bNOT\s+NULL\b(?![^,]*\bDEFAULT\b)", re.I)


def violations(service: str, migrations: list[Migration]) -> list[str]:
    found = []
    for m in migrations:
        if m.name.startswith("contract:"):
            continue
        for statement in [*m.statements, *(m.postgres or ())]:
            reasons = [why for pattern, why in DESTRUCTIVE if pattern.search(statement)]
            if REQUIRED_WITHOUT_DEFAULT.search(statement):
                reasons.append("adds a required column without a default: the release before cannot insert")
            found += [f"{service} migration {m.version} ({m.name}): {why}: {statement[:120]}" for why in reasons]
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_migration_is_expand_only_unless_marked_contract(service: str) -> None:
    assert violations(service, migrations_of(service)) == []


def test_versions_are_unique_and_the_event_logs_are_every_services() -> None:
    for service in SERVICES:
        versions = [m.version for m in migrations_of(service)]
        assert len(versions) == len(set(versions)), service
        assert {m.version for m in OUTBOX_MIGRATIONS} <= set(versions), service


def test_the_rule_flags_destructive_changes_outside_a_contract_step() -> None:
    bad = [
        Migration(2, "drop", ("ALTER TABLE members DROP COLUMN phone",)),
        Migration(3, "rename", ("ALTER TABLE members RENAME COLUMN phone TO mobile",)),
        Migration(4, "type", (), postgres=("ALTER TABLE members ALTER COLUMN age TYPE BIGINT",)),
        Migration(5, "required", ("ALTER TABLE members ADD COLUMN code TEXT NOT NULL",)),
        Migration(6, "tighten", ("ALTER TABLE members ALTER COLUMN code SET NOT NULL",)),
        Migration(7, "table", ("DROP TABLE old_things",)),
    ]
    assert [v.split(" ")[2] for v in violations("x", bad)] == ["2", "3", "4", "5", "6", "7"]
    fine = [
        Migration(8, "expand", ("ALTER TABLE members ADD COLUMN code TEXT NOT NULL DEFAULT ''",
                                "ALTER TABLE members ADD COLUMN note TEXT", "CREATE INDEX m_code ON members (code)")),
        Migration(9, "contract: drop phone (unread since 8)", ("ALTER TABLE members DROP COLUMN phone",)),
    ]
    assert violations("x", fine) == []
