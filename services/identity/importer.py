"""Bulk import and export of members as CSV or XLSX, in the layout of a national member database
export (Quy định 339-QĐ/TW): the province system exchanges files with it instead of being a silo.

The file format, what an import does and every rejection reason: docs/member-import-format.md
(the one copy; tests/unit/identity/test_importer.py checks its columns against COLUMNS).

Rows are validated like a profile edited in the app (members.validate) and written in batches, one
transaction each, with one `identity.members.imported` event per batch that changed anything; a
transfer (another unit code) also emits `identity.member.transferred`. Export writes the active
members of a subtree with the same columns and values, so importing an export changes nothing.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import logging
import re
import shutil
import tempfile
import time
import unicodedata
import uuid
import warnings
import zipfile
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field, fields
from typing import IO, Any, BinaryIO

import openpyxl
import sqlalchemy as sa
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, WriteOnlyCell
from sqlalchemy.engine import Connection, Row

from services.core.db import Database
from services.core.errors import InvalidArgument, ServiceError
from services.core.ids import new_id
from services.core.outbox import emit
from services.core.text import fold
from services.identity import access, members, units
from sotay.events.v1.identity_events_pb2 import Member, MembersImported

log = logging.getLogger("sotay.identity.importer")

FORMATS = ("csv", "xlsx")
MAX_ROWS = 500_000
# Uncompressed size limits of an XLSX archive's parts. Worksheets are streamed (≈ 830 bytes of XML
# a member, so 1 GiB covers the row limit); shared strings are loaded into memory.
MAX_SHEET_BYTES = 1024 * 1024 * 1024
MAX_PART_BYTES = 200 * 1024 * 1024
MAX_ARCHIVE_BYTES = 1400 * 1024 * 1024
MAX_PARTS = 10_000
MAX_LISTED_ERRORS = 10_000  # `rejected` still counts every bad row
SNIFF_BYTES = 64 * 1024
CHUNK_BYTES = 256 * 1024
TRANSFER_REASON = "import"

# header -> members.Profile field ("unit_code" for the unit), in export order
COLUMNS = {
    "so_the_dang_vien": "party_card_number",
    "ho_ten": "full_name",
    "ma_don_vi": "unit_code",
    "gioi_tinh": "gender",
    "ngay_sinh": "birth_date",
    "dan_toc": "ethnicity",
    "so_dien_thoai": "phone",
    "email": "email",
    "ngay_vao_dang": "joined_on",
    "ngay_chinh_thuc": "official_on",
    "loai_dang_vien": "status",
    "mien_sinh_hoat": "exempt",
    "ly_do_mien": "exempt_reason",
    "ngay_mien": "exempt_since",
    "chuc_vu": "position",
}
CARD = "so_the_dang_vien"
REQUIRED = (CARD, "ho_ten", "ma_don_vi")
HEADER_OF = {name: header for header, name in COLUMNS.items()}
PROFILE_FIELDS = tuple(f.name for f in fields(members.Profile))
DATE_FIELDS = ("birth_date", "joined_on", "official_on", "exempt_since")

GENDER_LABELS = {"male": "Nam", "female": "Nữ", "other": "Khác"}
STATUS_LABELS = {"official": "Chính thức", "probationary": "Dự bị"}
POSITION_LABELS = {
    "secretary": "Bí thư", "deputy_secretary": "Phó Bí thư",
    "committee_member": "Chi ủy viên", "member": "Đảng viên",
}
YES, NO = "Có", "Không"
EXEMPT_WORDS = {
    "co": True, "x": True, "1": True, "true": True, "yes": True,
    "khong": False, "0": False, "false": False, "no": False,
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_SETS = ", ".join(f"{c} = :{c}" for c in ("name_folded", *PROFILE_FIELDS) if c != "party_card_number")
UPDATE_SQL = f"UPDATE members SET {_SETS}, updated_at = :now WHERE id = :id"
EXPORT_SQL = (
    "SELECT " + ", ".join(f"m.{c}" for c in PROFILE_FIELDS) + ", u.code AS unit_code "
    "FROM members m JOIN units u ON u.id = m.unit_id "
    "WHERE m.active AND u.path >= :lo AND u.path < :hi ORDER BY u.path, m.name_folded, m.id"
)


POSITION_NEEDS_ADMIN = ("position_needs_admin", "only an admin over the unit gives or changes a cell position")


@dataclass
class RowError:
    row: int  # 1-based, the header is row 1
    column: str  # the file's header name, '' when the row as a whole is wrong
    reason: str
    message: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def import_members(
    db: Database,
    root_unit_id: str,
    stream: BinaryIO,
    fmt: str,
    *,
    dry_run: bool = False,
    actor: str = "",
    caller_account: str = "",
    positions: bool = True,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 2000,
) -> ImportReport:
    """Import members into the subtree of `root_unit_id`; `progress` gets the rows processed so far.
    With `caller_account` (an RPC's caller), members whose accounts hold a role on a unit that
    account does not administer are not changed (access.require_over); the command line has none.
    Without `positions` (a cell officer importing, access.py) a row may not give or change a position."""
    if fmt not in FORMATS:
        raise InvalidArgument("invalid_file", f"the format must be {' or '.join(FORMATS)}", field="format")
    size = max(batch_size, 1)
    job = _Import(db, root_unit_id, actor, dry_run, caller_account, positions)
    report = job.report
    batch: list[_Candidate] = []
    reported = 0
    with closing(_read_rows(stream, fmt)) as rows:
        header = next(rows, None)
        if header is None or not any(_text(h) for h in header):
            raise InvalidArgument("invalid_file", "the file has no header row")
        job.read_header(header)
        for number, cells in enumerate(rows, start=2):
            item = job.parse(number, cells)
            if item is None:
                continue
            if report.rows > MAX_ROWS:
                raise InvalidArgument(
                    "too_many_rows", f"a file may hold at most {MAX_ROWS} members", limit=MAX_ROWS
                )
            if isinstance(item, RowError):
                job.reject(item)
            else:
                batch.append(item)
            if len(batch) >= size:
                job.write(batch)
                batch = []
            if progress and not batch and report.rows - reported >= size:
                reported = report.rows
                progress(reported)
        job.write(batch)
    report.errors.sort(key=lambda e: e.row)
    if progress:
        progress(report.rows)
    log.info(
        "import into %s%s: %d rows, %d created, %d updated, %d unchanged, %d rejected",
        job.root.id, " (dry run)" if dry_run else "", report.rows, report.created, report.updated,
        report.unchanged, report.rejected,
    )
    return report


def export_members(db: Database, unit_id: str, fmt: str) -> Iterator[bytes]:
    """The active members of the unit's subtree as file bytes, in chunks."""
    if fmt not in FORMATS:
        raise InvalidArgument("invalid_file", f"the format must be {' or '.join(FORMATS)}", field="format")
    with db.read() as conn:
        unit = units.get(conn, unit_id)
    rows = _export_rows(db, unit.path)
    return _csv_chunks(rows) if fmt == "csv" else _xlsx_chunks(rows)


# --- rows ------------------------------------------------------------------------------------


@dataclass
class _Candidate:
    """A row that passed validation, waiting for its batch."""

    row: int
    card: str
    unit_id: str
    profile: members.Profile  # validated as for a new member (defaults filled in)
    given: tuple[str, ...]  # the profile fields the row has a value for


@dataclass
class _Plan:
    creates: list[tuple[str, str, members.Profile]] = field(default_factory=list)  # id, unit, profile
    updates: list[tuple[str, str, members.Profile]] = field(default_factory=list)
    transfers: list[tuple[str, str, str]] = field(default_factory=list)  # id, from unit, to unit
    roles: list[str] = field(default_factory=list)  # members whose position role must be synced
    updated: int = 0
    unchanged: int = 0
    rejected: list[RowError] = field(default_factory=list)


class _Import:
    def __init__(
        self, db: Database, root_unit_id: str, actor: str, dry_run: bool, caller_account: str, positions: bool
    ) -> None:
        self.db = db
        self.positions = positions
        self.caller_account = caller_account
        self.actor = actor
        self.dry_run = dry_run
        self.report = ImportReport()
        self.import_id = str(uuid.uuid4())
        self.batches = 0
        self.index: dict[str, int] = {}
        self.seen: dict[str, int] = {}  # card number -> first row
        self.phones: dict[str, int] = {}  # phone -> first row that sets it
        with db.read() as conn:
            self.root = units.get(conn, root_unit_id)
            found = conn.execute(
                sa.text("SELECT id, code, active FROM units WHERE path >= :lo AND path < :hi"),
                units.subtree_range(self.root.path),
            ).all()
        self.subtree = {u.id for u in found}
        self.codes = {u.code: (u.id, bool(u.active)) for u in found if u.code}
        self.codes_elsewhere: dict[str, bool] = {}

    def read_header(self, header: list[Any]) -> None:
        for i, raw in enumerate(header):
            name = fold(_text(raw)).replace(" ", "_")
            if not name:
                continue
            if name not in COLUMNS:
                self.report.warnings.append(f"unknown column {_text(raw)!r} ignored")
            elif name in self.index:
                raise InvalidArgument("invalid_file", f"column {name} appears twice", column=name)
            else:
                self.index[name] = i
        missing = [c for c in REQUIRED if c not in self.index]
        if missing:
            raise InvalidArgument(
                "missing_columns", f"required columns missing: {', '.join(missing)}",
                columns=",".join(missing),
            )

    def parse(self, row: int, cells: list[Any]) -> _Candidate | RowError | None:
        """A candidate, a rejection, or None for a blank row."""
        values = {h: (_text(cells[i]) if i < len(cells) else "") for h, i in self.index.items()}
        if not any(values.values()):
            return None
        self.report.rows += 1
        if any("\ufffd" in v for v in values.values()):
            return RowError(row, "", "invalid_encoding", "the row is not valid UTF-8 text")
        card = values[CARD]
        if not card:
            return RowError(row, CARD, "party_card_number_required", "the party card number is required")
        first = self.seen.setdefault(card, row)
        if first != row:
            return RowError(row, CARD, "duplicate_in_file", f"the same card number is on row {first}")
        try:
            raw = _profile(values)
            profile = members.validate(raw, creating=True)
        except ServiceError as exc:
            column = HEADER_OF.get(exc.metadata.get("field", ""), "")
            return RowError(row, column, exc.reason, exc.message)
        unit_id, error = self._unit(values["ma_don_vi"])
        if error:
            return RowError(row, "ma_don_vi", *error)
        return _Candidate(row, profile.party_card_number, unit_id, profile, tuple(raw.given()))

    def _unit(self, code: str) -> tuple[str, tuple[str, str] | None]:
        if not code:
            return "", ("unit_code_required", "the unit code is required")
        hit = self.codes.get(code)
        if hit is None:
            if code not in self.codes_elsewhere:
                with self.db.read() as conn:
                    found = conn.execute(sa.text("SELECT 1 FROM units WHERE code = :c"), {"c": code}).first()
                self.codes_elsewhere[code] = found is not None
            if self.codes_elsewhere[code]:
                return "", ("unit_outside_subtree", f"unit {code} is not under {self.root.name}")
            return "", ("unit_not_found", f"no unit has the code {code}")
        if not hit[1]:
            return "", ("unit_inactive", f"unit {code} is no longer active")
        return hit[0], None

    def reject(self, error: RowError) -> None:
        self.report.rejected += 1
        if len(self.report.errors) < MAX_LISTED_ERRORS:
            self.report.errors.append(error)
        elif self.report.rejected == MAX_LISTED_ERRORS + 1:
            self.report.warnings.append(f"only the first {MAX_LISTED_ERRORS} rejected rows are listed")

    # --- batches ---

    def write(self, batch: list[_Candidate]) -> None:
        """Plan and (unless a dry run) write one batch in one transaction."""
        if not batch:
            return
        with (self.db.read() if self.dry_run else self.db.write()) as conn:
            if not self.dry_run:
                self.db.lock(conn, members.LOGINS_LOCK)  # nothing races the batch on a new card or phone
            existing = self._existing(conn, [c.card for c in batch])
            accounts = [r.account_id for r in existing.values() if r.account_id]
            outranking = access.outranking(conn, self.caller_account, accounts) if self.caller_account else set()
            phones, cards = members.login_clashes(
                conn, [c.profile.phone for c in batch if c.profile.phone],
                [c.card for c in batch if c.card not in existing], [],
            )
            plan = self._plan(batch, existing, outranking, phones | cards)
            if not self.dry_run:
                self._apply(conn, plan)
        self.report.created += len(plan.creates)
        self.report.updated += plan.updated
        self.report.unchanged += plan.unchanged
        for error in plan.rejected:
            self.reject(error)

    def _existing(self, conn: Connection, cards: list[str]) -> dict[str, Row[Any]]:
        sql = f"{members.SELECT} WHERE m.party_card_number IN :cards"
        if self.db.is_postgres and not self.dry_run:
            sql += " FOR UPDATE OF m"
        found = conn.execute(sa.text(sql).bindparams(sa.bindparam("cards", expanding=True)), {"cards": cards})
        return {r.party_card_number: r for r in found}

    def _plan(self, batch: list[_Candidate], existing: dict[str, Row[Any]], outranking: set[str],
              clashes: set[str]) -> _Plan:
        """`outranking`: accounts the actor may not change (access.require_over); `clashes`: phones
        and new card numbers another member's login already uses (members.login_clashes)."""
        plan = _Plan()
        for c in batch:
            current = existing.get(c.card)
            phone = c.profile.phone if "phone" in c.given else ""
            if phone and (current is None or phone != current.phone):
                first = self.phones.setdefault(phone, c.row)
                if phone in clashes or first != c.row:
                    plan.rejected.append(RowError(c.row, "so_dien_thoai", *members.PHONE_UNAVAILABLE))
                    continue
            outside = current is not None and current.unit_id not in self.subtree
            if outside or (current is None and c.card in clashes):
                # The same answer for any card held outside the subtree, active or not.
                plan.rejected.append(RowError(c.row, CARD, *members.CARD_UNAVAILABLE))
                continue
            if current is None:
                values = _settle({n: getattr(c.profile, n) for n in PROFILE_FIELDS}, None)
                if values["position"] != "member" and not self.positions:
                    plan.rejected.append(RowError(c.row, "chuc_vu", *POSITION_NEEDS_ADMIN))
                    continue
                member_id = new_id()
                plan.creates.append((member_id, c.unit_id, members.Profile(**values)))
                if values["position"] in members.POSITION_ROLES:
                    plan.roles.append(member_id)
                continue
            if not current.active:
                plan.rejected.append(
                    RowError(c.row, CARD, "member_inactive", "this member has been deactivated")
                )
                continue
            base = {n: getattr(current, n) or "" for n in PROFILE_FIELDS}
            base["exempt"] = bool(current.exempt)
            moved = current.unit_id != c.unit_id
            if moved:
                base["position"] = "member"  # what members.transfer leaves
            new = _settle({**base, **{n: getattr(c.profile, n) for n in c.given}}, base)
            if (moved or new != base) and current.account_id in outranking:
                plan.rejected.append(RowError(
                    c.row, CARD, "target_outranks_caller",
                    "this member holds a role on a unit you do not administer; ask an admin of that unit",
                ))
                continue
            if new["position"] != base["position"] and not self.positions:
                plan.rejected.append(RowError(c.row, "chuc_vu", *POSITION_NEEDS_ADMIN))
                continue
            if moved:
                plan.transfers.append((current.id, current.unit_id, c.unit_id))
            if new != base:
                plan.updates.append((current.id, c.unit_id, members.Profile(**new)))
                if new["position"] != base["position"]:
                    plan.roles.append(current.id)
            if moved or new != base:
                plan.updated += 1
            else:
                plan.unchanged += 1
        return plan

    def _apply(self, conn: Connection, plan: _Plan) -> None:
        now = time.time()
        if plan.creates:
            conn.execute(
                sa.text(members.INSERT_SQL), [members.row_params(m, u, p, now) for m, u, p in plan.creates]
            )
            conn.execute(
                sa.text(members.ACCOUNT_INSERT_SQL),
                [{"id": new_id(), "m": m, "h": None, "t": now} for m, _, _ in plan.creates],
            )
        for member_id, _, to_unit in plan.transfers:
            members.transfer(conn, member_id, to_unit, TRANSFER_REASON, self.actor)
        if plan.updates:
            conn.execute(sa.text(UPDATE_SQL), [members.row_params(m, u, p, now) for m, u, p in plan.updates])
        for member_id in plan.roles:
            members.sync_position_role(conn, member_id)
        if plan.creates or plan.updates or plan.transfers:
            self.batches += 1
            touched = {u for _, u, _ in plan.creates} | {u for _, u, _ in plan.updates}
            touched |= {u for _, f, t in plan.transfers for u in (f, t)}
            emit(conn, self.root.id, MembersImported(
                import_id=self.import_id, batch=self.batches, root_unit_id=self.root.id,
                created=len(plan.creates), updated=plan.updated, transferred=len(plan.transfers),
                unit_ids=sorted(touched), actor=self.actor,
                members=[  # for the reports (transfers emit their own event)
                    Member(member_id=m, unit_id=u, status=p.status, gender=p.gender, exempt=bool(p.exempt), active=True)
                    for m, u, p in (*plan.creates, *plan.updates)
                ],
            ))


def _settle(values: dict[str, Any], base: dict[str, Any] | None) -> dict[str, Any]:
    """A member who is not exempt keeps no exemption reason or date (unless it was stored already)."""
    values["exempt"] = bool(values["exempt"])
    if not values["exempt"]:
        kept = base if base is not None and not base["exempt"] else None
        values["exempt_reason"] = kept["exempt_reason"] if kept else ""
        values["exempt_since"] = kept["exempt_since"] if kept else ""
    return values


# --- cell values -----------------------------------------------------------------------------

_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_ISO_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")


def _text(value: Any) -> str:
    """A cell as clean text: dates ISO, integral numbers without '.0', NFC, formula guard removed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = unicodedata.normalize("NFC", str(value)).strip()
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@":
        text = text[1:]
    return text


def _words(labels: dict[str, str]) -> dict[str, str]:
    """Accepted spellings (folded) -> code: the Vietnamese label, the code, the code with spaces."""
    table = {fold(label): code for code, label in labels.items()}
    for code in labels:
        table[code] = table[code.replace("_", " ")] = code
    return table


def _choice(labels: dict[str, str]) -> Callable[[str, str], Any]:
    words = _words(labels)

    def parse(text: str, name: str) -> str:
        code = words.get(fold(text))
        if code is None:
            raise InvalidArgument(
                f"invalid_{name}", f"{text!r} is not one of {', '.join(labels.values())}", field=name
            )
        return code

    return parse


def _yes_no(text: str, name: str) -> bool:
    answer = EXEMPT_WORDS.get(fold(text))
    if answer is None:
        raise InvalidArgument(f"invalid_{name}", f"{text!r} is not {YES} or {NO}", field=name)
    return answer


def _date(text: str, name: str) -> str:
    """DD/MM/YYYY and 'YYYY-MM-DD hh:mm' to ISO; anything else is left to members.validate."""
    if m := _DMY.fullmatch(text):
        try:
            return dt.date(int(m[3]), int(m[2]), int(m[1])).isoformat()
        except ValueError:
            raise InvalidArgument("invalid_date", f"{text!r} is not a date", field=name) from None
    if m := _ISO_TIME.fullmatch(text):
        return m[1]
    return text


def _phone(text: str, _name: str) -> str:
    # A spreadsheet that took 0912345678 for a number wrote 912345678.
    return "0" + text if len(text) == 9 and text.isdigit() else text


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "gender": _choice(GENDER_LABELS),
    "status": _choice(STATUS_LABELS),
    "position": _choice(POSITION_LABELS),
    "exempt": _yes_no,
    "phone": _phone,
    **{name: _date for name in DATE_FIELDS},
}


def _profile(values: dict[str, str]) -> members.Profile:
    """The row's values as an unvalidated profile (blank cells stay '')."""
    profile = members.Profile()
    for header, name in COLUMNS.items():
        text = values.get(header, "")
        if text and name != "unit_code":
            parse = _PARSERS.get(name)
            setattr(profile, name, parse(text, name) if parse else text)
    return profile


# --- reading files ---------------------------------------------------------------------------


def _read_rows(stream: BinaryIO, fmt: str) -> Generator[list[Any], None, None]:
    """The file's rows (header first) as lists of raw cell values."""
    return _csv_rows(stream) if fmt == "csv" else _xlsx_rows(stream)


class _Replay(io.RawIOBase):
    """`head` (already read for sniffing) followed by the rest of `rest`."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head = memoryview(head)
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _csv_rows(stream: BinaryIO) -> Generator[list[Any], None, None]:
    head = stream.read(SNIFF_BYTES)
    if not head.lstrip(codecs.BOM_UTF8).strip():
        raise InvalidArgument("invalid_file", "the file is empty")
    if b"\x00" in head:
        raise InvalidArgument("invalid_file", "this is not a CSV text file")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        raise InvalidArgument("invalid_file", "the file is not UTF-8 text: save it as 'CSV UTF-8'") from None
    text = io.TextIOWrapper(
        io.BufferedReader(_Replay(head, stream)), encoding="utf-8-sig", errors="replace", newline=""
    )
    first = text.readline()
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(itertools.chain([first], text), delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as exc:
        raise InvalidArgument("invalid_file", f"broken CSV near line {reader.line_num}: {exc}") from None


def _xlsx_rows(stream: BinaryIO) -> Generator[list[Any], None, None]:
    source: IO[bytes] = stream
    if not stream.seekable():
        source = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115 - closed below
        shutil.copyfileobj(stream, source)
    try:
        source.seek(0)
        _check_archive(source)
        source.seek(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                book = openpyxl.load_workbook(source, read_only=True, data_only=True)
        except Exception as exc:
            raise InvalidArgument("invalid_file", "this is not a readable XLSX workbook") from exc
        try:
            if not book.worksheets:
                raise InvalidArgument("invalid_file", "the workbook has no worksheet")
            sheet = book.worksheets[0]
            sheet.reset_dimensions()  # some writers record a wrong used range
            rows = sheet.iter_rows(values_only=True)
            while True:
                try:
                    values = next(rows)
                except StopIteration:
                    return
                except Exception as exc:
                    raise InvalidArgument("invalid_file", "the worksheet is damaged") from exc
                yield list(values)
        finally:
            book.close()
    finally:
        if source is not stream:
            source.close()


def _check_archive(source: IO[bytes]) -> None:
    """Refuse a zip bomb before openpyxl inflates anything.

    The sizes checked are the ones the archive declares; Python's zipfile never inflates a part
    beyond its declared size (a part that lies fails its CRC check), so they bound the work."""
    try:
        with zipfile.ZipFile(source) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError):
        raise InvalidArgument("invalid_file", "this is not an XLSX file") from None
    if len(parts) > MAX_PARTS:
        raise InvalidArgument("invalid_file", "the XLSX archive has too many parts")
    total = 0
    for part in parts:
        limit = MAX_SHEET_BYTES if part.filename.startswith("xl/worksheets/") else MAX_PART_BYTES
        if part.file_size > limit:
            raise InvalidArgument(
                "invalid_file", f"{part.filename} is larger than {limit // 2**20} MB uncompressed"
            )
        total += part.file_size
    if total > MAX_ARCHIVE_BYTES:
        raise InvalidArgument(
            "invalid_file", f"the XLSX is larger than {MAX_ARCHIVE_BYTES // 2**20} MB uncompressed"
        )


# --- export ----------------------------------------------------------------------------------


def _export_rows(db: Database, path: str) -> Iterator[list[str]]:
    with db.read(streaming=True) as conn:
        result = conn.execute(
            sa.text(EXPORT_SQL), units.subtree_range(path), execution_options={"yield_per": 1000}
        )
        for row in result:
            yield [_render(name, getattr(row, name), row) for name in COLUMNS.values()]


def _render(name: str, value: Any, row: Any) -> str:
    if name == "gender":
        return GENDER_LABELS.get(value, value or "")
    if name == "status":
        return STATUS_LABELS.get(value, value or "")
    if name == "position":
        return POSITION_LABELS.get(value, value or "")
    if name == "exempt":
        return YES if value else NO
    if name in ("exempt_reason", "exempt_since") and not row.exempt:
        return ""
    return "" if value is None else str(value)


def _csv_chunks(rows: Iterable[list[str]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel reads UTF-8 only with a BOM
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(list(COLUMNS))
    for cells in rows:
        writer.writerow(["'" + c if c.startswith(FORMULA_START) else c for c in cells])
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _xlsx_chunks(rows: Iterable[list[str]]) -> Iterator[bytes]:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("dang_vien")
    sheet.append(list(COLUMNS))
    for cells in rows:
        sheet.append([_xlsx_cell(sheet, c) for c in cells])
    with tempfile.TemporaryFile() as out:
        book.save(out)
        out.seek(0)
        while chunk := out.read(CHUNK_BYTES):
            yield chunk


def _xlsx_cell(sheet: Any, text: str) -> Any:
    """Text stays text: no formula from a leading '=', no control characters Excel refuses;
    a blank is no cell at all (it keeps the sheet XML small)."""
    if not text:
        return None
    if ILLEGAL_CHARACTERS_RE.search(text):
        text = ILLEGAL_CHARACTERS_RE.sub("", text)
    if not text.startswith("="):
        return text
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"
    return cell
