"""How accounts tells every edge and metering that a key or an account changed.

Control notices (KeyRevoked, KeyUpdated, AccountStatusChanged) go through an outbox: the
notice is written to the ``notice_outbox`` table (same database as the change, its own
connection), then a background task publishes it to the JetStream ``CONTROL`` stream
(``tollgate/notices.py``) and deletes the row once JetStream acknowledged it. While NATS is
away the row stays — across a restart of accounts too — and is published within
``retry_s`` of NATS answering again, in the order the notices were written. The RPC that
made the change returns once the row is written: it never waits for NATS.

A re-published row (an ack lost, two accounts replicas draining one PostgreSQL outbox) is
stored once by JetStream (``Nats-Msg-Id`` = the row) and is harmless anyway: every
subscriber's handling is idempotent.

What is not covered: accounts dying between committing the change and writing the row (one
local write apart). Then the edges learn of it when their cached principal expires
(``TOLLGATE_PRINCIPAL_CACHE_TTL_S``, 60 s by default).

BalanceChanged stays on core NATS, fire-and-forget: see ``tollgate/notices.py``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from nats.errors import NoRespondersError
from nats.js.errors import NoStreamResponseError
from prometheus_client import CollectorRegistry, Counter, Gauge

from services.accounts.db import open_database
from services.accounts.schema import migrate
from tollgate import events
from tollgate.notices import CONTROL_SUBJECTS, ensure_control_stream
from tollgate.telemetry import Log


class Outbox:
    """The notices not yet acknowledged by JetStream, oldest first (blocking; behind ``to_thread``)."""

    def __init__(self, target: str | Path):
        self._db = open_database(target)
        self._lock = threading.Lock()
        migrate(self._db)  # the notice_outbox table: services/accounts/migrations/0003_notice_outbox.sql

    def close(self) -> None:
        self._db.close()

    def _locked(self, fn, *args):
        with self._lock:
            return fn(*args)

    async def add(self, subject: str, payload: bytes) -> None:
        sql = "INSERT INTO notice_outbox (subject, payload, created_at_ms) VALUES (?, ?, ?)"
        await asyncio.to_thread(self._locked, self._db.execute, sql, (subject, payload.hex(), time.time_ns() // 1_000_000))

    async def oldest(self, limit: int) -> list[tuple[int, str, bytes, int]]:
        """Up to ``limit`` rows: (id, subject, payload, created_at_ms)."""

        def read():
            rows = self._db.execute(
                "SELECT id, subject, payload, created_at_ms FROM notice_outbox ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
            return [(int(i), s, bytes.fromhex(p), int(c)) for i, s, p, c in rows]

        return await asyncio.to_thread(self._locked, read)

    async def remove(self, row_id: int) -> None:
        await asyncio.to_thread(self._locked, self._db.execute, "DELETE FROM notice_outbox WHERE id = ?", (row_id,))

    async def count(self) -> int:
        return await asyncio.to_thread(self._locked, lambda: int(self._db.execute("SELECT COUNT(*) FROM notice_outbox").fetchone()[0]))


class Notifier:
    """``publish(subject, event)``: control notices durably (outbox, then JetStream), anything
    else (balance hints) fire-and-forget on core NATS. ``run(stop)`` drains the outbox."""

    def __init__(self, nc, outbox: Outbox, log: Log, *, retry_s: float = 0.2, replicas: int = 1, registry: CollectorRegistry | None = None):
        self._nc = nc
        self._outbox = outbox
        self._log = log
        self._retry_s = retry_s
        self._replicas = replicas
        self._wake = asyncio.Event()
        self.pending = 0  # rows written and not yet acknowledged, as last seen
        self._published = None
        if registry is not None:
            Gauge("tollgate_accounts_notices_pending", "Control notices waiting in the outbox for NATS", registry=registry).set_function(
                lambda: self.pending
            )
            self._published = Counter("tollgate_accounts_notices_published", "Control notices acknowledged by JetStream", registry=registry)

    async def publish(self, subject: str, event) -> None:
        data = events.encode(event)
        if subject not in CONTROL_SUBJECTS:
            await self._fire_and_forget(subject, data)
            return
        try:
            await self._outbox.add(subject, data)
        except Exception as exc:  # the database just took the change, so this is rare: publish at least once, unsafely
            self._log.error("notice outbox write failed: published without it", subject=subject, error=type(exc).__name__)
            await self._fire_and_forget(subject, data)
            return
        self.pending += 1
        self._wake.set()

    async def balance_changed(self, account_id: str, balance: int, **key_spend) -> None:
        await self.publish(
            events.BALANCE_CHANGED_SUBJECT, events.BalanceChanged(account_id=account_id, balance_micros=balance, **key_spend)
        )

    async def _fire_and_forget(self, subject: str, data: bytes) -> None:
        try:
            await self._nc.publish(subject, data)
        except Exception as exc:  # a lost hint only delays the edge until its cache TTL
            self._log.warning("notify failed", subject=subject, error=type(exc).__name__)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish the outbox whenever a notice is written, and every ``retry_s`` while rows are left."""
        failing = False
        self.pending = await self._outbox.count()  # left by an earlier process (NATS was away)
        if self.pending:
            self._log.warning("control notices left in the outbox will be published", pending=self.pending)
        while not stop.is_set():
            if self._nc.is_connected:
                try:
                    await self.flush()
                    if failing:
                        self._log.info("notice outbox drained")
                    failing = False
                except Exception as exc:
                    if not failing:
                        self._log.warning(
                            "notice publish failed: kept in the outbox, retrying", pending=self.pending, error=type(exc).__name__
                        )
                    failing = True
            waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(
                waits,
                timeout=self._retry_s if (failing or self.pending or not self._nc.is_connected) else 30.0,
                return_when=asyncio.FIRST_COMPLETED,
            )
            for w in waits:
                w.cancel()
            self._wake.clear()

    async def flush(self) -> int:
        """Publish every row, oldest first, each acknowledged before the next; the number published."""
        js = self._nc.jetstream()
        published = 0
        while rows := await self._outbox.oldest(100):
            for row_id, subject, data, created_at_ms in rows:
                await self._publish(js, subject, data, f"notice-{created_at_ms}-{row_id}")
                await self._outbox.remove(row_id)
                published += 1
                if self._published is not None:
                    self._published.inc()
        self.pending = 0
        return published

    async def _publish(self, js, subject: str, data: bytes, msg_id: str) -> None:
        headers = {"Nats-Msg-Id": msg_id}
        try:
            await js.publish(subject, data, timeout=2.0, headers=headers)
        except (NoStreamResponseError, NoRespondersError):  # NATS lost the stream (or never had it): create it, once
            await ensure_control_stream(js, self._replicas)
            await js.publish(subject, data, timeout=2.0, headers=headers)
