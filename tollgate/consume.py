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
    """Fetch batches until ``stop`` is set; decode each message with the subject's
    Decoder and hand the batch to ``handle``, which acks or naks every message.
    An undecodable message is terminated (never redelivered) and logged."""
    sub = await js.pull_subscribe(
        subject,
        durable=durable,
        stream=stream,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait_s, max_ack_pending=50_000),
    )
    decoder = events.DECODERS[subject]
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
                try:
                    decoded.append((msg, decoder.decode(msg.data)))
                except msgspec.DecodeError as exc:
                    log.error("undecodable event dropped", consumer=durable, error=str(exc))
                    await msg.term()
            if decoded:
                await handle(decoded)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
