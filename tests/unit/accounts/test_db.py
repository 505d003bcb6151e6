"""The accounts database adapter survives the server dropping its connection (a PostgreSQL
restart or failover): the next statement outside a transaction runs on a new connection."""

from __future__ import annotations

import pytest

from services.accounts.db import PostgresDatabase
from services.accounts.store import SqlStore


def drop_connection(dsn: str, db: PostgresDatabase) -> None:
    """What a server restart does to one client: its backend is terminated."""
    import psycopg

    pid = db.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.fixture
def dsn(accounts_db):
    if not accounts_db.startswith("postgres"):
        pytest.skip("a PostgreSQL connection; SQLite has none to lose")
    return accounts_db


async def test_the_store_works_again_after_the_server_drops_its_connection(dsn) -> None:
    store = SqlStore(dsn)
    try:
        account = await store.create_account("before", 1_000)
        drop_connection(dsn, store._db)
        # A transaction's BEGIN notices the dropped connection and starts on a new one.
        after = await store.create_account("after", 2_000)
        assert after.balance_micros == 2_000
        drop_connection(dsn, store._db)
        # Readiness: the first ping may see the loss, the next one a new connection.
        try:
            store.ping()
        except Exception:
            store.ping()
        assert (await store.get_account(account.id)).balance_micros == 1_000
    finally:
        store.close()


def test_a_transaction_cut_midway_fails_and_is_not_carried_over(dsn) -> None:
    import psycopg

    db = PostgresDatabase(dsn)
    try:
        db.execute("CREATE TABLE t (v INT)")
        db.begin()
        db.execute("INSERT INTO t VALUES (1)")
        drop_connection_mid = db._conn.info.backend_pid
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (drop_connection_mid,))
        with pytest.raises(psycopg.OperationalError):
            db.execute("INSERT INTO t VALUES (2)")
        db.execute("ROLLBACK")  # what Transaction.__exit__ does: fine on a dropped connection
        assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 0  # a new connection, nothing half-done
    finally:
        db.close()
