"""Debits balances from usage events (durable JetStream consumer ``accounts-ledger``).

Each event is applied as a ledger row with the unique reference ``usage:<request id>``
and acked afterwards, so a redelivered or re-published event never debits twice.
"""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext

from services.accounts.service import Notifier
from services.accounts.store import SqlStore, now_ms
from tollgate import events, tracing
from tollgate.consume import pull_loop
from tollgate.metrics import ConsumerMetrics, watch_consumer
from tollgate.periods import day_number, month_number
from tollgate.telemetry import Log

DURABLE = "accounts-ledger"


def ledger_metrics(registry) -> ConsumerMetrics:
    """``tollgate_accounts_ledger_events_processed_total{result}`` (debited, duplicate, free,
    unknown_account), ``…_failures_total``, ``…_consumer_lag``, ``…_consumer_ack_pending``."""
    return ConsumerMetrics(registry, "tollgate_accounts_ledger", "ledger debit consumer")


async def consume(
    stop: asyncio.Event,
    js: JetStreamContext,
    store: SqlStore,
    notifier: Notifier,
    log: Log,
    batch: int = 256,
    metrics: ConsumerMetrics | None = None,
) -> None:
    tracer = tracing.tracer()

    async def handle(batch_: list) -> None:
        for msg, event in batch_:
            try:
                result = await tracing.process(tracer, msg, DURABLE, debit(store, notifier, event, log))  # its span, when traced
            except Exception as exc:
                log.error("debit failed; will retry", request_id=event.request_id, error=type(exc).__name__)
                if metrics:
                    metrics.failures.inc()
                await msg.nak(delay=1.0)
                continue
            await msg.ack()
            if metrics:
                metrics.processed.labels(result).inc()

    await pull_loop(
        stop,
        js,
        durable=DURABLE,
        subject=events.USAGE_SUBJECTS,
        stream=events.USAGE_STREAM,
        handle=handle,
        log=log,
        batch=batch,
        wait_s=1.0,
    )


async def watch_lag(stop: asyncio.Event, js: JetStreamContext, metrics: ConsumerMetrics, interval_s: float = 5.0) -> None:
    await watch_consumer(stop, js, events.USAGE_STREAM, DURABLE, metrics.lag, metrics.ack_pending, interval_s)


async def debit(store: SqlStore, notifier: Notifier, event: events.UsageEvent, log: Log) -> str:
    """Apply one event; returns what became of it: debited, duplicate, free or unknown_account."""
    if event.cost_micros <= 0:
        return "free"
    result = await store.apply(
        event.account_id,
        "usage",
        -event.cost_micros,
        f"usage:{event.request_id}",
        event.occurred_at_ms,
        key_id=event.key_id,
        lease_id=event.lease_id,
    )
    if result is None:
        log.error("usage event for unknown account", request_id=event.request_id, account_id=event.account_id)
        return "unknown_account"
    applied, balance = result
    if applied:
        now = now_ms()
        day, month = await store.key_spend(event.key_id, now)
        await notifier.balance_changed(
            event.account_id,
            balance,
            key_id=event.key_id,
            key_spent_day_micros=day,
            key_spent_month_micros=month,
            day=day_number(now),
            month=month_number(now),
        )
        return "debited"
    log.info("duplicate usage event ignored", request_id=event.request_id)
    return "duplicate"
