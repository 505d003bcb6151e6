"""Usage events from JetStream into ClickHouse in batches, acked only after the insert.

The durable consumer reads every version of the usage subject; the ones this build cannot
decode go to the dead-letter stream (``tollgate.consume``). Exactly once: the store skips
request ids it already holds, so a redelivered batch adds nothing, to the raw table or to
any rollup. Which events it must look up comes from its own index of recent inserts
(``recent.RecentIds``), not from NATS delivery metadata: a nats-server crash rolls that back
(messages already stored come again with a delivery count of 1).

Which events this process reads — the shards it owns, so that it is the one writer of every
request id it sees — comes from ``shards.Assignment``."""

from __future__ import annotations

import asyncio
import contextlib
import time

from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.metering.shards import LEGACY_DURABLE, Assignment
from services.metering.store import UsageStore
from tollgate import events, tracing
from tollgate.consume import ack_batch, pull_loop
from tollgate.telemetry import Log

DURABLE = LEGACY_DURABLE  # names the dead-letter subject (tollgate.deadletter.metering-usage) for every shard


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.inserted = Counter("tollgate_metering_events_inserted", "usage events stored in ClickHouse", registry=registry)
        self.duplicates = Counter("tollgate_metering_events_duplicate", "redelivered usage events skipped", registry=registry)
        self.looked_up = Counter(
            "tollgate_metering_events_looked_up", "usage events looked up in ClickHouse (they may be stored already)", registry=registry
        )
        self.failures = Counter("tollgate_metering_insert_failures", "batches whose insert failed (redelivered)", registry=registry)
        self.insert_seconds = Histogram("tollgate_metering_insert_seconds", "time to store one batch", registry=registry)
        self.lag = Gauge("tollgate_metering_consumer_lag", "usage events in the stream not yet delivered to metering", registry=registry)
        self.unacked = Gauge("tollgate_metering_consumer_ack_pending", "usage events delivered but not yet acked", registry=registry)


def batch_handler(store: UsageStore, log: Log, metrics: IngestMetrics | None = None):
    """What the pull loop calls with each batch of (message, event): store, then ack (or nak)."""

    async def handle(batch_: list) -> None:
        rows = [event for _, event in batch_]
        started = time.perf_counter()
        try:
            fresh = await asyncio.to_thread(store.insert, rows)
        except Exception as exc:  # unacked: JetStream redelivers; nothing of the batch was stored twice
            log.error("clickhouse insert failed; batch will be redelivered", rows=len(rows), error=type(exc).__name__)
            if metrics:
                metrics.failures.inc()
            for msg in {id(m): m for m, _ in batch_}.values():  # a batch message once
                await msg.nak(delay=2.0)
            return
        if metrics:
            metrics.insert_seconds.observe(time.perf_counter() - started)
            metrics.inserted.inc(fresh)
            metrics.duplicates.inc(len(rows) - fresh)
            metrics.looked_up.inc(store.looked_up)
        await ack_batch([msg for msg, _ in batch_])
        log.debug("usage batch stored", rows=len(rows), new=fresh, looked_up=store.looked_up)

    return handle


async def consume(
    stop: asyncio.Event, js: JetStreamContext, store: UsageStore, log, *, batch: int, wait_s: float, metrics: IngestMetrics | None = None
) -> None:
    handle = batch_handler(store, log, metrics)
    await pull_loop(
        stop,
        js,
        durable=DURABLE,
        subject=events.USAGE_SUBJECTS,
        consumers=store.assignment.consumers(),
        stream=events.USAGE_STREAM,
        log=log,
        handle=tracing.per_message(tracing.tracer(), DURABLE, handle),  # a span per traced event, as long as its batch's write
        batch=batch,
        wait_s=wait_s,
        ack_wait_s=60.0,
        linger_s=wait_s,
    )


async def watch_lag(
    stop: asyncio.Event, js: JetStreamContext, metrics: IngestMetrics, assignment: Assignment, interval_s: float = 5.0
) -> None:
    """Consumer lag and pending acks, summed over this process's durable consumers' own counters."""
    durables = [durable for durable, _ in assignment.consumers()]
    while not stop.is_set():
        try:
            infos = [await js.consumer_info(events.USAGE_STREAM, durable) for durable in durables]
            metrics.lag.set(sum(info.num_pending or 0 for info in infos))
            metrics.unacked.set(sum(info.num_ack_pending or 0 for info in infos))
        except Exception:  # not created yet, or NATS reconnecting: keep the last values
            pass
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
