"""Debits balances from usage events: a durable JetStream pull consumer.

Each event is applied as a ledger row with the unique reference ``usage:<request id>``
and acked afterwards, so a redelivered or re-published event never debits twice.
"""

from __future__ import annotations

import asyncio

import msgspec
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from services.accounts.service import Notifier
from services.accounts.store import SqliteStore
from tollgate import events

DURABLE = "accounts-ledger"


async def consume(js: JetStreamContext, store: SqliteStore, notifier: Notifier, log, batch: int = 256) -> None:
    sub = await js.pull_subscribe(
        events.USAGE_SUBJECT,
        durable=DURABLE,
        stream=events.USAGE_STREAM,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_ack_pending=10_000),
    )
    decoder = events.DECODERS[events.USAGE_SUBJECT]
    while True:
        try:
            msgs = await sub.fetch(batch, timeout=1.0)
        except (NatsTimeout, asyncio.TimeoutError):
            continue
        except Exception as exc:  # NATS reconnecting: wait and fetch again
            log.warning("fetch failed", error=type(exc).__name__)
            await asyncio.sleep(0.5)
            continue
        for msg in msgs:
            try:
                event = decoder.decode(msg.data)
            except msgspec.DecodeError as exc:
                log.error("undecodable usage event dropped", error=str(exc))
                await msg.term()
                continue
            try:
                await debit(store, notifier, event, log)
            except Exception as exc:
                log.error("debit failed; will retry", request_id=event.request_id, error=type(exc).__name__)
                await msg.nak(delay=1.0)
                continue
            await msg.ack()


async def debit(store: SqliteStore, notifier: Notifier, event: events.UsageEvent, log) -> None:
    if event.cost_micros <= 0:
        return
    result = await store.apply(event.account_id, "usage", -event.cost_micros, f"usage:{event.request_id}")
    if result is None:
        log.error("usage event for unknown account", request_id=event.request_id, account_id=event.account_id)
        return
    applied, balance = result
    if applied:
        await notifier.balance_changed(event.account_id, balance)
    else:
        log.info("duplicate usage event ignored", request_id=event.request_id)
