"""Usage events from JetStream into ClickHouse, in batches, acked only after the insert."""

from __future__ import annotations

import asyncio

import msgspec
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from services.metering.store import UsageStore
from tollgate import events

DURABLE = "metering-clickhouse"


async def consume(js: JetStreamContext, store: UsageStore, log, *, batch: int, wait_s: float) -> None:
    sub = await js.pull_subscribe(
        events.USAGE_SUBJECT,
        durable=DURABLE,
        stream=events.USAGE_STREAM,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=60, max_ack_pending=50_000),
    )
    decoder = events.DECODERS[events.USAGE_SUBJECT]
    while True:
        try:
            msgs = await sub.fetch(batch, timeout=wait_s)
        except (NatsTimeout, asyncio.TimeoutError):
            continue
        except Exception as exc:
            log.warning("fetch failed", error=type(exc).__name__)
            await asyncio.sleep(0.5)
            continue
        good, rows = [], []
        for msg in msgs:
            try:
                rows.append(decoder.decode(msg.data))
                good.append(msg)
            except msgspec.DecodeError as exc:
                log.error("undecodable usage event dropped", error=str(exc))
                await msg.term()
        try:
            await asyncio.to_thread(store.insert, rows)
        except Exception as exc:  # leave them unacked: JetStream redelivers after ack_wait
            log.error("clickhouse insert failed; batch will be redelivered", rows=len(rows), error=type(exc).__name__)
            for msg in good:
                await msg.nak(delay=2.0)
            continue
        for msg in good:
            await msg.ack()
        log.debug("usage batch stored", rows=len(rows))
