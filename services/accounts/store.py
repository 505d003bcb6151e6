"""Accounts, keys, the ledger and balance leases, in SQL (see ``db`` for the engines).

The ledger is append-only; every row has a unique ``reference`` (``usage:<request id>``
for debits, ``topup:<account>:<reference>`` for top-ups, ...), so applying the same entry
twice is a no-op. The account's ``balance_micros`` is updated in the same transaction as
the ledger insert and always equals the sum of its ledger rows.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from services.accounts import caps
from services.accounts.db import Transaction, open_database
from services.accounts.schema import migrate
from tollgate.errors import Conflict
from tollgate.periods import day_number, month_number


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
    status: str = "active"  # "active" | "suspended" | "deactivated" (risk control: permanent)
    status_reason: str = ""
    price_group: str = "default"  # the catalog [[groups]] entry it pays by (services/accounts/budgets.py)
    throttle_rpm: int = 0  # risk control: an account-wide requests-per-minute limit until throttle_until_ms
    throttle_until_ms: int = 0


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
    last_used_at_ms: int = 0
    spend_cap_day_micros: int = 0
    spend_cap_month_micros: int = 0
    parent_key_id: str = ""  # the key that created it or that it replaced: its spend counts there too
    member_id: str = ""  # its owner ("" = the organisation's): that member's and team's budgets bound it
    team_id: str = ""


@dataclass(frozen=True, slots=True)
class PrincipalRow:
    key: KeyRow
    account: AccountRow
    spent_day_micros: int = 0
    spent_month_micros: int = 0
    day: int = 0
    month: int = 0


@dataclass(frozen=True, slots=True)
class LedgerRow:
    id: int
    kind: str
    amount_micros: int
    reference: str
    note: str
    key_id: str
    created_at_ms: int
    effective_at_ms: int


@dataclass(frozen=True, slots=True)
class LeaseRow:
    id: str
    account_id: str
    granted_now: int  # what this call added
    total_granted: int
    expires_at_ms: int
    available: int  # the account's unreserved balance after this call
    key_id: str = ""  # a capped key's lease ("" = the account's)
    limited_by: str = ""  # why the grant is less than asked: "balance", "spend_cap" or ""


_KEY_COLS = (
    "k.id, k.account_id, k.name, k.prefix, k.key_hash, k.created_at_ms, k.revoked_at_ms, k.require_zdr, k.allowed_models, k.expires_at_ms, "
    "k.rpm_limit, k.tpm_limit, k.last_used_at_ms, k.spend_cap_day_micros, k.spend_cap_month_micros, "
    "k.parent_key_id, k.member_id, k.team_id"
)
_ACCOUNT_COLS = (
    "a.id, a.name, a.balance_micros, a.created_at_ms, a.require_zdr, a.status, a.status_reason, a.price_group,"
    " a.throttle_rpm, a.throttle_until_ms"
)
_N_KEY_COLS = _KEY_COLS.count(",") + 1
_LEDGER_COLS = "id, kind, amount_micros, reference, note, key_id, created_at_ms, effective_at_ms"


class UsageDebit(NamedTuple):
    """One usage event's debit: ``cost_micros`` > 0 is taken from the account's balance."""

    account_id: str
    cost_micros: int
    reference: str  # usage:<request id>: applied at most once
    at_ms: int
    key_id: str = ""
    lease_id: str = ""


class SqlStore:
    """Blocking database access behind ``asyncio.to_thread``; one statement stream at a time."""

    def __init__(self, target: str | Path, *, lease_ttl_s: float = 60.0, lease_settle_s: float = 300.0):
        self._db = open_database(target)
        self._lock = threading.Lock()
        self._lease_ttl_ms = int(lease_ttl_s * 1000)
        self._lease_settle_ms = int(lease_settle_s * 1000)
        migrate(self._db)

    def close(self) -> None:
        self._db.close()

    def ping(self) -> None:
        """Raises unless the database answers a trivial query (readiness; blocking)."""
        with self._lock:
            self._db.execute("SELECT 1").fetchone()

    async def _run(self, fn, *args):
        return await asyncio.to_thread(self._locked, fn, *args)

    def _locked(self, fn, *args):
        with self._lock:
            return fn(*args)

    def _tx(self) -> Transaction:
        return Transaction(self._db)

    async def run(self, fn, *args):
        """Run ``fn(db, *args)`` on the store's connection (blocking code, in a thread): for
        the store's extensions in modules of their own (e.g. ``services/accounts/budgets.py``)."""
        return await self._run(fn, self._db, *args)

    # -- accounts -----------------------------------------------------------------
    async def create_account(self, name: str, initial_balance_micros: int, require_zdr: bool = False, trial_micros: int = 0) -> AccountRow:
        return await self._run(self._create_account, name, initial_balance_micros, require_zdr, trial_micros)

    def _create_account(self, name: str, initial: int, require_zdr: bool = False, trial: int = 0) -> AccountRow:
        account = AccountRow(new_id("acct"), name, 0, now_ms(), require_zdr)
        with self._tx():
            self._db.execute(
                "INSERT INTO accounts (id, name, balance_micros, created_at_ms, require_zdr) VALUES (?, ?, 0, ?, ?)",
                (account.id, account.name, account.created_at_ms, account.require_zdr),
            )
            if initial:
                self._apply(account.id, "credit", initial, f"initial:{account.id}")
            if trial:
                self._apply(account.id, "trial", trial, f"trial:{account.id}", note="free trial credit")
        return self._existing_account(account.id)

    async def get_account(self, account_id: str) -> AccountRow | None:
        return await self._run(self._get_account, account_id)

    def _get_account(self, account_id: str) -> AccountRow | None:
        row = self._db.execute(f"SELECT {_ACCOUNT_COLS} FROM accounts a WHERE a.id = ?", (account_id,)).fetchone()
        return _account(row) if row else None

    def _existing_account(self, account_id: str) -> AccountRow:
        """An account the caller's transaction has just created or found (accounts are never deleted)."""
        account = self._get_account(account_id)
        if account is None:
            raise LookupError(f"account {account_id!r} vanished inside its transaction")
        return account

    async def list_accounts(self, limit: int, after_id: str = "") -> list[AccountRow]:
        return await self._run(self._list_accounts, limit, after_id)

    def _list_accounts(self, limit: int, after_id: str) -> list[AccountRow]:
        rows = self._db.execute(f"SELECT {_ACCOUNT_COLS} FROM accounts a WHERE a.id > ? ORDER BY a.id LIMIT ?", (after_id, limit))
        return [_account(row) for row in rows]

    async def set_status(self, account_id: str, status: str, reason: str) -> AccountRow | None:
        return await self._run(self._set_status, account_id, status, reason)

    def _set_status(self, account_id: str, status: str, reason: str) -> AccountRow | None:
        self._db.execute("UPDATE accounts SET status = ?, status_reason = ? WHERE id = ?", (status, reason, account_id))
        return self._get_account(account_id)

    # -- keys ---------------------------------------------------------------------
    async def create_key(
        self,
        account_id: str,
        name: str,
        prefix: str,
        key_hash: str,
        require_zdr: bool = False,
        allowed_models: tuple[str, ...] = (),
        expires_at_ms: int = 0,
        rpm_limit: int = 0,
        tpm_limit: int = 0,
        spend_cap_day_micros: int = 0,
        spend_cap_month_micros: int = 0,
        *,
        parent_key_id: str = "",
        member_id: str = "",
        team_id: str = "",
    ) -> KeyRow:
        key = KeyRow(
            new_id("key"),
            account_id,
            name,
            prefix,
            key_hash,
            now_ms(),
            0,
            require_zdr,
            tuple(allowed_models),
            expires_at_ms,
            rpm_limit,
            tpm_limit,
            0,
            spend_cap_day_micros,
            spend_cap_month_micros,
            parent_key_id,
            member_id,
            team_id,
        )
        await self._run(self._insert_key, key)
        return key

    def _insert_key(self, key: KeyRow) -> None:
        try:
            self._db.execute(
                "INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_at_ms, revoked_at_ms, require_zdr, allowed_models, "
                "expires_at_ms, rpm_limit, tpm_limit, spend_cap_day_micros, spend_cap_month_micros, parent_key_id, member_id, team_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.id,
                    key.account_id,
                    key.name,
                    key.prefix,
                    key.key_hash,
                    key.created_at_ms,
                    key.revoked_at_ms,
                    key.require_zdr,
                    "\n".join(key.allowed_models),
                    key.expires_at_ms,
                    key.rpm_limit,
                    key.tpm_limit,
                    key.spend_cap_day_micros,
                    key.spend_cap_month_micros,
                    key.parent_key_id,
                    key.member_id,
                    key.team_id,
                ),
            )
        except self._db.integrity_error:
            raise Conflict("a key with this hash already exists") from None

    async def principal_by_hash(self, key_hash: str) -> PrincipalRow | None:
        return await self._run(self._principal_by_hash, key_hash)

    def _principal_by_hash(self, key_hash: str) -> PrincipalRow | None:
        row = self._db.execute(
            f"SELECT {_KEY_COLS}, {_ACCOUNT_COLS} FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = ?",
            (key_hash,),
        ).fetchone()
        if not row:
            return None
        key = _key(row[:_N_KEY_COLS])
        now = now_ms()
        day, month = day_number(now), month_number(now)
        spent = dict(
            self._db.execute("SELECT period, micros FROM key_spend WHERE key_id = ? AND period IN (?, ?)", (key.id, f"d{day}", f"m{month}"))
        )
        return PrincipalRow(key, _account(row[_N_KEY_COLS:]), spent.get(f"d{day}", 0), spent.get(f"m{month}", 0), day, month)

    async def get_key(self, key_id: str) -> KeyRow | None:
        return await self._run(self._get_key, key_id)

    def _get_key(self, key_id: str) -> KeyRow | None:
        row = self._db.execute(f"SELECT {_KEY_COLS} FROM api_keys k WHERE k.id = ?", (key_id,)).fetchone()
        return _key(row) if row else None

    async def revoke_key(self, key_id: str) -> KeyRow | None:
        return await self._run(self._revoke_key, key_id)

    def _revoke_key(self, key_id: str) -> KeyRow | None:
        self._db.execute("UPDATE api_keys SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms = 0", (now_ms(), key_id))
        return self._get_key(key_id)

    async def expire_key(self, key_id: str, expires_at_ms: int) -> KeyRow | None:
        """Bring a key's expiry forward to ``expires_at_ms`` (never later than it already was)."""
        return await self._run(self._expire_key, key_id, expires_at_ms)

    def _expire_key(self, key_id: str, expires_at_ms: int) -> KeyRow | None:
        self._db.execute(
            "UPDATE api_keys SET expires_at_ms = ? WHERE id = ? AND (expires_at_ms = 0 OR expires_at_ms > ?)",
            (expires_at_ms, key_id, expires_at_ms),
        )
        return self._get_key(key_id)

    async def list_keys(self, account_id: str) -> list[KeyRow]:
        return await self._run(self._list_keys, account_id)

    def _list_keys(self, account_id: str) -> list[KeyRow]:
        rows = self._db.execute(f"SELECT {_KEY_COLS} FROM api_keys k WHERE k.account_id = ? ORDER BY k.created_at_ms", (account_id,))
        return [_key(row) for row in rows]

    # -- ledger -------------------------------------------------------------------
    async def apply(
        self,
        account_id: str,
        kind: str,
        amount_micros: int,
        reference: str,
        effective_at_ms: int = 0,
        *,
        note: str = "",
        key_id: str = "",
        lease_id: str = "",
    ) -> tuple[bool, int] | None:
        """Apply one ledger entry once. Returns (applied, balance), or None for an unknown account."""
        return await self._run(self._apply_tx, account_id, kind, amount_micros, reference, effective_at_ms, note, key_id, lease_id)

    def _apply_tx(self, account_id, kind, amount, reference, effective_at_ms=0, note="", key_id="", lease_id="") -> tuple[bool, int] | None:
        with self._tx():
            if self._get_account(account_id) is None:
                return None
            applied = self._apply(account_id, kind, amount, reference, effective_at_ms, note, key_id)
            if applied and kind == "usage":
                self._after_usage(-amount, effective_at_ms or now_ms(), key_id, lease_id)
            return applied, self._existing_account(account_id).balance_micros

    async def debit_usage(self, debits: list[UsageDebit]) -> list[tuple[bool, int, int, int] | None]:
        """Apply a batch of usage debits in one transaction, each once (by its reference).
        For each: None (unknown account), or (applied, the account's balance, the key's spend
        in the day and month of the debit) as they stand after the whole batch."""
        return await self._run(self._debit_usage_tx, debits)

    def _debit_usage_tx(self, debits: list[UsageDebit]) -> list[tuple[bool, int, int, int] | None]:
        with self._tx():
            known: dict[str, bool] = {}
            applied: list[bool | None] = []
            for d in debits:
                if d.account_id not in known:
                    known[d.account_id] = self._get_account(d.account_id) is not None
                if not known[d.account_id]:
                    applied.append(None)
                    continue
                done = self._apply(d.account_id, "usage", -d.cost_micros, d.reference, d.at_ms, "", d.key_id)
                if done:
                    self._after_usage(d.cost_micros, d.at_ms or now_ms(), d.key_id, d.lease_id)
                applied.append(done)
            balances = {a: self._existing_account(a).balance_micros for a, ok in known.items() if ok}
            now = now_ms()
            spends = {d.key_id: self._key_spend(d.key_id, now) for d, done in zip(debits, applied, strict=True) if done and d.key_id}
            return [
                None if done is None else (done, balances[d.account_id], *spends.get(d.key_id, (0, 0)))
                for d, done in zip(debits, applied, strict=True)
            ]

    def _apply(
        self, account_id: str, kind: str, amount: int, reference: str, effective_at_ms: int = 0, note: str = "", key_id: str = ""
    ) -> bool:
        created = now_ms()
        cur = self._db.execute(
            "INSERT INTO ledger (account_id, kind, amount_micros, reference, created_at_ms, effective_at_ms, note, key_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (reference) DO NOTHING",
            (account_id, kind, amount, reference, created, effective_at_ms or created, note, key_id),
        )
        if cur.rowcount != 1:
            return False
        self._db.execute("UPDATE accounts SET balance_micros = balance_micros + ? WHERE id = ?", (amount, account_id))
        return True

    def _after_usage(self, cost: int, at_ms: int, key_id: str, lease_id: str) -> None:
        """A debit that applied: count it against its key's caps (and those of the keys above
        it) and its lease's reservation."""
        if key_id:
            self._db.execute("UPDATE api_keys SET last_used_at_ms = ? WHERE id = ? AND last_used_at_ms < ?", (at_ms, key_id, at_ms))
            caps.add_spend(self._db, key_id, cost, day_number(at_ms), month_number(at_ms))
        if lease_id:
            self._db.execute("UPDATE leases SET debited_micros = debited_micros + ? WHERE id = ?", (cost, lease_id))

    async def key_spend(self, key_id: str, at_ms: int) -> tuple[int, int]:
        """The key's spend in the UTC day and month of ``at_ms``."""
        return await self._run(self._key_spend, key_id, at_ms)

    def _key_spend(self, key_id: str, at_ms: int) -> tuple[int, int]:
        day, month = f"d{day_number(at_ms)}", f"m{month_number(at_ms)}"
        spent = dict(self._db.execute("SELECT period, micros FROM key_spend WHERE key_id = ? AND period IN (?, ?)", (key_id, day, month)))
        return spent.get(day, 0), spent.get(month, 0)

    async def ledger(self, account_id: str, limit: int, before_id: int = 0) -> tuple[list[LedgerRow], int] | None:
        """A page of entries, newest first, and the balance they add up to (one snapshot)."""
        return await self._run(self._ledger, account_id, limit, before_id)

    def _ledger(self, account_id: str, limit: int, before_id: int) -> tuple[list[LedgerRow], int] | None:
        with self._tx():
            account = self._get_account(account_id)
            if account is None:
                return None
            rows = self._db.execute(
                f"SELECT {_LEDGER_COLS} FROM ledger WHERE account_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
                (account_id, before_id or 2**62, limit),
            )
            return [LedgerRow(*row) for row in rows], account.balance_micros

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

    # -- balance leases (docs/balance-leases.md) ------------------------------------
    async def acquire_lease(
        self, account_id: str, lease_id: str, amount: int, needed: int, holder: str, key_id: str = ""
    ) -> LeaseRow | None:
        """Reserve up to ``amount`` more of the account's unreserved balance under ``lease_id``
        (or a new lease), granting nothing unless at least ``needed`` is free. Renews the lease.
        With ``key_id`` (a capped key's lease), the grant also fits within the room the caps of
        the key and of the keys above it leave (``caps``)."""
        return await self._run(self._acquire_lease, account_id, lease_id, amount, needed, holder, key_id)

    def _acquire_lease(self, account_id: str, lease_id: str, amount: int, needed: int, holder: str, key_id: str = "") -> LeaseRow | None:
        now = now_ms()
        with self._tx():
            self._db.lock_account(account_id)
            account = self._get_account(account_id)
            if account is None:
                return None
            available = account.balance_micros - self._reserved(account_id, now)
            chain = caps.capped_chain(self._db, key_id, account_id) if key_id else []
            room = caps.room(self._db, account_id, chain, now, day_number(now), month_number(now)) if chain else None
            free = available if room is None else min(available, room)
            grant = min(amount, free) if account.status == "active" and free > 0 and free >= needed else 0
            limited_by = "" if grant >= amount else "spend_cap" if room is not None and room < available else "balance"
            if limited_by == "spend_cap" and caps.budget_binds(self._db, account_id, chain, now, room or 0):
                limited_by = "budget"  # a member's or team's budget, not the key's own cap
            expires = now + self._lease_ttl_ms
            row = None
            if lease_id:
                row = self._db.execute(
                    "SELECT granted_micros FROM leases WHERE id = ? AND account_id = ? AND key_id = ? AND spent_micros < 0 AND "
                    "expires_at_ms > ?",
                    (lease_id, account_id, key_id, now),
                ).fetchone()
            if row is None:
                lease_id = new_id("lease")
                total = grant
                self._db.execute(
                    "INSERT INTO leases (id, account_id, holder, granted_micros, expires_at_ms, created_at_ms, key_id, cap_keys) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?)",
                    (lease_id, account_id, holder[:100], grant, expires, now, key_id, "\n".join(cap.key_id for cap in chain)),
                )
                self._db.execute("DELETE FROM leases WHERE account_id = ? AND expires_at_ms < ?", (account_id, now - 86_400_000))
            else:
                total = row[0] + grant
                self._db.execute("UPDATE leases SET granted_micros = ?, expires_at_ms = ? WHERE id = ?", (total, expires, lease_id))
            return LeaseRow(lease_id, account_id, grant, total, expires, available - grant, key_id, limited_by)

    async def return_lease(self, lease_id: str, spent: int) -> LeaseRow | None:
        """Close a lease: it stops reserving anything but what its holder says it spent and
        the ledger has not debited yet (at most ``lease_settle_s`` longer)."""
        return await self._run(self._return_lease, lease_id, spent)

    def _return_lease(self, lease_id: str, spent: int) -> LeaseRow | None:
        now = now_ms()
        with self._tx():
            row = self._db.execute("SELECT account_id, granted_micros FROM leases WHERE id = ?", (lease_id,)).fetchone()
            if row is None:
                return None
            account_id, granted = row
            self._db.lock_account(account_id)
            self._db.execute(
                "UPDATE leases SET spent_micros = ?, expires_at_ms = ? WHERE id = ? AND spent_micros < 0",
                (max(spent, 0), now + self._lease_settle_ms, lease_id),
            )
            account = self._existing_account(account_id)
            return LeaseRow(lease_id, account_id, 0, granted, now, account.balance_micros - self._reserved(account_id, now))

    def _reserved(self, account_id: str, now: int) -> int:
        """What live leases hold back from an account's balance: an open lease, what it was
        granted and the ledger has not debited; a returned one, what its holder reported
        spent and the ledger has not debited yet."""
        rows = self._db.execute(
            "SELECT granted_micros, debited_micros, spent_micros FROM leases WHERE account_id = ? AND expires_at_ms > ?", (account_id, now)
        )
        return sum(max((granted if spent < 0 else spent) - debited, 0) for granted, debited, spent in rows)

    async def reserved(self, account_id: str) -> int:
        return await self._run(self._reserved, account_id, now_ms())


def _key(row: Sequence[Any]) -> KeyRow:
    allowed = tuple(p for p in (row[8] or "").split("\n") if p)
    expires, rpm, tpm, last_used, day_cap, month_cap = (int(v) for v in row[9:15])
    key_id, account_id, name, prefix, key_hash, created, revoked = row[:7]
    return KeyRow(
        key_id,
        account_id,
        name,
        prefix,
        key_hash,
        created,
        revoked,
        bool(row[7]),
        allowed,
        expires,
        rpm,
        tpm,
        last_used,
        day_cap,
        month_cap,
        row[15],
        row[16],
        row[17],
    )


def _account(row) -> AccountRow:
    return AccountRow(row[0], row[1], int(row[2]), int(row[3]), bool(row[4]), row[5], row[6], row[7], int(row[8]), int(row[9]))
