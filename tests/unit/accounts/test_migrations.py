"""The accounts schema from numbered migrations (services/accounts/schema.py), on SQLite and
PostgreSQL: a new database, a database made before numbered migrations (built from the
frozen tests/data/accounts_schema_legacy.sql, what that code ran), a second run, two
replicas at once, and migration files that cannot be used."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import psycopg
import pytest

from services.accounts import schema
from services.accounts.db import open_database
from services.accounts.notices import Outbox
from services.accounts.store import SqlStore
from tollgate.keys import hash_key

LEGACY = Path(__file__).parents[2] / "data" / "accounts_schema_legacy.sql"
LEGACY_ERA = ["0001_initial.sql", "0002_added_columns.sql", "0003_notice_outbox.sql"]  # what the old code's schema equals
EVERY = [m.name for m in schema.migrations("sqlite")]  # no per-engine pair yet: the same files on both engines
RECORDED = [(m.version, m.name) for m in schema.migrations("sqlite")]
TABLES_LAST_FIRST = ["notice_outbox", "leases", "key_spend", "ledger", "api_keys", "accounts", "schema_migrations"]
SECRET = "sk-tg-legacy-key"


def shape(db) -> dict:
    """Every table's columns (name, type, nullability, default; in order) and every index."""
    if db.dialect == "sqlite":
        tables = {t: list(db.execute(f"PRAGMA table_info({t})")) for t in db.tables() - {"sqlite_sequence", "schema_migrations"}}
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name <> 'schema_migrations'")}
        return {"tables": tables, "indexes": indexes}
    tables = {}
    for t in db.tables() - {"schema_migrations"}:
        tables[t] = list(
            db.execute(
                "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                "WHERE table_name = ? AND table_schema = current_schema() ORDER BY ordinal_position",
                (t,),
            )
        )
    indexes = {
        (r[0], r[1])
        for r in db.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'"
        )
    }
    return {"tables": tables, "indexes": {name for name, _ in indexes}, "indexdefs": {d.split(" ON ")[1] for _, d in indexes}}


def build_legacy(target: str, columns_shipped: int | None = None) -> None:
    """A database as the code before numbered migrations made it: all of it, or (an older
    release) its tables with only the first ``columns_shipped`` added columns and no outbox."""
    db = open_database(target)
    try:
        stmts = schema.statements(LEGACY.read_text(), db.words)
        if columns_shipped is not None:
            creates = [s for s in stmts if s.startswith("CREATE") and "notice_outbox" not in s]
            stmts = creates + [s for s in stmts if s.startswith("ALTER")][:columns_shipped]
        for stmt in stmts:
            db.execute(stmt)
        now = int(time.time() * 1000)
        db.execute("INSERT INTO accounts (id, name, balance_micros, created_at_ms) VALUES ('acct_old', 'old', 1000, ?)", (now,))
        db.execute(
            "INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_at_ms) VALUES ('key_old', 'acct_old', 'k', "
            "'sk-tg-leg', ?, ?)",
            (hash_key(SECRET), now),
        )
        db.execute(
            "INSERT INTO ledger (account_id, kind, amount_micros, reference, created_at_ms) VALUES ('acct_old', 'topup', 1000, 'topup:1', "
            "?)",
            (now,),
        )
        db.execute(
            "INSERT INTO leases (id, account_id, holder, granted_micros, expires_at_ms, created_at_ms) VALUES ('lease_old', 'acct_old', "
            "'edge-1', 100, ?, ?)",
            (now + 3_600_000, now),
        )
        db.execute("INSERT INTO key_spend (key_id, period, micros) VALUES ('key_old', 'd1', 5)")
        if columns_shipped is None:
            db.execute("UPDATE api_keys SET rpm_limit = 7, allowed_models = 'gpt-*'")
            db.execute("INSERT INTO notice_outbox (subject, payload, created_at_ms) VALUES ('tollgate.control.key', '00ff', ?)", (now,))
    finally:
        db.close()


def drop_everything(db) -> None:
    later = sorted(db.tables() - set(TABLES_LAST_FIRST) - {"sqlite_sequence"})  # tables of later migrations (no foreign keys)
    for table in later + TABLES_LAST_FIRST:
        if table in db.tables():
            db.execute(f"DROP TABLE {table}")


def legacy_era(tmp_path: Path) -> Path:
    """The migrations a database made before numbered migrations can (partly) have."""
    directory = tmp_path / "legacy-era"
    directory.mkdir()
    for name in LEGACY_ERA:
        (directory / name).write_text((schema.MIGRATIONS / name).read_text())
    return directory


def recorded(db) -> list[tuple[int, str]]:
    return [(int(v), n) for v, n in db.execute("SELECT version, name FROM schema_migrations ORDER BY version")]


def test_a_new_database_gets_every_migration_and_the_schema_the_old_code_made(accounts_db: str, tmp_path: Path) -> None:
    build_legacy(accounts_db)
    db = open_database(accounts_db)
    try:
        before = shape(db)
        drop_everything(db)
        assert db.tables() <= {"sqlite_sequence"}
        assert schema.migrate(db, legacy_era(tmp_path)) == LEGACY_ERA
        assert shape(db) == before
        assert schema.migrate(db) == EVERY[len(LEGACY_ERA) :]
        assert recorded(db) == RECORDED
        assert set(before["tables"]) == {"accounts", "api_keys", "ledger", "key_spend", "leases", "notice_outbox"}
    finally:
        db.close()


def test_applying_twice_is_a_no_op(accounts_db: str) -> None:
    db = open_database(accounts_db)
    try:
        assert schema.migrate(db) == EVERY
        after_first, records = shape(db), recorded(db)
        assert schema.migrate(db) == []
        assert (shape(db), recorded(db)) == (after_first, records)
    finally:
        db.close()
    store, outbox = SqlStore(accounts_db), Outbox(accounts_db)  # both migrate at start-up: nothing left to do
    store.close()
    outbox.close()
    db = open_database(accounts_db)
    try:
        assert recorded(db) == records
    finally:
        db.close()


@pytest.mark.parametrize("columns_shipped", [None, 4], ids=["today", "older-release"])
async def test_a_database_made_before_migrations_is_adopted_with_its_rows(accounts_db: str, columns_shipped: int | None) -> None:
    build_legacy(accounts_db, columns_shipped)
    store = SqlStore(accounts_db)  # migrates
    try:
        principal = await store.principal_by_hash(hash_key(SECRET))
        assert principal is not None and (principal.key.id, principal.account.id) == ("key_old", "acct_old")
        assert principal.account.balance_micros == 1000 and principal.account.status == "active"
        if columns_shipped is None:
            assert (principal.key.rpm_limit, principal.key.allowed_models) == (7, ("gpt-*",))
        assert await store.reserved("acct_old") == 100  # the open lease still holds its grant
        assert await store.apply("acct_old", "usage", -30, "usage:r1", key_id="key_old", lease_id="lease_old") == (True, 970)
        assert await store.reserved("acct_old") == 70
        assert await store.ledger_sum("acct_old") == 970
        rows, _ = await store.ledger("acct_old", 10)
        assert [(r.kind, r.amount_micros, r.reference) for r in rows] == [("usage", -30, "usage:r1"), ("topup", 1000, "topup:1")]
        assert (await store.key_spend("key_old", int(time.time() * 1000)))[0] == 30
        lease = await store.acquire_lease("acct_old", "", 50, 1, "edge-2", key_id="key_old")
        assert lease is not None and lease.granted_now == 50
    finally:
        store.close()
    outbox = Outbox(accounts_db)
    try:
        assert await outbox.count() == (1 if columns_shipped is None else 0)
    finally:
        outbox.close()
    db = open_database(accounts_db)
    try:
        assert recorded(db) == RECORDED
        assert schema.migrate(db) == []
        adopted = shape(db)
        drop_everything(db)
        schema.migrate(db)
        assert adopted == shape(db)  # the same schema as a new database's
    finally:
        db.close()


def test_two_replicas_starting_together_apply_the_migrations_once(accounts_db: str) -> None:
    dbs = [open_database(accounts_db) for _ in range(2)]
    start = threading.Barrier(2)
    results: list = [None, None]

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = schema.migrate(dbs[i])
        except Exception as exc:  # reported below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert sorted(results, key=len) == [[], EVERY]
        assert recorded(dbs[0]) == RECORDED
    finally:
        for db in dbs:
            db.close()


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"0001_first.sql": "CREATE TABLE a (x INT);", "2_second.sql": "CREATE TABLE b (x INT);"},
            "'2_second.sql' .* is not named NNNN_name.sql",
        ),
        ({"0001_first.sql": "CREATE TABLE a (x INT);", "0002_Second.sql": ""}, "'0002_Second.sql' .* is not named"),
        ({"0001_first.sql": "CREATE TABLE a (x INT);", "0002_second.sqlite": ""}, "'0002_second.sqlite' .* is not named"),
        ({"0001_first.sql": "", "0001_other.sql": ""}, "0001 is given more than once: 0001_first.sql, 0001_other.sql"),
        ({"0001_first.sql": "", "0001_first.sqlite.sql": ""}, "0001 is given more than once"),
        ({"0001_first.sqlite.sql": "", "0001_other.postgres.sql": ""}, "0001 is given more than once"),
        ({"0001_first.sqlite.sql": "CREATE TABLE a (x INT);"}, "0001_first.sqlite.sql has no counterpart"),
        ({"0000_first.sql": ""}, "start at 0001"),
        ({"0001_first.sql": "CREATE TABLE a (id {serial}, f BOOLEAN DEFAULT {true});"}, r"unknown placeholder\(s\) \{true\}"),
    ],
)
def test_unusable_migration_files_are_a_clear_error_before_anything_is_applied(accounts_db: str, tmp_path: Path, files, message) -> None:
    directory = write(tmp_path / "migrations", files)
    db = open_database(accounts_db)
    try:
        with pytest.raises(schema.MigrationError, match=message):
            schema.migrate(db, directory)
        assert db.tables() == set()
    finally:
        db.close()


def test_per_engine_files_and_placeholders(accounts_db: str, tmp_path: Path) -> None:
    directory = write(
        tmp_path / "migrations",
        {
            "0001_counter.sql": "-- a comment; with a semicolon\nCREATE TABLE counter (id {serial}, on_ BOOLEAN NOT NULL DEFAULT {false});",
            "0002_engine.sqlite.sql": "CREATE TABLE only_sqlite (x INT);",
            "0002_engine.postgres.sql": "CREATE TABLE only_postgres (x INT);\nCREATE TABLE only_postgres_too (x INT);",
        },
    )
    db = open_database(accounts_db)
    try:
        applied = schema.migrate(db, directory)
        assert applied == ["0001_counter.sql", f"0002_engine.{db.dialect}.sql"]
        db.execute("INSERT INTO counter DEFAULT VALUES")
        db.execute("INSERT INTO counter DEFAULT VALUES")
        assert [tuple(r) for r in db.execute("SELECT id, on_ FROM counter ORDER BY id")] == [(1, False), (2, False)]
        expected = {"only_sqlite"} if db.dialect == "sqlite" else {"only_postgres", "only_postgres_too"}
        assert db.tables() - {"sqlite_sequence"} == {"counter", "schema_migrations"} | expected
    finally:
        db.close()


def test_a_failing_migration_leaves_the_database_as_it_was(accounts_db: str, tmp_path: Path) -> None:
    directory = write(
        tmp_path / "migrations",
        {"0001_good.sql": "CREATE TABLE good (x INT);", "0002_bad.sql": "CREATE TABLE bad (x NOSUCHTYPE NOT NULL,);"},
    )
    db = open_database(accounts_db)
    try:
        with pytest.raises((sqlite3.Error, psycopg.Error)):  # the database's own syntax error
            schema.migrate(db, directory)
        assert db.tables() == set()
        (directory / "0002_bad.sql").write_text("CREATE TABLE bad (x INT);")
        assert schema.migrate(db, directory) == ["0001_good.sql", "0002_bad.sql"]
    finally:
        db.close()


def test_only_a_database_made_before_migrations_may_already_have_a_column(accounts_db: str) -> None:
    """Adoption is the only leniency: on a database with migrations recorded, a column
    0002 would add that is already there is an error, not silently skipped."""
    db = open_database(accounts_db)
    try:
        assert schema.migrate(db) == EVERY
        db.execute("DELETE FROM schema_migrations WHERE version = 2")
        with pytest.raises(Exception, match=r"(?i)duplicate|already exists"):
            schema.migrate(db)
        assert [v for v, _ in recorded(db)] == [v for v, _ in RECORDED if v != 2]
    finally:
        db.close()
