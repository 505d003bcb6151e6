"""Risk records, reactivation requests and tickets in the accounts database (SQLite or
PostgreSQL, migration 0030). Its own connection, like the notice outbox; blocking calls
behind ``asyncio.to_thread``, one at a time.

Status changes and the records that cause them are written in one transaction, so an
account is never suspended without its record, and the deactivation count sees every record.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.accounts.db import Transaction, open_database
from services.accounts.schema import migrate
from services.accounts.store import now_ms

_RECORD_COLS = "id, account_id, rule, action, reason, figures, created_at_ms, until_ms"
_REQUEST_COLS = "r.id, r.account_id, r.message, r.status, r.note, r.created_at_ms, r.decided_at_ms, a.status_reason"
_TICKET_COLS = "id, account_id, subject, description, status, created_at_ms, keep_until_ms"


@dataclass(frozen=True, slots=True)
class RecordRow:
    id: int
    account_id: str
    rule: str
    action: str
    reason: str
    figures: str
    created_at_ms: int
    until_ms: int


@dataclass(frozen=True, slots=True)
class RequestRow:
    id: int
    account_id: str
    message: str
    status: str
    note: str
    created_at_ms: int
    decided_at_ms: int
    status_reason: str = ""


@dataclass(frozen=True, slots=True)
class TicketRow:
    id: str
    account_id: str
    subject: str
    description: str
    status: str
    created_at_ms: int
    keep_until_ms: int


@dataclass(frozen=True, slots=True)
class AccountState:
    id: str
    status: str
    status_reason: str
    throttle_rpm: int
    throttle_until_ms: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did: the records written and the account's state after it."""

    records: list[RecordRow]
    account: AccountState
    changed: bool  # the status or the throttle changed (edges must be told)


@dataclass(frozen=True, slots=True)
class Policy:
    """When records add up to permanent deactivation."""

    deactivate_after: int = 3  # 0 = never
    period_ms: int = 30 * 86_400_000
    counted: tuple[str, ...] = ("suspend",)


class Refused(Exception):
    """The change is not allowed in the account's or request's current state (message says why)."""


class RiskStore:
    def __init__(self, target: str | Path):
        self._db = open_database(target)
        self._lock = threading.Lock()
        migrate(self._db)

    def close(self) -> None:
        self._db.close()

    async def _run(self, fn, *args):
        return await asyncio.to_thread(self._locked, fn, *args)

    def _locked(self, fn, *args):
        with self._lock:
            return fn(*args)

    # -- accounts ---------------------------------------------------------------------
    def _account(self, account_id: str) -> AccountState | None:
        row = self._db.execute(
            "SELECT id, status, status_reason, throttle_rpm, throttle_until_ms FROM accounts WHERE id = ?", (account_id,)
        ).fetchone()
        return AccountState(row[0], row[1], row[2], int(row[3]), int(row[4])) if row else None

    async def account(self, account_id: str) -> AccountState | None:
        return await self._run(self._account, account_id)

    # -- records and actions ------------------------------------------------------------
    def _insert_record(self, account_id: str, rule: str, action: str, reason: str, figures: dict[str, Any], until_ms: int = 0) -> RecordRow:
        at = now_ms()
        text = json.dumps(figures, sort_keys=True, default=str)[:2000]
        row = self._db.execute(
            "INSERT INTO risk_records (account_id, rule, action, reason, figures, created_at_ms, until_ms) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_RECORD_COLS}",
            (account_id, rule, action, reason[:500], text, at, until_ms),
        ).fetchone()
        return _record(row)

    async def act(
        self,
        account_id: str,
        rule: str,
        action: str,
        reason: str,
        figures: dict[str, Any],
        policy: Policy,
        *,
        throttle: tuple[int, int] = (0, 0),
    ) -> Outcome | None:
        """Write the record of ``action`` (warn | throttle | suspend) and apply it; then, if the
        account's counted records within the period reach the policy's number, deactivate it
        (with a record of its own). None: no such account."""
        return await self._run(self._act, account_id, rule, action, reason, figures, policy, throttle)

    def _act(self, account_id, rule, action, reason, figures, policy: Policy, throttle) -> Outcome | None:
        with Transaction(self._db):
            self._db.lock_account(account_id)
            before = self._account(account_id)
            if before is None:
                return None
            rpm, seconds = throttle
            until = now_ms() + seconds * 1000 if action == "throttle" else 0
            records = [self._insert_record(account_id, rule, action, reason, figures, until)]
            changed = False
            if action == "suspend" and before.status == "active":
                self._db.execute("UPDATE accounts SET status = 'suspended', status_reason = ? WHERE id = ?", (reason[:500], account_id))
                changed = True
            elif action == "throttle":
                self._db.execute("UPDATE accounts SET throttle_rpm = ?, throttle_until_ms = ? WHERE id = ?", (rpm, until, account_id))
                changed = True
            if policy.deactivate_after and before.status != "deactivated" and action in policy.counted:
                count = self._count(account_id, now_ms() - policy.period_ms, policy.counted)
                if count >= policy.deactivate_after:
                    why = f"{count} risk records within {_span(policy.period_ms)}"
                    records.append(self._insert_record(account_id, rule, "deactivate", why, {"records": count}))
                    self._db.execute(
                        "UPDATE accounts SET status = 'deactivated', status_reason = ? WHERE id = ?",
                        (f"permanently deactivated: {why}", account_id),
                    )
                    self._db.execute(
                        "UPDATE reactivation_requests SET status = 'rejected', note = ?, decided_at_ms = ? "
                        "WHERE account_id = ? AND status = 'pending'",
                        ("the account was permanently deactivated", now_ms(), account_id),
                    )
                    changed = True
            after = self._account(account_id)
            assert after is not None
            return Outcome(records, after, changed)

    def _count(self, account_id: str, since_ms: int, actions: tuple[str, ...]) -> int:
        marks = ", ".join("?" for _ in actions)
        row = self._db.execute(
            f"SELECT COUNT(*) FROM risk_records WHERE account_id = ? AND created_at_ms > ? AND action IN ({marks})",
            (account_id, since_ms, *actions),
        ).fetchone()
        return int(row[0])

    async def note(self, subject: str, rule: str, action: str, reason: str, figures: dict[str, Any]) -> RecordRow:
        """A record about something other than an account (an address): nothing else changes."""
        return await self._run(self._insert_record, subject, rule, action, reason, figures)

    async def count_records(self, account_id: str, since_ms: int, actions: tuple[str, ...]) -> int:
        return await self._run(self._count, account_id, since_ms, actions)

    async def records(self, account_id: str, limit: int) -> list[RecordRow]:
        def read():
            if account_id:
                sql = f"SELECT {_RECORD_COLS} FROM risk_records WHERE account_id = ? ORDER BY id DESC LIMIT ?"
                return [_record(r) for r in self._db.execute(sql, (account_id, limit))]
            return [_record(r) for r in self._db.execute(f"SELECT {_RECORD_COLS} FROM risk_records ORDER BY id DESC LIMIT ?", (limit,))]

        return await self._run(read)

    # -- reactivation -----------------------------------------------------------------
    async def request_reactivation(self, account_id: str, message: str) -> RequestRow:
        return await self._run(self._request_reactivation, account_id, message)

    def _request_reactivation(self, account_id: str, message: str) -> RequestRow:
        with Transaction(self._db):
            self._db.lock_account(account_id)
            account = self._account(account_id)
            if account is None:
                raise LookupError(account_id)
            if account.status == "deactivated":
                raise Refused("This account is permanently deactivated: it cannot be reactivated by request.")
            if account.status != "suspended":
                raise Refused("This account is not suspended: there is nothing to reactivate.")
            pending = self._db.execute(
                "SELECT id FROM reactivation_requests WHERE account_id = ? AND status = 'pending'", (account_id,)
            ).fetchone()
            if pending:
                raise Refused(f"A reactivation request (#{pending[0]}) is already waiting for a decision.")
            row = self._db.execute(
                "INSERT INTO reactivation_requests (account_id, message, status, created_at_ms) VALUES (?, ?, 'pending', ?) RETURNING id",
                (account_id, message, now_ms()),
            ).fetchone()
            found = self._request(int(row[0]))
            assert found is not None
            return found

    def _request(self, request_id: int) -> RequestRow | None:
        row = self._db.execute(
            f"SELECT {_REQUEST_COLS} FROM reactivation_requests r JOIN accounts a ON a.id = r.account_id WHERE r.id = ?", (request_id,)
        ).fetchone()
        return _request(row) if row else None

    async def get_request(self, request_id: int) -> RequestRow | None:
        return await self._run(self._request, request_id)

    async def requests(self, account_id: str, status: str, limit: int) -> list[RequestRow]:
        def read():
            where, params = [], []
            if account_id:
                where.append("r.account_id = ?")
                params.append(account_id)
            if status:
                where.append("r.status = ?")
                params.append(status)
            clause = f"WHERE {' AND '.join(where)}" if where else ""
            order = "ASC" if status == "pending" else "DESC"  # the queue: oldest first
            sql = (
                f"SELECT {_REQUEST_COLS} FROM reactivation_requests r JOIN accounts a ON a.id = r.account_id "
                f"{clause} ORDER BY r.id {order} LIMIT ?"
            )
            return [_request(r) for r in self._db.execute(sql, (*params, limit))]

        return await self._run(read)

    async def decide(self, request_id: int, approve: bool, note: str) -> tuple[RequestRow, AccountState]:
        return await self._run(self._decide, request_id, approve, note)

    def _decide(self, request_id: int, approve: bool, note: str) -> tuple[RequestRow, AccountState]:
        found = self._request(request_id)
        if found is None:
            raise LookupError(request_id)
        with Transaction(self._db):
            self._db.lock_account(found.account_id)
            current = self._request(request_id)
            assert current is not None
            if current.status != "pending":
                raise Refused(f"Request #{request_id} was already decided ({current.status}).")
            account = self._account(found.account_id)
            assert account is not None
            if approve and account.status == "deactivated":
                raise Refused("The account is permanently deactivated; reactivate it with SetAccountStatus if you must.")
            status = "approved" if approve else "rejected"
            self._db.execute(
                "UPDATE reactivation_requests SET status = ?, note = ?, decided_at_ms = ? WHERE id = ?",
                (status, note, now_ms(), request_id),
            )
            if approve:
                self._db.execute(
                    "UPDATE accounts SET status = 'active', status_reason = '', throttle_rpm = 0, throttle_until_ms = 0 WHERE id = ?",
                    (found.account_id,),
                )
            row = self._request(request_id)
            after = self._account(found.account_id)
            assert row is not None and after is not None
            return row, after

    # -- tickets ----------------------------------------------------------------------
    async def open_ticket(self, ticket: TicketRow, request_ids: list[str], found: dict[str, str]) -> TicketRow:
        """``found``: request id -> its metadata (JSON) already known; the others wait for their event."""

        def write():
            with Transaction(self._db):
                self._db.execute(
                    f"INSERT INTO tickets ({_TICKET_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        ticket.id,
                        ticket.account_id,
                        ticket.subject,
                        ticket.description,
                        ticket.status,
                        ticket.created_at_ms,
                        ticket.keep_until_ms,
                    ),
                )
                for request_id in request_ids:
                    self._db.execute(
                        "INSERT INTO ticket_requests (ticket_id, request_id, account_id, metadata, keep_until_ms) VALUES (?, ?, ?, ?, ?)",
                        (ticket.id, request_id, ticket.account_id, found.get(request_id, ""), ticket.keep_until_ms),
                    )
            return ticket

        return await self._run(write)

    async def tickets(self, account_id: str, limit: int) -> list[TicketRow]:
        def read():
            if account_id:
                sql = f"SELECT {_TICKET_COLS} FROM tickets WHERE account_id = ? ORDER BY created_at_ms DESC LIMIT ?"
                return [TicketRow(*r) for r in self._db.execute(sql, (account_id, limit))]
            return [
                TicketRow(*r) for r in self._db.execute(f"SELECT {_TICKET_COLS} FROM tickets ORDER BY created_at_ms DESC LIMIT ?", (limit,))
            ]

        return await self._run(read)

    async def ticket(self, ticket_id: str) -> tuple[TicketRow, list[tuple[str, str, int]]] | None:
        """The ticket and its requests: (request id, metadata JSON or "", keep until)."""

        def read():
            row = self._db.execute(f"SELECT {_TICKET_COLS} FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            if row is None:
                return None
            requests = self._db.execute(
                "SELECT request_id, metadata, keep_until_ms FROM ticket_requests WHERE ticket_id = ? ORDER BY request_id", (ticket_id,)
            ).fetchall()
            return TicketRow(*row), [(r[0], r[1], int(r[2])) for r in requests]

        return await self._run(read)

    async def close_ticket(self, ticket_id: str) -> None:
        await self._run(lambda: self._db.execute("UPDATE tickets SET status = 'closed' WHERE id = ?", (ticket_id,)))

    async def waiting(self, now: int) -> set[str]:
        """Request ids named by tickets whose metadata has not been seen yet."""

        def read():
            rows = self._db.execute("SELECT DISTINCT request_id FROM ticket_requests WHERE metadata = '' AND keep_until_ms > ?", (now,))
            return {r[0] for r in rows}

        return await self._run(read)

    async def fill(self, request_id: str, account_id: str, metadata: str) -> int:
        """Store a named request's metadata, for tickets of the request's own account only."""

        def write():
            cur = self._db.execute(
                "UPDATE ticket_requests SET metadata = ? WHERE request_id = ? AND account_id = ? AND metadata = ''",
                (metadata, request_id, account_id),
            )
            return cur.rowcount or 0

        return await self._run(write)

    async def purge(self, now: int) -> int:
        """Delete the metadata of requests whose ticket's keep time is over; the number deleted."""

        def write():
            cur = self._db.execute("DELETE FROM ticket_requests WHERE keep_until_ms <= ?", (now,))
            return cur.rowcount or 0

        return await self._run(write)


def _span(ms: int) -> str:
    return f"{ms // 86_400_000} days" if ms >= 86_400_000 else f"{ms // 1000} s"


def _record(row) -> RecordRow:
    return RecordRow(int(row[0]), row[1], row[2], row[3], row[4], row[5], int(row[6]), int(row[7]))


def _request(row) -> RequestRow:
    return RequestRow(int(row[0]), row[1], row[2], row[3], row[4], int(row[5]), int(row[6]), row[7])
