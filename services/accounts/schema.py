"""The accounts schema: numbered SQL files applied in order, on SQLite and PostgreSQL.

Files live in ``services/accounts/migrations``:

- ``NNNN_name.sql`` runs on both engines; or, for a change the engines spell too
  differently, a pair ``NNNN_name.sqlite.sql`` + ``NNNN_name.postgres.sql`` (same number,
  same name). Any other file name there is an error, raised before the database is touched.
- ``{serial}`` (an auto-numbered primary key) and ``{false}`` are replaced by each engine's
  word for them (``words`` on the adapters in ``services/accounts/db.py``); nothing else is
  substituted, and any other ``{word}`` is an error.
- Statements end with ``;``; a line starting with ``--`` is a comment. No ``;`` inside a
  string literal, and no ``?`` or ``%`` anywhere (they go through the adapters' ``execute``,
  whose parameter markers they are).
- A release adds a file with the next number and never edits a shipped one.

``migrate`` runs at start-up (the store and the notice outbox both call it) and applies, in
one transaction, every file not yet recorded in ``schema_migrations``. Two replicas starting
together serialize on it: SQLite's ``BEGIN IMMEDIATE`` takes the database's write lock,
PostgreSQL takes ``pg_advisory_xact_lock`` first; the second one then finds everything
recorded and applies nothing. A failing migration rolls the whole run back.

Adoption: a database made before numbered migrations (accounts tables, no
``schema_migrations``) was built by ``CREATE TABLE IF NOT EXISTS`` plus a list of columns
each added once, so it holds some prefix of 0001-0003. It is adopted by applying those
three files with one allowance: an ``ALTER TABLE t ADD COLUMN c`` whose column is already
there is skipped (the files' CREATE statements all say IF NOT EXISTS). Its rows are left as
they are; later migrations then apply to it as to any other database.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from services.accounts.db import PostgresDatabase, SqliteDatabase, Transaction

MIGRATIONS = Path(__file__).with_name("migrations")
ADOPTED_UP_TO = 3  # the last version a database made before numbered migrations can (partly) have
LEGACY_TABLES = frozenset({"accounts", "api_keys", "ledger", "key_spend", "leases", "notice_outbox"})

_NAME = re.compile(r"(\d{4})_([a-z0-9_]+?)(?:\.(sqlite|postgres))?\.sql")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_ADD_COLUMN = re.compile(r"ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)\s", re.IGNORECASE)
_RECORD_TABLE = """CREATE TABLE schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at_ms BIGINT NOT NULL
)"""


class MigrationError(RuntimeError):
    """The migration files are not usable as they are (a name, a number, a placeholder)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # the file applied, as recorded in schema_migrations
    path: Path


def migrations(dialect: str, directory: Path = MIGRATIONS) -> list[Migration]:
    """The migrations one engine (``"sqlite"`` or ``"postgres"``) runs, in order.

    Raises ``MigrationError`` for a file not named as above, a number used by two
    migrations, or a per-engine file without its pair."""
    by_version: dict[int, dict[str | None, Path]] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith((".", "__")):
            continue  # __pycache__, editors' dot files
        match = _NAME.fullmatch(path.name)
        if not match or not path.is_file():
            raise MigrationError(
                f"accounts migration file {path.name!r} in {directory} is not named NNNN_name.sql, "
                "NNNN_name.sqlite.sql or NNNN_name.postgres.sql (four digits, then lower-case letters, digits and _)"
            )
        version, engine = int(match[1]), match[3]
        files = by_version.setdefault(version, {})
        stems = {_stem(p) for p in files.values()} | {match[2]}
        if engine in files or (files and (None in files or engine is None)) or len(stems) > 1:
            names = [*sorted(p.name for p in files.values()), path.name]
            raise MigrationError(f"accounts migration {version:04d} is given more than once: {', '.join(names)}")
        files[engine] = path
    chosen = []
    for version in sorted(by_version):
        files = by_version[version]
        if version == 0:
            raise MigrationError(f"accounts migration numbers start at 0001: {files[next(iter(files))].name}")
        if None not in files and set(files) != {"sqlite", "postgres"}:
            (only,) = files.values()
            raise MigrationError(f"accounts migration {only.name} has no counterpart for the other engine")
        path = files.get(None) or files[dialect]
        chosen.append(Migration(version, path.name, path))
    return chosen


def statements(text: str, words: dict[str, str]) -> list[str]:
    """The statements of one file, placeholders replaced by ``words``."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    body = "\n".join(lines)
    unknown = sorted({word for word in _PLACEHOLDER.findall(body) if word not in words})
    if unknown:
        raise MigrationError(f"unknown placeholder(s) {', '.join('{' + w + '}' for w in unknown)}; known: {', '.join(sorted(words))}")
    body = _PLACEHOLDER.sub(lambda m: words[m[1]], body)
    return [s.strip() for s in body.split(";") if s.strip()]


def migrate(db, directory: Path = MIGRATIONS) -> list[str]:
    """Apply the migrations ``db`` has not recorded; returns the files applied (blocking)."""
    pending = migrations(db.dialect, directory)
    scripts = {m.version: statements(m.path.read_text(), db.words) for m in pending}  # every file checked first
    applied = []
    with Transaction(db):
        db.lock_migrations()
        tables = db.tables()
        adopting = "schema_migrations" not in tables and bool(tables & LEGACY_TABLES)
        if "schema_migrations" not in tables:
            db.execute(_RECORD_TABLE)
        done = {int(row[0]) for row in db.execute("SELECT version FROM schema_migrations")}
        for m in pending:
            if m.version in done:
                continue
            for stmt in scripts[m.version]:
                if adopting and m.version <= ADOPTED_UP_TO and _adds_a_present_column(db, stmt):
                    continue
                db.execute(stmt)
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)",
                (m.version, m.name, time.time_ns() // 1_000_000),
            )
            applied.append(m.name)
    return applied


def _stem(path: Path) -> str:
    """The name part of a file already accepted by ``_NAME``."""
    match = _NAME.fullmatch(path.name)
    assert match is not None, path
    return match[2]


def _adds_a_present_column(db: SqliteDatabase | PostgresDatabase, stmt: str) -> bool:
    match = _ADD_COLUMN.match(stmt)
    return match is not None and match[2].lower() in db.columns(match[1].lower())
