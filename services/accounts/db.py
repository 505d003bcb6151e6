"""The two SQL databases the accounts store runs on, and its schema.

SQLite by default, PostgreSQL in production (``TOLLGATE_ACCOUNTS_DB`` = a file path or a
``postgresql://`` DSN). The adapters differ only in connection, transactions, row locks
and a few DDL words; the store above them speaks one SQL.

Migrations: ``SCHEMA`` creates what is missing, and ``ADDED_COLUMNS`` adds each column a
table gained after it first shipped, once, on both engines; a new release appends to
these lists and never edits an entry.
"""

from __future__ import annotations

import contextlib

import sqlite3
from pathlib import Path

from tollgate.files import private_dir, private_file

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS accounts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        balance_micros BIGINT NOT NULL DEFAULT 0,
        created_at_ms BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        created_at_ms BIGINT NOT NULL,
        revoked_at_ms BIGINT NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS api_keys_account ON api_keys(account_id)",
    """CREATE TABLE IF NOT EXISTS ledger (
        id {serial},
        account_id TEXT NOT NULL REFERENCES accounts(id),
        kind TEXT NOT NULL,
        amount_micros BIGINT NOT NULL,
        reference TEXT NOT NULL UNIQUE,
        created_at_ms BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS ledger_account ON ledger(account_id)",
    # Per-key spend per UTC day ("d<day number>") and month ("m<year*12+month-1>"), for spend caps.
    """CREATE TABLE IF NOT EXISTS key_spend (
        key_id TEXT NOT NULL,
        period TEXT NOT NULL,
        micros BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (key_id, period)
    )""",
    # Balance an edge has reserved; see docs/balance-leases.md. spent_micros = -1 while open.
    """CREATE TABLE IF NOT EXISTS leases (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        holder TEXT NOT NULL,
        granted_micros BIGINT NOT NULL,
        debited_micros BIGINT NOT NULL DEFAULT 0,
        spent_micros BIGINT NOT NULL DEFAULT -1,
        expires_at_ms BIGINT NOT NULL,
        created_at_ms BIGINT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS leases_account ON leases(account_id, expires_at_ms)",
]

# Columns added after a table first shipped: (table, column, definition), applied once.
ADDED_COLUMNS = [
    ("accounts", "require_zdr", "BOOLEAN NOT NULL DEFAULT {false}"),
    ("api_keys", "require_zdr", "BOOLEAN NOT NULL DEFAULT {false}"),
    ("ledger", "effective_at_ms", "BIGINT NOT NULL DEFAULT 0"),  # when the request happened (usage)
    ("api_keys", "allowed_models", "TEXT NOT NULL DEFAULT ''"),  # newline-separated glob patterns
    ("api_keys", "expires_at_ms", "BIGINT NOT NULL DEFAULT 0"),
    ("api_keys", "rpm_limit", "INTEGER NOT NULL DEFAULT 0"),  # 0 = unlimited
    ("api_keys", "tpm_limit", "BIGINT NOT NULL DEFAULT 0"),
    ("accounts", "status", "TEXT NOT NULL DEFAULT 'active'"),
    ("accounts", "status_reason", "TEXT NOT NULL DEFAULT ''"),
    ("api_keys", "last_used_at_ms", "BIGINT NOT NULL DEFAULT 0"),
    ("api_keys", "spend_cap_day_micros", "BIGINT NOT NULL DEFAULT 0"),
    ("api_keys", "spend_cap_month_micros", "BIGINT NOT NULL DEFAULT 0"),
    ("ledger", "note", "TEXT NOT NULL DEFAULT ''"),  # an adjustment's reason
    ("ledger", "key_id", "TEXT NOT NULL DEFAULT ''"),  # usage: the key that spent it
    ("api_keys", "parent_key_id", "TEXT NOT NULL DEFAULT ''"),  # the key that created it or that it replaced: its spend counts against that key's caps too
    ("leases", "key_id", "TEXT NOT NULL DEFAULT ''"),  # a capped key's lease ('' = the account's)
    ("leases", "cap_keys", "TEXT NOT NULL DEFAULT ''"),  # newline-separated capped keys whose caps the lease reserves against
]


class SqliteDatabase:
    """sqlite3 in autocommit mode; transactions are explicit ``BEGIN IMMEDIATE``."""

    words = {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "false": "0"}
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

    words = {"serial": "BIGSERIAL PRIMARY KEY", "false": "FALSE"}
    CONNECT = {"autocommit": True, "connect_timeout": 5, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}

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

    def columns(self, table: str) -> set[str]:
        rows = self.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = current_schema()", (table,))
        return {row[0] for row in rows}

    def close(self) -> None:
        self._conn.close()


def open_database(target: str | Path) -> SqliteDatabase | PostgresDatabase:
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(text)
    return SqliteDatabase(Path(text))


def migrate(db: SqliteDatabase | PostgresDatabase) -> None:
    for stmt in SCHEMA:
        db.execute(stmt.format(**db.words))
    for table, column, definition in ADDED_COLUMNS:
        if column not in db.columns(table):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition.format(**db.words)}")


class Transaction:
    def __init__(self, db: SqliteDatabase | PostgresDatabase):
        self._db = db

    def __enter__(self):
        self._db.begin()
        return self

    def __exit__(self, exc_type, exc, tb):
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
