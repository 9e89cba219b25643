"""A demo province for `sotay up`: communes, a grassroots committee, cells, and a few hundred
members of every status. Seeded only into an empty database; demo passwords are random."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from services.core.db import Database
from services.core.ids import new_id
from services.identity import accounts, members, units
from services.identity.members import Profile

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vi", "Lương", "Nông", "Đặng", "Lăng", "Hà", "Đinh"]
MIDDLE = ["Văn", "Thị", "Đức", "Minh", "Thu", "Hữu", "Ngọc", "Quang", "Thanh"]
GIVEN = ["An", "Bình", "Cường", "Dung", "Giang", "Hải", "Hạnh", "Hùng", "Lan", "Linh", "Mai", "Nam",
         "Phương", "Quân", "Sơn", "Thảo", "Trang", "Tuấn", "Vân", "Yến", "Đạt", "Đông"]
ETHNICITIES = ["Kinh", "Tày", "Nùng", "Dao", "Sán Chay", "Hoa"]
COMMUNES = ["Đảng ủy phường Đông Kinh", "Đảng ủy xã Đồng Đăng", "Đảng ủy xã Cao Lộc"]
CELLS = ["Chi bộ Khối 1", "Chi bộ Khối 2", "Chi bộ Trường Tiểu học", "Chi bộ Trường Mầm non"]


@dataclass(frozen=True)
class DemoAccount:
    login: str
    password: str
    who: str


def is_empty(db: Database) -> bool:
    with db.read() as conn:
        return conn.execute(sa.text("SELECT 1 FROM units LIMIT 1")).first() is None


def seed_demo(db: Database, rng: random.Random | None = None) -> list[DemoAccount]:
    rng = rng or random.Random(2026)
    demo: list[DemoAccount] = []
    admin_pw = secrets.token_urlsafe(9)
    _, root = accounts.create_admin(db, "admin", admin_pw, "Tỉnh ủy Lạng Sơn (demo)")
    demo.append(DemoAccount("admin", admin_pw, "quản trị tỉnh / province admin"))
    phone_no = 912000000
    card_no = 10000
    with db.write() as conn:
        for ci, commune_name in enumerate(COMMUNES):
            commune = units.create(conn, commune_name, "commune", root, code=f"XA{ci + 1:02d}")
            grassroots = units.create(conn, f"Đảng bộ cơ sở {ci + 1}", "grassroots", commune.id,
                                      code=f"XA{ci + 1:02d}-CS")
            for k, cell_name in enumerate(CELLS):
                parent = commune.id if k < 2 else grassroots.id
                cell = units.create(conn, f"{cell_name} ({commune_name.split()[-1]})", "cell", parent,
                                    code=f"XA{ci + 1:02d}-CB{k + 1:02d}")
                for i in range(25):
                    phone_no += 1
                    card_no += 1
                    position = {0: "secretary", 1: "deputy_secretary", 2: "committee_member"}.get(i, "member")
                    status = "probationary" if i in (22, 23) else "official"
                    exempt = i == 24
                    joined = f"{rng.randint(1975, 2023)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                    profile = Profile(
                        full_name=f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
                        gender=rng.choice(["male", "female"]),
                        birth_date=f"{rng.randint(1940, 2000)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                        ethnicity=rng.choice(ETHNICITIES),
                        phone=f"0{phone_no}",
                        party_card_number=f"LS{card_no:08d}",
                        joined_on=joined,
                        official_on="" if status == "probationary" else joined,
                        status=status,
                        exempt=exempt,
                        exempt_reason="Tuổi cao, sức yếu" if exempt else "",
                        exempt_since="2024-01-15" if exempt else "",
                        position=position,
                    )
                    wants_login = ci == 0 and k == 0 and i in (0, 5, 22)
                    password = secrets.token_urlsafe(9) if wants_login else ""
                    member = members.create(
                        conn, cell.id, profile, accounts.hash_password(password) if password else None
                    )
                    if wants_login:
                        who = {0: "bí thư chi bộ / cell secretary", 5: "đảng viên / member",
                               22: "đảng viên dự bị / probationary member"}[i]
                        demo.append(DemoAccount(member.phone, password, f"{who}, {cell.name}"))
        commune_admin_pw = secrets.token_urlsafe(9)
    first_commune = _unit_by_code(db, "XA01")
    acct, _ = accounts.create_admin(db, "admin-xa01", commune_admin_pw)
    with db.write() as conn:
        conn.execute(sa.text("DELETE FROM role_grants WHERE account_id = :a"), {"a": acct})
        conn.execute(
            sa.text("INSERT INTO role_grants (id, account_id, role, unit_id, granted_at) "
                    "VALUES (:id, :a, 'admin', :u, 0)"),
            {"id": new_id(), "a": acct, "u": first_commune},
        )
    demo.append(DemoAccount("admin-xa01", commune_admin_pw, f"quản trị xã / commune admin, {COMMUNES[0]}"))
    return demo


def _unit_by_code(db: Database, code: str) -> str:
    with db.read() as conn:
        return str(conn.execute(sa.text("SELECT id FROM units WHERE code = :c"), {"c": code}).scalar_one())
