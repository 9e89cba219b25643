"""Identity's schema. Timestamps are epoch seconds; dates are ISO strings; ids are UUIDs."""

from services.core.db import Migration
from services.core.outbox import OUTBOX_MIGRATIONS, OUTBOX_STATEMENTS
from services.identity.revocation import MIGRATION_STATEMENTS as REVOCATION_STATEMENTS

# A roster (services.identity.members.ROSTER_COLUMNS) shows these columns of members, and the
# id of a member's account. The roster cache (roster_cache.py) keeps a page for as long as its
# unit's roster_version stays the same; triggers move the version on, so no writer - this
# service, another replica, an import, a hand-run UPDATE - can leave a stale page behind.
ROSTER_VERSION = "ALTER TABLE units ADD COLUMN roster_version BIGINT NOT NULL DEFAULT 0"
_ROSTER_FIELDS = ("unit_id", "full_name", "name_folded", "status", "exempt", "position", "active")
# name, event, table, condition (columns of which one must change, or an expression), units to move on
_ROSTER_TRIGGERS: tuple[tuple[str, str, str, tuple[str, ...] | str, str], ...] = (
    ("members_roster_insert", "INSERT", "members", "", "NEW.unit_id"),
    ("members_roster_update", f"UPDATE OF {', '.join(_ROSTER_FIELDS)}", "members", _ROSTER_FIELDS,
     "OLD.unit_id, NEW.unit_id"),
    ("members_roster_delete", "DELETE", "members", "", "OLD.unit_id"),
    ("accounts_roster_insert", "INSERT", "accounts", "NEW.member_id IS NOT NULL",
     "SELECT unit_id FROM members WHERE id = NEW.member_id"),
    ("accounts_roster_update", "UPDATE OF member_id", "accounts", ("member_id",),
     "SELECT unit_id FROM members WHERE id IN (OLD.member_id, NEW.member_id)"),
    ("accounts_roster_delete", "DELETE", "accounts", "OLD.member_id IS NOT NULL",
     "SELECT unit_id FROM members WHERE id = OLD.member_id"),
)


def _when(condition: tuple[str, ...] | str, differ: str) -> str:
    if isinstance(condition, tuple):
        condition = " OR ".join(f"OLD.{c} {differ} NEW.{c}" for c in condition)
    return f"WHEN ({condition}) " if condition else ""


MIGRATIONS = [
    *OUTBOX_MIGRATIONS,  # the event log's own (versions 1001+), applied after the first
    Migration(
        1,
        "units, members, accounts, roles, tokens, audit",
        (
            *OUTBOX_STATEMENTS,
            # path: '/<root id>/.../<own id>/' - a prefix scan finds a subtree.
            "CREATE TABLE units (id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, "
            "code TEXT, parent_id TEXT REFERENCES units(id), path {path} NOT NULL UNIQUE, "
            "depth INTEGER NOT NULL, active BOOLEAN NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
            "updated_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX units_parent ON units (parent_id)",
            "CREATE UNIQUE INDEX units_code ON units (code)",
            "CREATE TABLE unit_moves (id TEXT PRIMARY KEY, unit_id TEXT NOT NULL REFERENCES units(id), "
            "from_parent_id TEXT, to_parent_id TEXT NOT NULL, actor_account_id TEXT, "
            "at DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE members (id TEXT PRIMARY KEY, unit_id TEXT NOT NULL REFERENCES units(id), "
            "full_name TEXT NOT NULL, name_folded TEXT NOT NULL, gender TEXT NOT NULL, birth_date TEXT, "
            "ethnicity TEXT, phone TEXT, email TEXT, party_card_number TEXT, joined_on TEXT, "
            "official_on TEXT, status TEXT NOT NULL, exempt BOOLEAN NOT NULL, exempt_reason TEXT, "
            "exempt_since TEXT, position TEXT NOT NULL, active BOOLEAN NOT NULL, "
            "deactivated_reason TEXT, created_at DOUBLE PRECISION NOT NULL, "
            "updated_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX members_unit ON members (unit_id, name_folded)",
            "CREATE UNIQUE INDEX members_card ON members (party_card_number)",
            "CREATE INDEX members_phone ON members (phone)",
            "CREATE TABLE member_transfers (id TEXT PRIMARY KEY, member_id TEXT NOT NULL "
            "REFERENCES members(id), from_unit_id TEXT NOT NULL, to_unit_id TEXT NOT NULL, reason TEXT, "
            "actor_account_id TEXT, at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX member_transfers_member ON member_transfers (member_id, at)",
            "CREATE TABLE accounts (id TEXT PRIMARY KEY, username TEXT UNIQUE, "
            "member_id TEXT UNIQUE REFERENCES members(id), password_hash TEXT, "
            "active BOOLEAN NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
            "password_changed_at DOUBLE PRECISION)",
            "CREATE TABLE role_grants (id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), "
            "role TEXT NOT NULL, unit_id TEXT NOT NULL REFERENCES units(id), granted_by TEXT, "
            "granted_at DOUBLE PRECISION NOT NULL, UNIQUE (account_id, role, unit_id))",
            "CREATE INDEX role_grants_unit ON role_grants (unit_id)",
            "CREATE TABLE refresh_tokens (id TEXT PRIMARY KEY, family_id TEXT NOT NULL, "
            "account_id TEXT NOT NULL REFERENCES accounts(id), token_hash TEXT NOT NULL UNIQUE, "
            "created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL, "
            "used_at DOUBLE PRECISION, revoked_at DOUBLE PRECISION)",
            "CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)",
            "CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, private_pem TEXT NOT NULL, "
            "public_pem TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, active BOOLEAN NOT NULL)",
            "CREATE TABLE audit_log (id TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL, "
            "actor_account_id TEXT, action TEXT NOT NULL, target_type TEXT, target_id TEXT, "
            "unit_path {path}, request_id TEXT, details TEXT)",
            "CREATE INDEX audit_log_target ON audit_log (target_id, at)",
            "CREATE INDEX audit_log_unit ON audit_log (unit_path, at)",
            "CREATE TABLE login_throttle (login TEXT PRIMARY KEY, failures INTEGER NOT NULL, "
            "window_start DOUBLE PRECISION NOT NULL, locked_until DOUBLE PRECISION NOT NULL)",
        ),
    ),
    Migration(
        2,
        "count active members per unit from the index alone",
        ("CREATE INDEX members_active_unit ON members (unit_id) WHERE active",),
    ),
    Migration(
        3,
        "a cell's roster page in name order from the index",
        ("CREATE INDEX members_unit_roster ON members (unit_id, name_folded, id) WHERE active",),
    ),
    Migration(
        4,
        "roster versions: a unit's counter, moved on by every change to the roster of its members",
        (ROSTER_VERSION, *(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} {_when(condition, 'IS NOT')}BEGIN UPDATE units "
            f"SET roster_version = roster_version + 1 WHERE id IN ({units}); END"
            for name, event, table, condition, units in _ROSTER_TRIGGERS
        )),
        postgres=(
            ROSTER_VERSION,
            # One function per table; the unit a row leaves and the one it joins (once if the same).
            "CREATE FUNCTION members_roster_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "UPDATE units SET roster_version = roster_version + 1 WHERE id IN ("
            "CASE WHEN TG_OP = 'INSERT' THEN NEW.unit_id ELSE OLD.unit_id END, "
            "CASE WHEN TG_OP = 'DELETE' THEN OLD.unit_id ELSE NEW.unit_id END); RETURN NULL; END $$",
            "CREATE FUNCTION accounts_roster_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "UPDATE units SET roster_version = roster_version + 1 WHERE id IN (SELECT unit_id FROM members "
            "WHERE id IN (CASE WHEN TG_OP = 'INSERT' THEN NEW.member_id ELSE OLD.member_id END, "
            "CASE WHEN TG_OP = 'DELETE' THEN OLD.member_id ELSE NEW.member_id END)); RETURN NULL; END $$",
            *(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW "
                f"{_when(condition, 'IS DISTINCT FROM')}EXECUTE FUNCTION {table}_roster_changed()"
                for name, event, table, condition, _ in _ROSTER_TRIGGERS
            ),
        ),
    ),
    Migration(
        5,
        "token revocations: a min access-token version per account and per revoked login",
        REVOCATION_STATEMENTS,
    ),
    Migration(
        6,
        "one-time activation codes for members' first sign-in (argon2 hashes only)",
        (
            "CREATE TABLE activation_codes (id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), "
            "code_hash TEXT NOT NULL, issued_by TEXT, created_at DOUBLE PRECISION NOT NULL, "
            "expires_at DOUBLE PRECISION NOT NULL, used_at DOUBLE PRECISION, cancelled_at DOUBLE PRECISION)",
            "CREATE INDEX activation_codes_account ON activation_codes (account_id, created_at)",
        ),
    ),
    Migration(
        7,
        "coarse account activity for the reports: the day first signed in, the last day signed in",
        (
            "ALTER TABLE accounts ADD COLUMN activated_on TEXT",
            "ALTER TABLE accounts ADD COLUMN last_active_on TEXT",
        ),
    ),
    Migration(
        8,
        "a unit's transfers in and out (the cell's roster page)",
        (
            "CREATE INDEX member_transfers_from ON member_transfers (from_unit_id, at)",
            "CREATE INDEX member_transfers_to ON member_transfers (to_unit_id, at)",
        ),
    ),
]
