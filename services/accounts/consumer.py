"""Debits balances from usage events (durable JetStream consumer ``accounts-ledger``).

Each event is applied as a ledger row with the unique reference ``usage:<request id>``
and acked afterwards, so a redelivered or re-published event never debits twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nats.js import JetStreamContext

from services.accounts.service import Notifier
from services.accounts.store import SqlStore, UsageDebit, now_ms
from tollgate import events, tracing
from tollgate.consume import ack_batch, pull_loop
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
        if tracer is None and await debit_batch(store, notifier, batch_, log, metrics):
            return
        by_msg: dict[int, tuple[Any, list[events.UsageEvent]]] = {}  # a batch message carries several events
        for msg, event in batch_:
            by_msg.setdefault(id(msg), (msg, []))[1].append(event)
        for msg, events_ in by_msg.values():
            results = []
            try:
                for event in events_:
                    results.append(await tracing.process(tracer, msg, DURABLE, debit(store, notifier, event, log)))  # its span, when traced
            except Exception as exc:  # redelivered whole: what was debited already is a duplicate then
                log.error("debit failed; will retry", request_id=events_[len(results)].request_id, error=type(exc).__name__)
                if metrics:
                    metrics.failures.inc()
                await msg.nak(delay=1.0)
                continue
            await msg.ack()
            if metrics:
                for result in results:
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
        linger_s=0.02,  # a batch gathers for 20 ms after its first message: one transaction for what came meanwhile
    )


async def watch_lag(stop: asyncio.Event, js: JetStreamContext, metrics: ConsumerMetrics, interval_s: float = 5.0) -> None:
    await watch_consumer(stop, js, events.USAGE_STREAM, DURABLE, metrics.lag, metrics.ack_pending, interval_s)


async def debit_batch(store: SqlStore, notifier: Notifier, batch: list, log: Log, metrics: ConsumerMetrics | None) -> bool:
    """Debit a whole batch of (message, event) in one transaction, tell the edges each
    (account, key)'s balance and spend once, then ack every message once. False when the
    transaction failed: nothing of it was applied, and the caller goes event by event (so one
    bad event is isolated and retried alone)."""
    paid = [(msg, e) for msg, e in batch if e.cost_micros > 0]
    debits = [UsageDebit(e.account_id, e.cost_micros, f"usage:{e.request_id}", e.occurred_at_ms, e.key_id, e.lease_id) for _, e in paid]
    try:
        results = await store.debit_usage(debits) if debits else []
    except Exception as exc:
        log.warning("batch debit failed; debiting event by event", events=len(debits), error=type(exc).__name__)
        return False
    latest: dict[tuple[str, str], events.BalanceChanged] = {}
    counts = {"free": len(batch) - len(paid), "debited": 0, "duplicate": 0, "unknown_account": 0}
    day, month = day_number(now_ms()), month_number(now_ms())
    for (_, event), result in zip(paid, results, strict=True):
        if result is None:
            log.error("usage event for unknown account", request_id=event.request_id, account_id=event.account_id)
            counts["unknown_account"] += 1
            continue
        applied, balance, spent_day, spent_month = result
        if not applied:
            log.info("duplicate usage event ignored", request_id=event.request_id)
            counts["duplicate"] += 1
            continue
        counts["debited"] += 1
        latest[event.account_id, event.key_id] = events.BalanceChanged(
            account_id=event.account_id,
            balance_micros=balance,
            key_id=event.key_id,
            key_spent_day_micros=spent_day,
            key_spent_month_micros=spent_month,
            day=day,
            month=month,
        )
    for notice in latest.values():
        await notifier.publish(events.BALANCE_CHANGED_SUBJECT, notice)
    await ack_batch([msg for msg, _ in batch])
    if metrics:
        for outcome, n in counts.items():
            if n:
                metrics.processed.labels(outcome).inc(n)
    return True


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
