"""The one durable JetStream pull-consumer loop every event consumer runs."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import DEFAULT_PREFIX, AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

from tollgate import events
from tollgate.telemetry import Log

Handler = Callable[[list[tuple[Msg, msgspec.Struct]]], Coroutine[Any, Any, None]]


async def pull_loop(
    stop: asyncio.Event,
    js: JetStreamContext,
    *,
    durable: str,
    subject: str,
    stream: str,
    handle: Handler,
    log: Log,
    batch: int,
    wait_s: float,
    ack_wait_s: float = 30.0,
    linger_s: float = 0.0,
    consumers: list[tuple[str, str]] | None = None,
) -> None:
    """Fetch batches until ``stop`` is set; decode each message with its subject's
    Decoder and hand the batch to ``handle`` as (message, event) pairs, which acks or naks
    every message. A message carrying several events (``events.UsageBatch``) gives a pair per
    event, all with the same message: ``handle`` acks it once all of them are applied.

    A batch is complete when ``batch`` messages have arrived, or ``linger_s`` after its
    first message did (0: with what the server had sent by then), or when ``wait_s`` has
    passed. The next batch is fetched while ``handle`` still works on this one; ``handle``
    gets one batch at a time, in order.

    ``subject`` may be a wildcard (``tollgate.usage.>``). A message that cannot be decoded
    — malformed, or a version this build has no Decoder for — never blocks the stream:
    it is copied to ``tollgate.deadletter.<consumer>`` (persisted by the DEADLETTER
    stream) with the reason in its headers, then terminated.

    ``consumers``: (durable, filter subject) pairs read as one, instead of ``durable`` on
    ``subject`` (metering's shards); ``durable`` then only names the dead-letter subject."""
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait_s, max_ack_pending=50_000)
    puller = await Puller.start(js, stream=stream, consumers=consumers or [(durable, subject)], config=config)
    handling: asyncio.Task[None] | None = None
    # Messages asked for: a batch should hold about ``batch`` events, and a message may carry up
    # to 128 (a UsageBatch); the first ask assumes full ones, later asks follow what came.
    ask = max(1, batch // 128)
    try:
        while not stop.is_set():
            try:
                msgs = await puller.fetch(ask, wait_s=wait_s, linger_s=linger_s)
            except PullError as exc:  # e.g. the consumer is being re-created, or NATS reconnecting
                log.warning("fetch failed", consumer=durable, error=str(exc))
                await asyncio.sleep(0.5)
                continue
            decoded: list[tuple[Msg, Any]] = []
            for msg in msgs:
                decoder = events.decoder_for(msg.subject)
                try:
                    if decoder is None:
                        raise msgspec.DecodeError(f"no decoder for subject {msg.subject} (unknown event version)")
                    decoded.extend((msg, event) for event in events.unbatched(decoder.decode(msg.data)))  # a batch: one pair per event
                except msgspec.DecodeError as exc:
                    await dead_letter(js, durable, msg, str(exc), log)
            if msgs:
                ask = max(1, min(batch, batch * len(msgs) // max(len(decoded), 1)))
            if handling is not None:
                await handling
                handling = None
            if decoded:
                handling = asyncio.create_task(handle(decoded))
        if handling is not None:
            await handling
    finally:
        if handling is not None and not handling.done():
            handling.cancel()
        await puller.close()


async def ack_batch(msgs: list[Msg]) -> None:
    """Ack every message of a batch (explicit acks, one per message) with one write.

    ``msg.ack()`` is one ``publish`` each (~5 µs of Python, measured), 50 ms for a batch of
    10,000. The same protocol lines, ``PUB <reply> 0``, are queued on the connection in
    one piece; the last message is acked through ``ack()``, which flushes them all in
    order. Where the client lacks that entry point, or the connection is closed or
    draining, each message is acked on its own (raising what ``ack`` raises)."""
    msgs = list({id(m): m for m in msgs}.values())  # a batch message carries several events: acked once
    if not msgs:
        return
    nc = msgs[0]._client  # the connection the messages came on
    send = getattr(nc, "_send_command", None)
    if send is None or nc.is_closed or nc.is_draining_pubs or any(not m.reply or m._ackd for m in msgs):
        for msg in msgs:
            await msg.ack()
        return
    if len(msgs) > 1:
        await send(b"".join(b"PUB %s 0\r\n\r\n" % m.reply.encode() for m in msgs[:-1]))
        for msg in msgs[:-1]:
            msg._ackd = True
    await msgs[-1].ack()


IDLE_ASK = 64  # messages asked of a consumer with no backlog, when several are read as one


class PullError(Exception):
    """The server ended a pull request with an error status (not 404/408)."""


class _Lane:
    """One durable consumer of a ``Puller``: its open pull request and what it delivered."""

    def __init__(self, puller: Puller, durable: str, api_subject: str):
        self.puller = puller
        self.durable = durable
        self.api = api_subject
        self.inbox = puller._nc.new_inbox()
        self.sub: Subscription | None = None
        self.msgs: list[Msg] = []
        self.seq = 0
        self.request = ""  # reply subject of the open pull request; "" = none open
        self.open = 0  # messages the open request may still deliver
        self.open_until = 0.0
        self.hot = False  # its last request ended full: ask again within the same fetch
        self.busy = False  # its last request ended full (a backlog): it gets a larger share of a batch

    async def on_msg(self, msg: Msg) -> None:
        puller = self.puller
        headers = msg.headers or {}
        status = headers.get("Status") if headers and not msg.reply else None
        if status:
            if msg.subject == self.request:
                self.request, self.open, self.hot, self.busy = "", 0, False, False
                if status not in ("404", "408"):
                    puller._error = f"{status} {headers.get('Description', '').strip()}"
                puller._wake.set()
            return
        if not puller._count:
            puller._first_at = asyncio.get_running_loop().time()
        self.msgs.append(msg)
        puller._count += 1
        self.open -= 1
        if self.open <= 0:
            self.request, self.hot, self.busy = "", True, True
        if puller._count == 1 or puller._count >= puller._want or not self.request:
            puller._wake.set()

    async def ask(self, n: int, wait_s: float, now: float) -> None:
        self.seq += 1
        self.request = f"{self.inbox}.{self.seq}"
        self.open, self.hot = n, False
        self.open_until = now + wait_s
        body = b'{"batch":%d,"expires":%d}' % (n, int(wait_s * 1e9))
        try:
            await self.puller._nc.publish(self.api, body, reply=self.request)
        except Exception as exc:  # connection closed or its buffer full while reconnecting
            self.request = ""
            raise PullError(f"pull request not sent: {type(exc).__name__}") from exc


class Puller:
    """Pull requests to one or more durable consumers, answered on callback subscriptions, their
    messages merged into one stream of batches.

    nats-py's ``PullSubscription.fetch`` waits for every message with its own timer and
    task (~60 µs a message, measured: ~10,000 messages/s at most); here the connection's
    reader hands each message to a callback that appends it to a list, and a fetch sleeps
    until its batch is complete. At most one pull request per consumer is open at a time: it
    asks for its share of what the batch still lacks (the whole batch with one consumer) and
    expires after ``wait_s``; a consumer whose request was filled is asked again within the
    same fetch. Its reply subject tells its status replies (404/408: ended, others: an error)
    from older requests'. With several consumers (metering's shards), the ones whose last
    request came back full (a backlog) split what the batch lacks, the others are asked for a
    few messages: at most about two batches are delivered and not yet handed over."""

    def __init__(self, nc):
        self._nc = nc
        self._lanes: list[_Lane] = []
        self._count = 0  # messages delivered, not yet fetched
        self._first_at = 0.0
        self._want = 1
        self._wake = asyncio.Event()
        self._error = ""
        self._next = 0  # the lane a batch is taken from first (round robin)

    @classmethod
    async def start(cls, js: JetStreamContext, *, stream: str, consumers: list[tuple[str, str]], config: ConsumerConfig) -> Puller:
        """Create each durable consumer unless it exists (as ``js.pull_subscribe`` does), or
        move an existing one to its filter subject (keeping its other settings and its
        position), then subscribe."""
        nc = js._nc  # the connection the JetStream context publishes on
        prefix = getattr(js, "_prefix", DEFAULT_PREFIX)
        puller = cls(nc)
        for durable, subject in consumers:
            try:
                info = await js.consumer_info(stream, durable)
            except NotFoundError:
                created = copy.copy(config)
                created.durable_name = created.name = durable
                created.filter_subject = subject
                await js.add_consumer(stream, config=created)
            else:
                if info.config.filter_subject != subject and not info.config.filter_subjects:
                    info.config.filter_subject = subject
                    info.config.name = info.config.name or durable
                    await js.add_consumer(stream, config=info.config)
            lane = _Lane(puller, durable, f"{prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}")
            lane.sub = await nc.subscribe(f"{lane.inbox}.*", cb=lane.on_msg, pending_msgs_limit=0, pending_bytes_limit=0)
            puller._lanes.append(lane)
        return puller

    def _share(self, lane: _Lane, need: int) -> int:
        """What ``lane`` is asked for when the batch lacks ``need``: all of it with one consumer;
        with several, a busy one an equal part among the busy ones, an idle one a few."""
        if len(self._lanes) == 1:
            return need
        if not lane.busy:
            return min(need, IDLE_ASK)
        busy = sum(1 for other in self._lanes if other.busy)
        return max(min(need, IDLE_ASK), -(-need // busy))

    async def fetch(self, batch: int, *, wait_s: float, linger_s: float = 0.0) -> list[Msg]:
        if self._error and not self._count:
            error, self._error = self._error, ""
            raise PullError(error)
        loop = asyncio.get_running_loop()
        now = loop.time()
        for lane in self._lanes:
            if lane.request and now > lane.open_until + 2.0:  # its end never came (NATS reconnected): ask anew
                lane.request = ""
            if not lane.request and self._count < batch:
                await lane.ask(self._share(lane, batch - self._count), wait_s, now)
        self._want = batch
        deadline = now + wait_s
        while self._count < batch and not self._error:
            now = loop.time()
            for lane in self._lanes:
                if lane.hot and not lane.request and now < deadline and self._count < batch:
                    await lane.ask(self._share(lane, batch - self._count), max(deadline - now, 0.05), now)
            open_ = any(lane.request for lane in self._lanes)
            if self._count:
                if not open_:
                    break  # the requests ended (expired): the batch is what came
                until = self._first_at + linger_s
            elif not open_:
                break  # they ended with nothing: the caller asks again
            else:
                until = deadline
            timeout = until - loop.time()
            if timeout <= 0:
                break
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        taken: list[Msg] = []
        lanes = len(self._lanes)
        for i in range(lanes):
            lane = self._lanes[(self._next + i) % lanes]
            if len(taken) >= batch:
                break
            if lane.msgs:
                room = batch - len(taken)
                taken += lane.msgs[:room]
                lane.msgs = lane.msgs[room:]
        self._next = (self._next + 1) % lanes
        self._count -= len(taken)
        if self._count:
            self._first_at = loop.time()
        return taken

    async def close(self) -> None:
        """Stop listening; what was delivered but not fetched goes back for redelivery now
        (not after the ack wait)."""
        for lane in self._lanes:
            with contextlib.suppress(Exception):
                if lane.sub is not None:
                    await lane.sub.unsubscribe()
            for msg in lane.msgs:
                with contextlib.suppress(Exception):
                    await msg.nak()
            lane.msgs.clear()
        self._count = 0


async def dead_letter(js: JetStreamContext, consumer: str, msg: Msg, reason: str, log: Log) -> None:
    """Park a message the consumer cannot use, with why, and take it off the consumer."""
    headers = {"Tollgate-Reason": reason[:500], "Tollgate-Subject": msg.subject, "Tollgate-Consumer": consumer}
    try:
        await js.publish(f"{events.DEAD_LETTER_PREFIX}.{consumer}", msg.data, headers=headers)
    except Exception as exc:  # not parked: leave it for redelivery rather than lose it
        log.error("dead-letter publish failed", consumer=consumer, error=type(exc).__name__)
        await msg.nak(delay=5.0)
        return
    log.error("event dead-lettered", consumer=consumer, subject=msg.subject, reason=reason[:200])
    await msg.term()
