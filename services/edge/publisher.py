"""Ships usage events to JetStream without making any client wait.

Handlers ``submit()`` an event (a queue put, no I/O); worker tasks publish with
``Nats-Msg-Id = request id`` and retry with backoff until JetStream acknowledges, so a
NATS outage delays events instead of losing them, and a retried publish that did land
is absorbed by the stream's duplicate window.
"""

from __future__ import annotations

import asyncio
import contextlib

from nats.js import JetStreamContext

from tollgate import events, tracing

UNPUBLISHED = "unpublished"  # error.type of a send span whose event was left unpublished at shutdown


class UsagePublisher:
    def __init__(self, js: JetStreamContext, log, *, maxsize: int, workers: int = 8):
        self._js = js
        self._log = log
        self._queue: asyncio.Queue[tuple[events.UsageEvent, dict[str, str], object]] = asyncio.Queue(maxsize)
        self._workers = workers
        self._tasks: list[asyncio.Task] = []
        self.published = 0
        self.dropped = 0
        self.failures = 0  # publish attempts that failed (each retried)
        self._sending = 0  # taken off the queue, not yet acknowledged

    @property
    def pending(self) -> int:
        """Events accepted but not yet acknowledged by JetStream (queued or being retried)."""
        return self._queue.qsize() + self._sending

    def submit(self, event: events.UsageEvent, parent=None) -> None:
        """Queue ``event``; with ``parent`` (the request's span, tracing on) the message gets a
        PRODUCER span, ended once JetStream has it, whose context its headers carry."""
        headers = {"Nats-Msg-Id": event.request_id}
        span = tracing.start_send(parent, events.USAGE_SUBJECT, event.request_id, headers) if parent is not None else None
        try:
            self._queue.put_nowait((event, headers, span))
        except asyncio.QueueFull:
            self.dropped += 1
            self._log.error("usage queue full; event dropped", request_id=event.request_id)
            if span is not None:
                tracing.end(span, error="queue_full")

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"usage-publisher-{i}") for i in range(self._workers)]

    async def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued (bounded by ``timeout``), then stop the workers."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        if self.pending:
            self._log.error("usage events left unpublished at shutdown", count=self.pending)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while not self._queue.empty():  # never taken: their send spans end here, unpublished
            _, _, span = self._queue.get_nowait()
            self._queue.task_done()
            if span is not None:
                tracing.end(span, error=UNPUBLISHED)

    async def _work(self) -> None:
        while True:
            event, headers, span = await self._queue.get()
            self._sending += 1
            error = UNPUBLISHED  # unless JetStream acknowledges (cancelled mid-retry at shutdown)
            try:
                await self._publish(event, headers)
                error = ""
            finally:
                self._sending -= 1
                self._queue.task_done()
                if span is not None:
                    tracing.end(span, error=error)

    async def _publish(self, event: events.UsageEvent, headers: dict[str, str]) -> None:
        data = events.encode(event)
        delay = 0.1
        while True:
            try:
                await self._js.publish(events.USAGE_SUBJECT, data, timeout=5.0, headers=headers)
                self.published += 1
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                self._log.warning("usage publish failed; retrying", request_id=event.request_id, error=type(exc).__name__, retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


class OutcomeReporter:
    """Channel health reports to the router over core NATS: best effort, never blocking
    a request (a full queue drops reports; health is a statistic, not a ledger)."""

    def __init__(self, nc, log, *, maxsize: int = 10_000):
        self._nc = nc
        self._log = log
        self._queue: asyncio.Queue[events.ChannelOutcome] = asyncio.Queue(maxsize)
        self._task: asyncio.Task | None = None
        self.dropped = 0

    def report(self, outcome: events.ChannelOutcome) -> None:
        try:
            self._queue.put_nowait(outcome)
        except asyncio.QueueFull:
            self.dropped += 1

    def start(self) -> None:
        self._task = asyncio.create_task(self._work(), name="outcome-reporter")

    async def close(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._queue.join(), 2.0)
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            outcome = await self._queue.get()
            try:
                await self._nc.publish(events.CHANNEL_OUTCOME_SUBJECT, events.encode(outcome))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._log.warning("channel outcome not reported", channel=outcome.channel_id, error=type(exc).__name__)
            finally:
                self._queue.task_done()
