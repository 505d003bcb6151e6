"""Control notices — a key revoked or changed, an account suspended or reactivated — delivered
so that none is lost to a NATS outage (design invariant 4).

Publisher (accounts, ``services/accounts/notices.py``): each notice is first written to an
outbox table in the accounts database, then published to the ``CONTROL`` JetStream stream and
removed once JetStream acknowledged it; while NATS is away the outbox keeps it (across a
restart of accounts too) and it is published as soon as NATS answers again.

Subscribers (every edge, metering): a ``NoticeFeed`` per process.

- Live: a plain subscription to the three subjects (a JetStream publish reaches plain
  subscribers too), so with NATS up a notice is applied within milliseconds.
- Catch-up: right after every reconnect (and every ``check_s`` — 0.2 s for a few seconds
  after a reconnect), the feed compares the stream's last sequence with the last one it has
  read and reads the rest through a short-lived pull consumer, applying each notice in stream
  order. So a notice sent while this process was cut off is applied as soon as it is back.
  A notice received live is applied again by the next catch-up: every handler is idempotent
  (drop a cache entry; set a status, where stream order makes the last one win).
- Gap: when the stream no longer holds notices this process has not read (older than the
  stream's max age, or the stream was recreated: NATS lost its data), ``on_gap()`` is called:
  the subscriber drops its whole principal cache and asks accounts again.

The first catch-up after start reads from the process's start time (minus ``START_MARGIN_S``
for clock skew), so notices published while it started without NATS are applied too.

BalanceChanged is not a control notice: it is frequent and only a hint (a stale balance makes
an edge ask accounts for a lease sooner or later; what is spendable is decided by the leases
accounts grants), so it stays fire-and-forget on core NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from tollgate import bus, events
from tollgate.telemetry import Log

CONTROL_STREAM: Final = "CONTROL"
CONTROL_SUBJECTS: Final = (events.KEY_REVOKED_SUBJECT, events.KEY_UPDATED_SUBJECT, events.ACCOUNT_STATUS_SUBJECT)
MAX_AGE_S: Final = 3600.0  # far above any principal cache TTL: a process cut off for longer drops its cache
MAX_BYTES: Final = 64 * 1024 * 1024  # a notice is ~150 bytes: ~400,000 notices in an hour before the oldest go
DUPLICATE_WINDOW_S: Final = 120.0  # Nats-Msg-Id = the outbox row: a re-publish after a lost ack is stored once
START_MARGIN_S: Final = 60.0
RECONNECT_FAST_S: Final = 3.0  # after a reconnect, catch up every ``fast_s`` for this long


def control_stream_config(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=CONTROL_STREAM,
        subjects=list(CONTROL_SUBJECTS),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=MAX_AGE_S,
        max_bytes=MAX_BYTES,
        duplicate_window=DUPLICATE_WINDOW_S,
        num_replicas=replicas,
    )


async def ensure_control_stream(js, replicas: int = 1) -> None:
    """Create or update the stream; a server without the storage to reserve its byte bound gets
    it without one (and a warning) rather than no stream: notices must still flow."""
    await bus.ensure_stream(js, control_stream_config(replicas))


@dataclass(frozen=True, slots=True)
class Plan:
    """What one catch-up does: ``gap`` = call ``on_gap`` first; then read from sequence
    ``from_seq``, or (first read since start) from time ``from_time_s``; ``read`` False = nothing new."""

    gap: bool
    read: bool
    from_seq: int = 0
    from_time_s: float = 0.0


def plan(
    seq: int | None,
    created: object,
    *,
    first_seq: int,
    last_seq: int,
    stream_created: object,
    started_s: float,
    now_s: float,
    max_age_s: float,
) -> Plan:
    """``seq``: the last sequence this process has read (None: none yet since it started);
    ``created``: the stream's creation time when it was read (a new one = the stream was recreated)."""
    if seq is None:
        gap = now_s - started_s > max_age_s - START_MARGIN_S  # notices sent since start may have expired unread
        return Plan(gap=gap, read=last_seq >= first_seq and last_seq > 0, from_time_s=started_s - START_MARGIN_S)
    if (created is not None and stream_created != created) or last_seq < seq:
        return Plan(gap=True, read=last_seq >= first_seq and last_seq > 0, from_seq=first_seq)  # a new stream: read all it holds
    if first_seq > seq + 1:
        return Plan(gap=True, read=last_seq >= first_seq, from_seq=first_seq)  # unread notices expired
    return Plan(gap=False, read=last_seq > seq, from_seq=seq + 1)


class NoticeFeed:
    """Applies control notices to one process's caches; see the module doc.

    ``handlers``: subject -> a function of the decoded event (idempotent); ``on_gap``: drop
    every cached principal. ``start(nc)`` once NATS is (or is being) connected."""

    def __init__(
        self,
        handlers: Mapping[str, Callable],
        on_gap: Callable[[], None],
        log: Log,
        *,
        check_s: float = 1.0,
        fast_s: float = 0.2,
        poll_s: float = 0.05,
        clock: Callable[[], float] = time.time,
    ):
        unknown = set(handlers) - set(CONTROL_SUBJECTS)
        if unknown:
            raise ValueError(f"not control subjects: {sorted(unknown)}")
        self._handlers = dict(handlers)
        self._on_gap = on_gap
        self._log = log
        self._check_s, self._fast_s, self._poll_s = check_s, fast_s, poll_s
        self._clock = clock
        self._started_s = clock()
        self._seq: int | None = None
        self._created: object = None
        self._task: asyncio.Task | None = None
        self._subs: list = []
        self.applied = 0  # notices applied (live and caught up)
        self.gaps = 0
        self.catch_ups = 0

    @property
    def seq(self) -> int | None:
        return self._seq

    async def start(self, nc) -> None:
        for subject in self._handlers:
            self._subs.append(await nc.subscribe(subject, cb=self._live))
        self._task = asyncio.create_task(self._run(nc), name="control-notices")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()

    async def _live(self, msg) -> None:
        self._apply(msg.subject, msg.data)

    def _apply(self, subject: str, data: bytes) -> None:
        handler = self._handlers.get(subject)
        if handler is None:
            return
        try:
            handler(events.DECODERS[subject].decode(data))
            self.applied += 1
        except Exception as exc:
            self._log.warning("bad control notice", subject=subject, error=type(exc).__name__)

    async def _run(self, nc) -> None:
        js = nc.jetstream(timeout=2.0)
        reconnects = -1  # the first pass counts as a reconnect: catch up at once
        next_check = fast_until = 0.0
        reading: asyncio.Task | None = None
        try:
            while True:
                now = time.monotonic()
                if reading is not None and reading.done():
                    error = None if reading.cancelled() else reading.exception()
                    failed = error is not None or reading.cancelled()
                    if error is not None:  # JetStream not ready yet after a restart, a timeout: again soon
                        self._log.debug("control notice catch-up failed", error=type(error).__name__)
                    next_check = now + (self._fast_s if failed or now < fast_until else self._check_s)
                    reading = None
                if nc.is_connected:
                    if nc.stats["reconnects"] != reconnects:
                        reconnects = nc.stats["reconnects"]
                        next_check, fast_until = now, now + RECONNECT_FAST_S
                        if reading is not None:  # its requests went to the old connection: start again
                            reading.cancel()
                            await asyncio.gather(reading, return_exceptions=True)
                            reading = None
                    if reading is None and now >= next_check:
                        reading = asyncio.create_task(self.catch_up(js))
                await asyncio.sleep(self._poll_s)
        finally:
            if reading is not None:
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)

    async def catch_up(self, js) -> int:
        """Read and apply what the stream holds beyond what this process has read; the number applied."""
        try:
            info = await js.stream_info(CONTROL_STREAM)
        except NotFoundError:  # accounts has not created it yet (or NATS lost it): nothing to read
            if self._seq:
                self._gap("stream missing")
                self._seq, self._created = 0, None
            return 0
        state = info.state
        p = plan(
            self._seq,
            self._created,
            first_seq=state.first_seq,
            last_seq=state.last_seq,
            stream_created=info.created,
            started_s=self._started_s,
            now_s=self._clock(),
            max_age_s=info.config.max_age or MAX_AGE_S,
        )
        if p.gap:
            self._gap("notices expired or stream recreated")
        read_to = state.last_seq
        applied = 0
        if p.read:
            applied, read_to = await self._read(js, p)
            self.catch_ups += 1
        self._seq, self._created = max(read_to, state.last_seq), info.created
        return applied

    def _gap(self, why: str) -> None:
        self.gaps += 1
        self._log.warning("control notices missed: dropping cached principals", reason=why)
        self._on_gap()

    async def _read(self, js, p: Plan) -> tuple[int, int]:
        if not p.from_seq:  # the first read since start
            at = datetime.datetime.fromtimestamp(max(p.from_time_s, 0), datetime.UTC)
            config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=at)
        else:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=p.from_seq)
        config.ack_policy, config.inactive_threshold, config.mem_storage, config.max_waiting = AckPolicy.NONE, 30.0, True, 1
        consumer = await js.add_consumer(CONTROL_STREAM, config)
        applied, last = 0, 0
        try:
            left = consumer.num_pending or 0
            if left:
                sub = await js.pull_subscribe_bind(consumer=consumer.name, stream=CONTROL_STREAM)
                try:
                    while left > 0:
                        for msg in await sub.fetch(batch=min(left, 256), timeout=2.0):
                            self._apply(msg.subject, msg.data)
                            applied += 1
                            last = msg.metadata.sequence.stream
                            left = msg.metadata.num_pending
                finally:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
        finally:
            with contextlib.suppress(Exception):
                await js.delete_consumer(CONTROL_STREAM, consumer.name)
        return applied, last
