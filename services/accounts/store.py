"""Accounts, keys and the ledger in SQL: SQLite by default, PostgreSQL in production
(``TOLLGATE_ACCOUNTS_DB`` = a file path or a ``postgresql://`` DSN). One store, two
small database adapters that differ only in connection, transactions and DDL words.

The ledger is append-only; every row has a unique ``reference`` (``usage:<request id>``
for debits, ``topup:<reference>`` for top-ups), so applying the same entry twice is a
no-op. The account's ``balance_micros`` is updated in the same transaction as the
ledger insert and always equals the sum of its ledger rows.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tollgate.errors import Conflict

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
]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: str
    name: str
    balance_micros: int
    created_at_ms: int
    require_zdr: bool = False


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: str
    account_id: str
    name: str
    prefix: str
    key_hash: str
    created_at_ms: int
    revoked_at_ms: int
    require_zdr: bool = False
    allowed_models: tuple[str, ...] = ()
    expires_at_ms: int = 0
    rpm_limit: int = 0
    tpm_limit: int = 0


@dataclass(frozen=True, slots=True)
class PrincipalRow:
    key: KeyRow
    account: AccountRow


_KEY_COLS = "k.id, k.account_id, k.name, k.prefix, k.key_hash, k.created_at_ms, k.revoked_at_ms, k.require_zdr, k.allowed_models, k.expires_at_ms, k.rpm_limit, k.tpm_limit"
_ACCOUNT_COLS = "a.id, a.name, a.balance_micros, a.created_at_ms, a.require_zdr"
_N_KEY_COLS = _KEY_COLS.count(",") + 1


class SqliteDatabase:
    """sqlite3 in autocommit mode; transactions are explicit ``BEGIN IMMEDIATE``."""

    words = {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "false": "0"}
    integrity_error: type[Exception] = sqlite3.IntegrityError

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            self._conn.execute(f"PRAGMA {pragma}")

    def execute(self, sql: str, params: tuple = ()):
        return self._conn.execute(sql, params)

    def begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def columns(self, table: str) -> set[str]:
        return {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        self._conn.close()


class PostgresDatabase:
    """psycopg 3 in autocommit mode; transactions are explicit ``BEGIN``. Writers to one
    account serialize on its row (``UPDATE accounts``) and the ledger's unique reference."""

    words = {"serial": "BIGSERIAL PRIMARY KEY", "false": "FALSE"}

    def __init__(self, dsn: str):
        import psycopg

        self._conn = psycopg.connect(dsn, autocommit=True)
        self.integrity_error = psycopg.IntegrityError

    def execute(self, sql: str, params: tuple = ()):
        return self._conn.execute(sql.replace("?", "%s"), params)

    def begin(self) -> None:
        self._conn.execute("BEGIN")

    def columns(self, table: str) -> set[str]:
        rows = self._conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s AND table_schema = current_schema()", (table,))
        return {row[0] for row in rows}

    def close(self) -> None:
        self._conn.close()


def open_database(target: str | Path) -> SqliteDatabase | PostgresDatabase:
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(text)
    return SqliteDatabase(Path(text))


class SqlStore:
    """Blocking database access behind ``asyncio.to_thread``; one statement stream at a time."""

    def __init__(self, target: str | Path):
        self._db = open_database(target)
        self._lock = threading.Lock()
        for stmt in SCHEMA:
            self._db.execute(stmt.format(**self._db.words))
        for table, column, definition in ADDED_COLUMNS:
            if column not in self._db.columns(table):
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition.format(**self._db.words)}")

    def close(self) -> None:
        self._db.close()

    async def _run(self, fn, *args):
        return await asyncio.to_thread(self._locked, fn, *args)

    def _locked(self, fn, *args):
        with self._lock:
            return fn(*args)

    # -- accounts -----------------------------------------------------------------
    async def create_account(self, name: str, initial_balance_micros: int, require_zdr: bool = False) -> AccountRow:
        return await self._run(self._create_account, name, initial_balance_micros, require_zdr)

    def _create_account(self, name: str, initial: int, require_zdr: bool = False) -> AccountRow:
        account = AccountRow(new_id("acct"), name, 0, now_ms(), require_zdr)
        with self._tx():
            self._db.execute(
                "INSERT INTO accounts (id, name, balance_micros, created_at_ms, require_zdr) VALUES (?, ?, 0, ?, ?)",
                (account.id, account.name, account.created_at_ms, account.require_zdr),
            )
            if initial:
                self._apply(account.id, "credit", initial, f"initial:{account.id}")
        return self._get_account(account.id)

    async def get_account(self, account_id: str) -> AccountRow | None:
        return await self._run(self._get_account, account_id)

    def _get_account(self, account_id: str) -> AccountRow | None:
        row = self._db.execute(f"SELECT {_ACCOUNT_COLS} FROM accounts a WHERE a.id = ?", (account_id,)).fetchone()
        return _account(row) if row else None

    # -- keys ---------------------------------------------------------------------
    async def create_key(
        self, account_id: str, name: str, prefix: str, key_hash: str, require_zdr: bool = False,
        allowed_models: tuple[str, ...] = (), expires_at_ms: int = 0, rpm_limit: int = 0, tpm_limit: int = 0,
    ) -> KeyRow:  # fmt: skip
        key = KeyRow(
            new_id("key"), account_id, name, prefix, key_hash, now_ms(), 0, require_zdr, tuple(allowed_models), expires_at_ms, rpm_limit, tpm_limit
        )
        await self._run(self._insert_key, key)
        return key

    def _insert_key(self, key: KeyRow) -> None:
        try:
            self._insert_key_row(key)
        except self._db.integrity_error:
            raise Conflict("a key with this hash already exists") from None

    def _insert_key_row(self, key: KeyRow) -> None:
        self._db.execute(
            "INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_at_ms, revoked_at_ms, require_zdr, allowed_models, "
            "expires_at_ms, rpm_limit, tpm_limit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key.id, key.account_id, key.name, key.prefix, key.key_hash, key.created_at_ms, key.revoked_at_ms, key.require_zdr,
             "\n".join(key.allowed_models), key.expires_at_ms, key.rpm_limit, key.tpm_limit),  # fmt: skip
        )

    async def principal_by_hash(self, key_hash: str) -> PrincipalRow | None:
        return await self._run(self._principal_by_hash, key_hash)

    def _principal_by_hash(self, key_hash: str) -> PrincipalRow | None:
        row = self._db.execute(
            f"SELECT {_KEY_COLS}, {_ACCOUNT_COLS} FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = ?",
            (key_hash,),
        ).fetchone()
        return PrincipalRow(_key(row[:_N_KEY_COLS]), _account(row[_N_KEY_COLS:])) if row else None

    async def revoke_key(self, key_id: str) -> KeyRow | None:
        return await self._run(self._revoke_key, key_id)

    def _revoke_key(self, key_id: str) -> KeyRow | None:
        self._db.execute("UPDATE api_keys SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms = 0", (now_ms(), key_id))
        row = self._db.execute(f"SELECT {_KEY_COLS} FROM api_keys k WHERE k.id = ?", (key_id,)).fetchone()
        return _key(row) if row else None

    async def list_keys(self, account_id: str) -> list[KeyRow]:
        return await self._run(self._list_keys, account_id)

    def _list_keys(self, account_id: str) -> list[KeyRow]:
        rows = self._db.execute(f"SELECT {_KEY_COLS} FROM api_keys k WHERE k.account_id = ? ORDER BY k.created_at_ms", (account_id,))
        return [_key(row) for row in rows]

    # -- ledger -------------------------------------------------------------------
    async def apply(self, account_id: str, kind: str, amount_micros: int, reference: str, effective_at_ms: int = 0) -> tuple[bool, int] | None:
        """Apply one ledger entry once. Returns (applied, balance), or None for an unknown account."""
        return await self._run(self._apply_tx, account_id, kind, amount_micros, reference, effective_at_ms)

    def _apply_tx(self, account_id: str, kind: str, amount: int, reference: str, effective_at_ms: int = 0) -> tuple[bool, int] | None:
        with self._tx():
            if self._get_account(account_id) is None:
                return None
            applied = self._apply(account_id, kind, amount, reference, effective_at_ms)
            return applied, self._get_account(account_id).balance_micros

    def _apply(self, account_id: str, kind: str, amount: int, reference: str, effective_at_ms: int = 0) -> bool:
        created = now_ms()
        cur = self._db.execute(
            "INSERT INTO ledger (account_id, kind, amount_micros, reference, created_at_ms, effective_at_ms) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (reference) DO NOTHING",
            (account_id, kind, amount, reference, created, effective_at_ms or created),
        )
        if cur.rowcount != 1:
            return False
        self._db.execute("UPDATE accounts SET balance_micros = balance_micros + ? WHERE id = ?", (amount, account_id))
        return True

    async def ledger_sum(self, account_id: str) -> int:
        return await self._run(self._ledger_sum, account_id)

    def _ledger_sum(self, account_id: str) -> int:
        return self._db.execute("SELECT COALESCE(SUM(amount_micros), 0) FROM ledger WHERE account_id = ?", (account_id,)).fetchone()[0]

    async def daily_debits(self, account_id: str, start_ms: int, end_ms: int) -> list[tuple[int, int, int]]:
        """(UTC day number, debited micro-USD, debit count) for usage in [start, end)."""
        return await self._run(self._daily_debits, account_id, start_ms, end_ms)

    def _daily_debits(self, account_id: str, start_ms: int, end_ms: int) -> list[tuple[int, int, int]]:
        rows = self._db.execute(
            "SELECT effective_at_ms / 86400000 AS day, -SUM(amount_micros), COUNT(*) FROM ledger "
            "WHERE account_id = ? AND kind = 'usage' AND effective_at_ms >= ? AND effective_at_ms < ? GROUP BY day ORDER BY day",
            (account_id, start_ms, end_ms),
        )
        return [(int(day), int(total), int(count)) for day, total, count in rows]

    def _tx(self):
        return _Transaction(self._db)


def _key(row) -> KeyRow:
    allowed = tuple(p for p in (row[8] or "").split("\n") if p)
    return KeyRow(*row[:7], bool(row[7]), allowed, int(row[9]), int(row[10]), int(row[11]))


def _account(row) -> AccountRow:
    return AccountRow(*row[:-1], bool(row[-1]))


class _Transaction:
    def __init__(self, db: SqliteDatabase | PostgresDatabase):
        self._db = db

    def __enter__(self):
        self._db.begin()
        return self

    def __exit__(self, exc_type, exc, tb):
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
