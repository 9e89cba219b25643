"""core.db.fetch and execute: the driver-level statements behave as SQLAlchemy's on both backends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from services.core.db import Database, Migration, execute, fetch, fetch_one

SCHEMA = [Migration(1, "people", ("CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT NOT NULL, age INTEGER)",))]


@pytest.fixture
def db(database: Database) -> Database:
    database.migrate("test", SCHEMA)
    with database.write() as conn:
        for pid, name, age in (("a", "An 100%", 30), ("b", "Bình", None), ("c", "Chi", 41)):
            conn.execute(sa.text("INSERT INTO people VALUES (:i, :n, :a)"), {"i": pid, "n": name, "a": age})
    return database


def test_rows_are_named_tuples_with_the_same_values_as_sqlalchemy(db: Database) -> None:
    sql = "SELECT id, name, age FROM people WHERE name LIKE :q OR age > :age ORDER BY id"
    params = {"q": "%100%%", "age": 40}
    with db.read() as conn:
        ours = fetch(conn, sql, params)
        theirs = conn.execute(sa.text(sql), params).all()
    assert [tuple(r) for r in ours] == [tuple(r) for r in theirs] == [("a", "An 100%", 30), ("c", "Chi", 41)]
    assert ours[0].name == "An 100%" and ours[1]._asdict() == {"id": "c", "name": "Chi", "age": 41}


def test_literal_percent_casts_and_no_parameters(db: Database) -> None:
    with db.read() as conn:
        assert fetch(conn, "SELECT COUNT(*) AS n FROM people WHERE name LIKE '%100%'")[0].n == 1
        assert fetch_one(conn, "SELECT name FROM people WHERE id = :id", {"id": "zz"}) is None
        if db.is_postgres:
            assert fetch_one(conn, "SELECT :v::int + 1 AS v", {"v": "41"}).v == 42


def test_sees_the_enclosing_transaction(db: Database) -> None:
    with db.write() as conn:
        conn.execute(sa.text("INSERT INTO people VALUES ('d', 'Dũng', 50)"))
        assert fetch_one(conn, "SELECT name FROM people WHERE id = 'd'").name == "Dũng"
        conn.rollback()
    with db.read() as conn:
        assert fetch(conn, "SELECT id FROM people WHERE id = 'd'") == []


def test_execute_writes_in_the_enclosing_transaction_and_counts_rows(db: Database) -> None:
    with db.write() as conn:
        assert execute(conn, "INSERT INTO people VALUES (:i, :n, NULL), (:j, :m, 7)",
                       {"i": "d", "n": "Dũng 5%", "j": "e", "m": "Em"}) == 2
        assert execute(conn, "UPDATE people SET age = :a WHERE age IS NULL", {"a": 1}) == 2  # b and d
        conn.rollback()
    with db.read() as conn:
        assert fetch(conn, "SELECT id FROM people WHERE id IN ('d', 'e')") == []
    with db.write() as conn:
        execute(conn, "INSERT INTO people VALUES (:i, :n, NULL)", {"i": "d", "n": "Dũng"})
    with pytest.raises(sa_exc.IntegrityError), db.write() as conn:  # a conflict, as SQLAlchemy raises it
        execute(conn, "INSERT INTO people VALUES (:i, :n, NULL)", {"i": "d", "n": "again"})
    with db.read() as conn:
        assert fetch_one(conn, "SELECT name FROM people WHERE id = 'd'").name == "Dũng"


def test_driver_errors_become_sqlalchemy_errors(db: Database) -> None:
    with db.read() as conn, pytest.raises(sa_exc.DBAPIError) as caught:
        fetch(conn, "SELECT nope FROM people")
    assert isinstance(caught.value, sa_exc.ProgrammingError | sa_exc.OperationalError)


def test_a_dead_connection_is_unavailable_and_discarded(db: Database) -> None:
    if not db.is_postgres:
        pytest.skip("a PostgreSQL connection can be killed from another session")
    with db.read() as conn:
        pid = fetch_one(conn, "SELECT pg_backend_pid() AS pid").pid
        with db.engine.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        with pytest.raises(sa_exc.OperationalError):
            fetch(conn, "SELECT 1 AS one")
        assert conn.invalidated
    with db.read() as conn:  # the pool hands out a live connection again
        assert fetch_one(conn, "SELECT 1 AS one").one == 1
