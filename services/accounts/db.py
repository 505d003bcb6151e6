"""The two SQL databases the accounts store runs on, and its schema.

SQLite by default, PostgreSQL in production (``TOLLGATE_ACCOUNTS_DB`` = a file path or a
``postgresql://`` DSN). The adapters differ only in connection, transactions, row locks
and a few DDL words; the store above them speaks one SQL.

The schema comes from the numbered SQL files in ``services/accounts/migrations``, applied
by ``services/accounts/schema.py``; ``words`` are the two DDL words the engines spell
differently, which those files write as placeholders.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

from tollgate.files import private_dir, private_file


class SqliteDatabase:
    """sqlite3 in autocommit mode; transactions are explicit ``BEGIN IMMEDIATE``."""

    dialect = "sqlite"
    words: ClassVar[dict[str, str]] = {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "false": "0"}
    integrity_error: type[Exception] = sqlite3.IntegrityError

    def __init__(self, path: Path):
        private_dir(path.parent, tighten=False)  # created 0700; an operator's own directory is left as it is
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file is path or file.exists():
                private_file(file)  # 0600: balances and key hashes are nobody else's to read
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            self._conn.execute(f"PRAGMA {pragma}")

    def execute(self, sql: str, params: tuple = ()):
        return self._conn.execute(sql, params)

    def begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def lock_account(self, account_id: str) -> None:
        """``BEGIN IMMEDIATE`` already serializes writers."""

    def lock_migrations(self) -> None:
        """``BEGIN IMMEDIATE`` already holds the database's write lock."""

    def tables(self) -> set[str]:
        return {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def columns(self, table: str) -> set[str]:
        return {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        self._conn.close()


class PostgresDatabase:
    """psycopg 3 in autocommit mode; transactions are explicit ``BEGIN``. Writers to one
    account serialize on its row (``UPDATE accounts``) and the ledger's unique reference.

    A connection the server dropped (a restart, a failover) is replaced at the next
    statement outside a transaction; inside one, the statement fails and the transaction
    is given up (nothing half-done is carried over to a new connection)."""

    dialect = "postgres"
    words: ClassVar[dict[str, str]] = {"serial": "BIGSERIAL PRIMARY KEY", "false": "FALSE"}
    MIGRATION_LOCK = 0x546F6C6C67617465  # "Tollgate": the advisory lock key schema migrations hold
    CONNECT: ClassVar[dict[str, Any]] = {
        "autocommit": True,
        "connect_timeout": 5,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }

    def __init__(self, dsn: str):
        import psycopg

        self._psycopg = psycopg
        self._dsn = dsn
        self._conn = psycopg.connect(dsn, **self.CONNECT)
        self._in_transaction = False
        self.integrity_error = psycopg.IntegrityError

    def _live(self):
        """The connection, replaced first if the server dropped it."""
        if self._conn.closed or self._conn.broken:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = self._psycopg.connect(self._dsn, **self.CONNECT)
        return self._conn

    def execute(self, sql: str, params: tuple = ()):
        if not self._in_transaction:
            return self._live().execute(sql.replace("?", "%s"), params)
        if sql in ("COMMIT", "ROLLBACK"):
            self._in_transaction = False
            if sql == "ROLLBACK" and (self._conn.closed or self._conn.broken):
                return None  # the server ended the transaction with the connection
        return self._conn.execute(sql.replace("?", "%s"), params)

    def begin(self) -> None:
        try:
            self._live().execute("BEGIN")
        except self._psycopg.OperationalError:
            if not self._conn.broken:
                raise
            self._live().execute("BEGIN")  # the server had dropped it unnoticed: nothing was done yet, so a new one
        self._in_transaction = True

    def lock_account(self, account_id: str) -> None:
        """Serialize decisions about one account's balance across accounts replicas."""
        self._conn.execute("SELECT id FROM accounts WHERE id = %s FOR UPDATE", (account_id,))

    def lock_migrations(self) -> None:
        """Serialize schema migrations across accounts replicas (inside a transaction; released at its end)."""
        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.MIGRATION_LOCK,))

    def tables(self) -> set[str]:
        rows = self.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        return {row[0] for row in rows}

    def columns(self, table: str) -> set[str]:
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = current_schema()", (table,)
        )
        return {row[0] for row in rows}

    def close(self) -> None:
        self._conn.close()


def open_database(target: str | Path) -> SqliteDatabase | PostgresDatabase:
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(text)
    return SqliteDatabase(Path(text))


class Transaction:
    def __init__(self, db: SqliteDatabase | PostgresDatabase):
        self._db = db

    def __enter__(self):
        self._db.begin()
        return self

    def __exit__(self, exc_type, exc, tb):
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
