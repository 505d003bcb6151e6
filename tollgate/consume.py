"""The one durable JetStream pull-consumer loop every event consumer runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import msgspec
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

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
) -> None:
    """Fetch batches until ``stop`` is set; decode each message with its subject's
    Decoder and hand the batch to ``handle``, which acks or naks every message.

    ``subject`` may be a wildcard (``tollgate.usage.>``). A message that cannot be decoded
    — malformed, or a version this build has no Decoder for — never blocks the stream:
    it is copied to ``tollgate.deadletter.<consumer>`` (persisted by the DEADLETTER
    stream) with the reason in its headers, then terminated."""
    sub = await js.pull_subscribe(
        subject,
        durable=durable,
        stream=stream,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait_s, max_ack_pending=50_000),
    )
    try:
        while not stop.is_set():
            try:
                msgs = await sub.fetch(batch, timeout=wait_s)
            except (NatsTimeout, asyncio.TimeoutError):
                continue
            except Exception as exc:  # NATS reconnecting: wait and fetch again
                log.warning("fetch failed", consumer=durable, error=type(exc).__name__)
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
            if decoded:
                await handle(decoded)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


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
