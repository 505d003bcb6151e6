"""The one durable JetStream pull-consumer loop every event consumer runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DEFAULT_PREFIX, AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

from tollgate import events

Handler = Callable[[list[tuple[Msg, msgspec.Struct]]], Awaitable[None]]


async def pull_loop(
    stop: asyncio.Event,
    js: JetStreamContext,
    *,
    durable: str,
    subject: str,
    stream: str,
    handle: Handler,
    log,
    batch: int,
    wait_s: float,
    ack_wait_s: float = 30.0,
    linger_s: float = 0.0,
) -> None:
    """Fetch batches until ``stop`` is set; decode each message with its subject's
    Decoder and hand the batch to ``handle``, which acks or naks every message.

    A batch is complete when ``batch`` messages have arrived, or ``linger_s`` after its
    first message did (0: with what the server had sent by then), or when ``wait_s`` has
    passed. The next batch is fetched while ``handle`` still works on this one; ``handle``
    gets one batch at a time, in order.

    ``subject`` may be a wildcard (``tollgate.usage.>``). A message that cannot be decoded
    — malformed, or a version this build has no Decoder for — never blocks the stream:
    it is copied to ``tollgate.deadletter.<consumer>`` (persisted by the DEADLETTER
    stream) with the reason in its headers, then terminated."""
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait_s, max_ack_pending=50_000)
    puller = await Puller.start(js, stream=stream, durable=durable, subject=subject, config=config)
    handling: asyncio.Task | None = None
    try:
        while not stop.is_set():
            try:
                msgs = await puller.fetch(batch, wait_s=wait_s, linger_s=linger_s)
            except PullError as exc:  # e.g. the consumer is being re-created, or NATS reconnecting
                log.warning("fetch failed", consumer=durable, error=str(exc))
                await asyncio.sleep(0.5)
                continue
            decoded = []
            for msg in msgs:
                decoder = events.DECODERS.get(msg.subject)
                try:
                    if decoder is None:
                        raise msgspec.DecodeError(f"no decoder for subject {msg.subject} (unknown event version)")
                    decoded.append((msg, decoder.decode(msg.data)))
                except msgspec.DecodeError as exc:
                    await dead_letter(js, durable, msg, str(exc), log)
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


class PullError(Exception):
    """The server ended a pull request with an error status (not 404/408)."""


class Puller:
    """Pull requests to a durable consumer, answered on a callback subscription.

    nats-py's ``PullSubscription.fetch`` waits for every message with its own timer and
    task (~60 µs a message, measured: ~10,000 messages/s at most); here the connection's
    reader hands each message to a callback that appends it to a list, and a fetch sleeps
    until its batch is complete. At most one pull request is open at a time: it asks for
    what the batch still lacks and expires after ``wait_s``; its reply subject tells its
    status replies (404/408: ended, others: an error) from older requests'."""

    def __init__(self, nc, api_subject: str):
        self._nc = nc
        self._api = api_subject
        self._inbox = nc.new_inbox()
        self._sub = None
        self._msgs: list[Msg] = []
        self._first_at = 0.0
        self._want = 1
        self._wake = asyncio.Event()
        self._seq = 0
        self._request = ""  # reply subject of the open pull request; "" = none open
        self._open = 0  # messages the open request may still deliver
        self._open_until = 0.0
        self._error = ""

    @classmethod
    async def start(cls, js: JetStreamContext, *, stream: str, durable: str, subject: str, config: ConsumerConfig) -> Puller:
        """Create the durable consumer unless it exists (as ``js.pull_subscribe`` does), then subscribe."""
        try:
            await js.consumer_info(stream, durable)
        except NotFoundError:
            config.durable_name = config.name = durable
            config.filter_subject = subject
            await js.add_consumer(stream, config=config)
        nc = js._nc  # the connection the JetStream context publishes on
        prefix = getattr(js, "_prefix", DEFAULT_PREFIX)
        puller = cls(nc, f"{prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}")
        puller._sub = await nc.subscribe(f"{puller._inbox}.*", cb=puller._on_msg, pending_msgs_limit=0, pending_bytes_limit=0)
        return puller

    async def _on_msg(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers and not msg.reply else None
        if status:
            if msg.subject == self._request:
                self._request, self._open = "", 0
                if status not in ("404", "408"):
                    self._error = f"{status} {msg.headers.get('Description', '').strip()}"
                self._wake.set()
            return
        if not self._msgs:
            self._first_at = asyncio.get_running_loop().time()
        self._msgs.append(msg)
        self._open -= 1
        if self._open <= 0:
            self._request = ""
        if len(self._msgs) == 1 or len(self._msgs) >= self._want or not self._request:
            self._wake.set()

    async def fetch(self, batch: int, *, wait_s: float, linger_s: float = 0.0) -> list[Msg]:
        if self._error and not self._msgs:
            error, self._error = self._error, ""
            raise PullError(error)
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._request and now > self._open_until + 2.0:  # its end never came (NATS reconnected): ask anew
            self._request = ""
        if not self._request and len(self._msgs) < batch:
            self._seq += 1
            self._request = f"{self._inbox}.{self._seq}"
            self._open = batch - len(self._msgs)
            self._open_until = now + wait_s
            body = b'{"batch":%d,"expires":%d}' % (self._open, int(wait_s * 1e9))
            try:
                await self._nc.publish(self._api, body, reply=self._request)
            except Exception as exc:  # connection closed or its buffer full while reconnecting
                self._request = ""
                raise PullError(f"pull request not sent: {type(exc).__name__}") from exc
        self._want = batch
        deadline = now + wait_s
        while len(self._msgs) < batch and not self._error:
            if self._msgs:
                if not self._request:
                    break  # the request ended (expired): the batch is what came
                until = self._first_at + linger_s
            elif not self._request:
                break  # it ended with nothing: the caller asks again
            else:
                until = deadline
            timeout = until - loop.time()
            if timeout <= 0:
                break
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        taken, self._msgs = self._msgs[:batch], self._msgs[batch:]
        if self._msgs:
            self._first_at = loop.time()
        return taken

    async def close(self) -> None:
        """Stop listening; what was delivered but not fetched goes back for redelivery now
        (not after the ack wait)."""
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()
        for msg in self._msgs:
            with contextlib.suppress(Exception):
                await msg.nak()
        self._msgs.clear()


async def dead_letter(js: JetStreamContext, consumer: str, msg: Msg, reason: str, log) -> None:
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
