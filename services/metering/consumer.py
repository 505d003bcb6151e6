"""Usage events from JetStream into ClickHouse in batches, acked only after the insert."""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext

from services.metering.store import UsageStore
from tollgate import events
from tollgate.consume import pull_loop

DURABLE = "metering-clickhouse"


async def consume(stop: asyncio.Event, js: JetStreamContext, store: UsageStore, log, *, batch: int, wait_s: float) -> None:
    async def handle(batch_: list) -> None:
        rows = [event for _, event in batch_]
        try:
            await asyncio.to_thread(store.insert, rows)
        except Exception as exc:  # unacked: JetStream redelivers; duplicates collapse in ClickHouse
            log.error("clickhouse insert failed; batch will be redelivered", rows=len(rows), error=type(exc).__name__)
            for msg, _ in batch_:
                await msg.nak(delay=2.0)
            return
        for msg, _ in batch_:
            await msg.ack()
        log.debug("usage batch stored", rows=len(rows))

    await pull_loop(
        stop, js, durable=DURABLE, subject=events.USAGE_SUBJECT, stream=events.USAGE_STREAM, handle=handle, log=log,
        batch=batch, wait_s=wait_s, ack_wait_s=60.0,
    )  # fmt: skip
