"""Redemption codes and payment credits, in the accounts database beside the ledger.

A code (``TGC-XXXX-XXXX-XXXX-XXXX-XXXX``: 20 characters of a 32-letter alphabet, 100 bits)
is shown once when minted and stored only as its keyed SHA-256 (like API keys: the
entropy makes a slow KDF unnecessary). Redeeming is one transaction: the ``UPDATE`` that
marks the code redeemed only matches an unredeemed, unrevoked, unexpired code, so of two
concurrent redemptions exactly one wins (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the
row lock, the loser's ``WHERE`` re-checked), and the ledger credit (reference
``code:<id>``) commits with it. Wrong codes count against the account: more than
``max_failures`` within ``window_s`` and further tries are refused until the window
passes. Payment credits are ledger entries with the reference
``payment:<provider>:<event id>``: one per event, however often it is delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from services.accounts.store import SqlStore, new_id, now_ms

CODE_PREFIX = "TGC"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: read aloud or typed from paper
CODE_GROUPS = 5
GROUP_LEN = 4
DISPLAY_LEN = len(CODE_PREFIX) + 1 + GROUP_LEN  # "TGC-ABCD"
STATUSES = ("active", "redeemed", "revoked", "expired")

_CODE_COLS = "id, prefix, amount_micros, created_at_ms, expires_at_ms, note, batch_id, redeemed_at_ms, redeemed_by, revoked_at_ms"


def new_code() -> str:
    groups = ("".join(secrets.choice(CODE_ALPHABET) for _ in range(GROUP_LEN)) for _ in range(CODE_GROUPS))
    return "-".join((CODE_PREFIX, *groups))


def normalize(code: str) -> str | None:
    """The canonical form of a code as typed (any case, spaces or dashes), or None when it
    cannot be one."""
    text = "".join(c for c in code.upper() if c not in " -\t")
    body = text[len(CODE_PREFIX) :]
    if not text.startswith(CODE_PREFIX) or len(body) != CODE_GROUPS * GROUP_LEN or any(c not in CODE_ALPHABET for c in body):
        return None
    return CODE_PREFIX + body


def hash_code(code: str, pepper: str = "") -> str | None:
    canonical = normalize(code)
    return None if canonical is None else hmac.new(pepper.encode(), canonical.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class CodeRow:
    id: str
    prefix: str
    amount_micros: int
    created_at_ms: int
    expires_at_ms: int
    note: str
    batch_id: str
    redeemed_at_ms: int = 0
    redeemed_by: str = ""
    revoked_at_ms: int = 0

    def status(self, now: int) -> str:
        if self.redeemed_at_ms:
            return "redeemed"
        if self.revoked_at_ms:
            return "revoked"
        if self.expires_at_ms and self.expires_at_ms <= now:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class Redeemed:
    """What a redemption came to: ``outcome`` is "ok" (``balance_micros`` is the new
    balance), "invalid" (no such code), "redeemed", "revoked", "expired", or "throttled"
    (``retry_after_s``: when the account may try again)."""

    outcome: str
    code: CodeRow | None = None
    balance_micros: int = 0
    retry_after_s: int = 0


def _code(row: Any) -> CodeRow:
    return CodeRow(row[0], row[1], int(row[2]), int(row[3]), int(row[4]), row[5], row[6], int(row[7]), row[8], int(row[9]))


class BillingStore:
    """Runs on the ``SqlStore``'s connection, lock and transactions (one database, and a
    credit commits with its ledger row)."""

    def __init__(self, store: SqlStore, *, max_failures: int = 5, window_s: int = 600):
        self._store = store
        self._db = store._db
        self.max_failures = max_failures
        self.window_ms = window_s * 1000

    async def _run(self, fn, *args):
        return await self._store._run(fn, *args)

    # -- codes --------------------------------------------------------------------------
    async def create_codes(self, count: int, amount_micros: int, expires_at_ms: int, note: str, pepper: str) -> list[tuple[str, CodeRow]]:
        return await self._run(self._create_codes, count, amount_micros, expires_at_ms, note, pepper)

    def _create_codes(self, count: int, amount: int, expires: int, note: str, pepper: str) -> list[tuple[str, CodeRow]]:
        batch, created = new_id("batch"), now_ms()
        minted = []
        with self._store._tx():
            for _ in range(count):
                secret = new_code()
                row = CodeRow(new_id("code"), secret[:DISPLAY_LEN], amount, created, expires, note, batch)
                self._db.execute(
                    "INSERT INTO redemption_codes (id, code_hash, prefix, amount_micros, created_at_ms, expires_at_ms, note, batch_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (row.id, hash_code(secret, pepper), row.prefix, amount, created, expires, note, batch),
                )
                minted.append((secret, row))
        return minted

    async def list_codes(self, limit: int, status: str = "") -> list[CodeRow]:
        return await self._run(self._list_codes, limit, status)

    def _list_codes(self, limit: int, status: str) -> list[CodeRow]:
        now = now_ms()
        where = {
            "": "1 = 1",
            "active": "redeemed_at_ms = 0 AND revoked_at_ms = 0 AND (expires_at_ms = 0 OR expires_at_ms > ?)",
            "redeemed": "redeemed_at_ms > 0",
            "revoked": "redeemed_at_ms = 0 AND revoked_at_ms > 0",
            "expired": "redeemed_at_ms = 0 AND revoked_at_ms = 0 AND expires_at_ms > 0 AND expires_at_ms <= ?",
        }[status]
        params: tuple = (now, limit) if "?" in where else (limit,)
        rows = self._db.execute(f"SELECT {_CODE_COLS} FROM redemption_codes WHERE {where} ORDER BY created_at_ms DESC, id LIMIT ?", params)
        return [_code(row) for row in rows]

    async def get_code(self, code_id: str) -> CodeRow | None:
        return await self._run(self._get_code, code_id)

    def _get_code(self, code_id: str) -> CodeRow | None:
        row = self._db.execute(f"SELECT {_CODE_COLS} FROM redemption_codes WHERE id = ?", (code_id,)).fetchone()
        return _code(row) if row else None

    async def revoke_code(self, code_id: str) -> CodeRow | None:
        return await self._run(self._revoke_code, code_id)

    def _revoke_code(self, code_id: str) -> CodeRow | None:
        self._db.execute(
            "UPDATE redemption_codes SET revoked_at_ms = ? WHERE id = ? AND redeemed_at_ms = 0 AND revoked_at_ms = 0", (now_ms(), code_id)
        )
        return self._get_code(code_id)

    async def redeem(self, account_id: str, code_hash: str | None) -> Redeemed | None:
        """Redeem the code with this hash (None: a malformed code) for the account; None when
        the account does not exist."""
        return await self._run(self._redeem, account_id, code_hash)

    def _redeem(self, account_id: str, code_hash: str | None) -> Redeemed | None:
        now = now_ms()
        with self._store._tx():
            self._db.lock_account(account_id)
            if self._store._get_account(account_id) is None:
                return None
            since = now - self.window_ms
            failures = self._db.execute(
                "SELECT COUNT(*), MIN(at_ms) FROM redemption_failures WHERE account_id = ? AND at_ms > ?", (account_id, since)
            ).fetchone()
            if int(failures[0]) >= self.max_failures:
                return Redeemed("throttled", retry_after_s=max(1, -(-(int(failures[1]) + self.window_ms - now) // 1000)))
            row = None
            if code_hash is not None:
                found = self._db.execute(f"SELECT {_CODE_COLS} FROM redemption_codes WHERE code_hash = ?", (code_hash,)).fetchone()
                row = _code(found) if found else None
            if row is None:
                self._db.execute("DELETE FROM redemption_failures WHERE account_id = ? AND at_ms <= ?", (account_id, since))
                self._db.execute("INSERT INTO redemption_failures (account_id, at_ms) VALUES (?, ?)", (account_id, now))
                return Redeemed("invalid")
            won = self._db.execute(
                "UPDATE redemption_codes SET redeemed_at_ms = ?, redeemed_by = ? "
                "WHERE id = ? AND redeemed_at_ms = 0 AND revoked_at_ms = 0 AND (expires_at_ms = 0 OR expires_at_ms > ?)",
                (now, account_id, row.id, now),
            )
            if won.rowcount != 1:
                current = self._get_code(row.id) or row
                return Redeemed(current.status(now), current)
            self._store._apply(account_id, "redemption", row.amount_micros, f"code:{row.id}", note=f"redemption code {row.prefix}")
            balance = self._store._existing_account(account_id).balance_micros
            return Redeemed("ok", self._get_code(row.id), balance)

    # -- payments -----------------------------------------------------------------------
    async def credit_payment(self, provider: str, event_id: str, account_id: str, amount_micros: int, note: str) -> tuple[bool, int] | None:
        """Credit a verified payment once per (provider, event id): (applied, balance), or
        None for an unknown account."""
        return await self._store.apply(account_id, "payment", amount_micros, f"payment:{provider}:{event_id}", note=note)
