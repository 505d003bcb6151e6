"""Ships usage events to JetStream without making any client wait, and without losing one.

Handlers ``submit()`` an event: it is written to the edge's spool (``services/edge/spool``,
one ``os.write``) and queued in memory, no network I/O. Worker tasks take turns gathering
what arrives within ``LINGER_S`` and publish it as few messages as they can: the events of
one shard in one ``UsageBatch`` (``tollgate.usage.v2.<shard>``, ``Nats-Msg-Id`` = the batch's
id), so JetStream stores, delivers and acks a batch at a time; an event alone goes as a v1
message (``Nats-Msg-Id`` = request id). An event's shard is the one current when it was
submitted — the publisher moves to the next shard with every batch it gathers, so a batch
is mostly one message and the shards (metering replicas) take turns — and is spooled with
it: every copy of the event (a retry, a replay) goes to the same subject, so one metering
process sees every copy of a request id. They retry with backoff until JetStream acknowledges; only
then are the spool records released. So a NATS outage delays events instead of losing them,
an edge crash (with or without NATS) leaves them in the spool for the next process, a
retried publish that did land is absorbed by the stream's duplicate window, and an event
published twice in different batches (a spool replayed after a crash) is applied once by
the consumers, which take each event once by its request id.

The publisher works before NATS is reachable: events wait (in the spool, and in memory
while the queue has room) until ``attach()`` hands it the JetStream context. When the
memory queue is full, events go to the spool only and are read back from it later.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

import msgspec
from nats.js import JetStreamContext
from nats.js.api import PubAck
from opentelemetry.trace import Span

from services.edge.spool import Spool, SpoolFull
from tollgate import events, tracing
from tollgate.errors import ServiceUnavailable
from tollgate.telemetry import Log

BATCH_MAX = 512  # events published before their acks are awaited
EVENTS_PER_MESSAGE = 128  # events of one shard in one UsageBatch message (~50 KB)
ACK_TIMEOUT_S = 5.0
LINGER_S = 0.1  # a batch gathers for this long after its first event, unless BATCH_MAX come sooner (fewer, larger messages)
OUTCOMES_PER_MESSAGE = 1_000  # channel outcomes in one ChannelOutcomes message (~130 KB)
UNPUBLISHED = "unpublished"  # error.type of a send span whose event was left unpublished at shutdown
SPOOLED = "spooled"  # error.type of a send span whose event waits in the spool (not in memory)

# (subject, request id, encoded event, headers, spool segment or 0, send span)
Item = tuple[str, str, bytes, dict[str, str], int, Span | None]


class UsagePublisher:
    def __init__(
        self,
        js: JetStreamContext | None,
        log: Log,
        *,
        maxsize: int,
        workers: int = 8,
        spool: Spool | None = None,
        fsync_s: float = 0.2,
        shards: int = 0,
    ):
        self._js = js
        self._shards = shards  # TOLLGATE_USAGE_SHARDS (0: unsharded)
        # The shard of what is submitted now, fixed with each event in the spool: it moves on to the
        # next one each time a batch is gathered, so a batch is one shard's (one message, not one
        # per shard) and the shards take turns; the first is random, so edges start apart.
        self._shard = int.from_bytes(os.urandom(2), "big") % shards if shards > 0 else 0
        self._subject = _shard_subject(self._shard, shards)
        self._attached = asyncio.Event()
        if js is not None:
            self._attached.set()
        self._log = log
        self._maxsize = maxsize
        self._queue: asyncio.Queue[Item] = asyncio.Queue(maxsize)
        self._workers = workers
        self._tasks: list[asyncio.Task] = []
        self.spool = spool
        self._fsync_s = fsync_s
        self.published = 0  # events acknowledged by JetStream
        self.messages = 0  # messages that carried them
        self.dropped = 0
        self.failures = 0  # publish attempts that failed (each retried)
        self._sending = 0  # taken off the queue, not yet acknowledged
        self._gathering = asyncio.Lock()  # one worker gathers at a time; the others publish what they gathered
        self._full = asyncio.Event()  # set by submit() once BATCH_MAX events wait: the gathering worker stops lingering

    @property
    def pending(self) -> int:
        """Events accepted but not yet acknowledged by JetStream (queued, being retried, or in the spool)."""
        if self.spool is not None:
            return self.spool.unacked
        return self._queue.qsize() + self._sending

    def attach(self, js: JetStreamContext) -> None:
        """NATS is there: start publishing."""
        self._js = js
        self._attached.set()

    def check_accepting(self) -> None:
        """Raise 503 while the spool is full: a request served now could not be billed."""
        if self.spool is not None and self.spool.full:
            raise ServiceUnavailable(
                "Tollgate cannot record usage right now (its usage spool is full); try again shortly.", code="usage_spool_full"
            )

    def submit(self, event: events.UsageEvent, parent=None) -> None:
        """Spool and queue ``event``; with ``parent`` (the request's span, tracing on) the message
        gets a PRODUCER span, ended once JetStream has it, whose context its headers carry."""
        rid = event.request_id
        subject = self._subject
        headers = {"Nats-Msg-Id": rid}
        span = tracing.start_send(parent, events.USAGE_SUBJECT, rid, headers) if parent is not None else None
        data = events.encode(event)
        in_memory = self._queue.qsize() < self._maxsize and (self.spool is None or not self.spool.backlog)
        seq = 0
        if self.spool is not None:
            try:
                seq = self.spool.append(subject, rid, data, in_memory=in_memory)
            except (SpoolFull, OSError) as exc:  # not durable: memory only, if there is room
                self._log.error("usage spool cannot take the event; kept in memory only", request_id=rid, error=type(exc).__name__)
                in_memory = self._queue.qsize() < self._maxsize
                if not in_memory:
                    self.dropped += 1
                    self._log.error("usage queue full; event dropped", request_id=rid)
                    if span is not None:
                        tracing.end(span, error="queue_full")
                    return
        if in_memory:
            self._queue.put_nowait((subject, rid, data, headers, seq, span))
            if self._queue.qsize() >= BATCH_MAX:
                self._full.set()
        elif span is not None:
            tracing.end(span, error=SPOOLED)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"usage-publisher-{i}") for i in range(self._workers)]
        if self.spool is not None:
            self._tasks.append(asyncio.create_task(self._refill(), name="usage-spool-refill"))
            self._tasks.append(asyncio.create_task(self._sync(), name="usage-spool-fsync"))

    async def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued or spooled (bounded by ``timeout``), then stop the workers.
        What JetStream has not acknowledged by then stays in the spool for the next process."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._flushed(), timeout)
        if self.pending:
            where = "; they stay in the spool for the next edge process" if self.spool is not None else ""
            self._log.error(f"usage events left unpublished at shutdown{where}", count=self.pending)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while not self._queue.empty():  # never taken: their send spans end here, unpublished
            *_, span = self._queue.get_nowait()
            self._queue.task_done()
            if span is not None:
                tracing.end(span, error=UNPUBLISHED)
        if self.spool is not None:
            self.spool.close()

    async def _flushed(self) -> None:
        await self._queue.join()
        while self.spool is not None and self.spool.unacked:
            await asyncio.sleep(0.05)  # the refill task feeds the backlog to the workers
            await self._queue.join()

    async def _gather(self) -> list[Item]:
        """The next batch: the first queued event and what arrives within ``LINGER_S`` of it
        (or sooner, once ``BATCH_MAX`` wait). One worker gathers at a time, so at a low rate a
        batch holds what a whole linger brought — tens of events in a handful of messages —
        instead of each idle worker taking one event alone; at a high rate batches fill
        before the linger ends. No client waits on this: the events are in the spool."""
        async with self._gathering:
            batch = [await self._queue.get()]
            if self._queue.qsize() < BATCH_MAX:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), LINGER_S)
            while len(batch) < BATCH_MAX and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if self._shards > 0:  # what comes next goes to the next shard
                self._shard = (self._shard + 1) % self._shards
                self._subject = _shard_subject(self._shard, self._shards)
            return batch

    async def _work(self) -> None:
        """Publish what is queued in batches: every message of a batch is written before any
        acknowledgement is awaited, so the connection sends them in one write (one flush per
        batch instead of one per event), then the acks are gathered; what failed is retried
        (while the other workers go on gathering and publishing)."""
        await self._attached.wait()
        while True:
            batch = await self._gather()
            self._sending += len(batch)
            done: list[Item] = []
            try:
                await self._publish(batch, done)
            finally:
                self._sending -= len(batch)
                sent = {id(item) for item in done}
                for item in batch:
                    self._queue.task_done()
                    span = item[5]
                    if span is not None:  # unacknowledged: cancelled mid-retry at shutdown
                        tracing.end(span, error="" if id(item) in sent else UNPUBLISHED)

    async def _publish(self, batch: list[Item], done: list[Item]) -> None:
        js = self._js
        assert js is not None, "the workers publish only once attached"
        pending, delay = _messages(batch), 0.1
        while pending:
            futures: list[asyncio.Future[PubAck] | Exception] = []  # an exception: not even sent
            for message in pending:
                try:
                    futures.append(await js.publish_async(message.subject, message.data, headers=message.headers, wait_stall=ACK_TIMEOUT_S))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # not even sent (connection closed): retried below
                    futures.append(exc)
            results = await asyncio.gather(*(_acked(f) for f in futures))
            failed = []
            for message, error in zip(pending, results, strict=True):
                if error is None:
                    self.published += len(message.items)
                    self.messages += 1
                    done.extend(message.items)
                    for item in message.items:
                        if item[4] and self.spool is not None:  # a segment number: it was spooled
                            self.spool.ack(item[4])
                else:
                    failed.append(message)
            if failed:
                self.failures += sum(len(m.items) for m in failed)
                self._log.warning(
                    "usage publish failed; retrying",
                    count=sum(len(m.items) for m in failed),
                    request_id=failed[0].items[0][1],
                    error=type(next(r for r in results if r is not None)).__name__,
                    retry_in_s=delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            pending = failed  # retried as composed: a batch that did land is dropped by its Nats-Msg-Id

    async def _refill(self) -> None:
        """Move spooled records that are not in memory (left by an earlier process, or written
        while the queue was full) into the queue as it empties."""
        spool = self.spool
        assert spool is not None, "started only with a spool"
        while True:
            room = self._maxsize - self._queue.qsize()
            if spool.backlog and room >= self._maxsize // 2:
                for record in spool.read_backlog(min(room, 5_000)):
                    self._queue.put_nowait(
                        (record.subject, record.request_id, record.data, {"Nats-Msg-Id": record.request_id}, record.seq, None)
                    )
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(0.05)

    async def _sync(self) -> None:
        """fsync the spool every ``fsync_s`` (in a thread, on a duplicate of its descriptor)."""
        spool = self.spool
        assert spool is not None, "started only with a spool"
        while True:
            await asyncio.sleep(self._fsync_s)
            fd = spool.take_dirty_fd()
            if fd >= 0:
                try:
                    await asyncio.to_thread(_fsync_close, fd)
                except OSError as exc:
                    self._log.error("usage spool fsync failed", error=type(exc).__name__)


def _shard_subject(shard: int, shards: int) -> str:
    """The v1 usage subject of ``shard`` (``tollgate.usage.v1.<shard>``; unsharded when ``shards`` is 0)."""
    return f"{events.USAGE_SUBJECT}.{shard}" if shards > 0 else events.USAGE_SUBJECT


class _Message:
    """One JetStream message: a v1 event on its own, or a v2 batch of one shard's events."""

    __slots__ = ("data", "headers", "items", "subject")

    def __init__(self, subject: str, data: bytes, headers: dict[str, str], items: list[Item]):
        self.subject, self.data, self.headers, self.items = subject, data, headers, items


def _messages(batch: list[Item]) -> list[_Message]:
    """The messages that carry ``batch``: the events of one subject (shard) together in
    UsageBatch messages of at most ``EVENTS_PER_MESSAGE``; an event alone, or one whose send
    span continues a request's trace (tracing on), in a v1 message of its own."""
    messages: list[_Message] = []
    by_subject: dict[str, list[Item]] = {}
    for item in batch:
        if item[5] is not None:
            messages.append(_Message(item[0], item[2], item[3], [item]))
        else:
            by_subject.setdefault(item[0], []).append(item)
    for subject, items in by_subject.items():
        for start in range(0, len(items), EVENTS_PER_MESSAGE):
            chunk = items[start : start + EVENTS_PER_MESSAGE]
            if len(chunk) == 1:
                messages.append(_Message(subject, chunk[0][2], chunk[0][3], chunk))
                continue
            data = events.ENCODER.encode({"events": [msgspec.Raw(item[2]) for item in chunk]})  # a UsageBatch, events not re-encoded
            headers = {"Nats-Msg-Id": events.batch_msg_id([item[1] for item in chunk])}
            messages.append(_Message(events.batch_subject(subject), data, headers, chunk))
    return messages


async def _acked(future: asyncio.Future[PubAck] | Exception) -> BaseException | None:
    """None once JetStream acknowledged (the stream stored it, or dropped it as a duplicate);
    else why not. A publish that was never sent arrives here as its exception."""
    if isinstance(future, BaseException):
        return future
    try:
        await asyncio.wait_for(future, ACK_TIMEOUT_S)
        return None
    except asyncio.CancelledError:
        future.cancel()
        raise
    except Exception as exc:  # a timeout, no stream, an API error
        return exc


def _fsync_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class OutcomeReporter:
    """Channel health reports to the router over core NATS: best effort, never blocking
    a request (a full queue drops reports; health is a statistic, not a ledger)."""

    def __init__(self, nc, log: Log, *, maxsize: int = 10_000, linger_s: float = 0.05):
        self._nc = nc
        self._linger_s = linger_s
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
        """Reports go out in batches, every ``linger_s``: one message (v2, ``ChannelOutcomes``)
        for all of them, a report alone as a v1 message."""
        while True:
            outcomes = [await self._queue.get()]
            await asyncio.sleep(self._linger_s)
            while not self._queue.empty():
                outcomes.append(self._queue.get_nowait())
            try:
                if not self._nc.is_connected:  # NATS away: the reports are dropped, as when the queue is full
                    self.dropped += len(outcomes)
                elif len(outcomes) == 1:
                    await self._nc.publish(events.CHANNEL_OUTCOME_SUBJECT, events.encode(outcomes[0]))
                else:  # one message for the linger's reports (~130 bytes each)
                    for start in range(0, len(outcomes), OUTCOMES_PER_MESSAGE):
                        batch = events.ChannelOutcomes(outcomes=outcomes[start : start + OUTCOMES_PER_MESSAGE])
                        await self._nc.publish(events.CHANNEL_OUTCOMES_SUBJECT, events.encode(batch))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._log.warning("channel outcomes not reported", count=len(outcomes), error=type(exc).__name__)
            finally:
                for _ in outcomes:
                    self._queue.task_done()
