"""Refused credentials, reported to the risk engine (``services/accounts/risk``) as
``AuthFailed`` events on core NATS: best effort and bounded, never on the request's path (a
full queue, or NATS away, drops reports: a lost one only weakens an auth-failure rule).
An event carries no secret: the first 12 hex digits of the key's peppered hash, the
client's address, the code answered, and the account when the edge still knew the key."""

from __future__ import annotations

import asyncio
import contextlib
import time

from tollgate import events
from tollgate.telemetry import Log

KEY_HINT_CHARS = 12


class AuthFailureReporter:
    def __init__(self, nc, log: Log, *, maxsize: int = 10_000):
        self._nc = nc
        self._log = log
        self._queue: asyncio.Queue[events.AuthFailed] = asyncio.Queue(maxsize)
        self._task: asyncio.Task | None = None
        self.dropped = 0

    def report(self, key_digest: str, code: str, address: str, account_id: str = "") -> None:
        event = events.AuthFailed(
            occurred_at_ms=time.time_ns() // 1_000_000,
            address=address[:64],
            key_hint=key_digest[:KEY_HINT_CHARS],
            account_id=account_id,
            code=code,
        )
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    def start(self) -> None:
        self._task = asyncio.create_task(self._work(), name="auth-failure-reporter")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            if not self._nc.is_connected:
                self.dropped += 1
                continue
            with contextlib.suppress(Exception):
                await self._nc.publish(events.AUTH_FAILED_SUBJECT, events.encode(event))
