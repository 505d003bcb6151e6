"""``python -m services.metering``: usage ingestion into ClickHouse and the query API."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from services.metering.app import create_app
from services.metering.consumer import consume
from services.metering.store import UsageStore
from tollgate import bus, lifecycle
from tollgate.settings import Settings


async def main(stack: AsyncExitStack, settings: Settings, log) -> None:
    store = await asyncio.to_thread(UsageStore, settings.clickhouse)
    stack.callback(store.close)
    applied = await asyncio.to_thread(store.migrate)
    if applied:
        log.info("clickhouse migrations applied", migrations=applied)
    nc = await lifecycle.nats_connection(stack, settings, "metering")
    js = nc.jetstream()
    await bus.ensure_streams(js)
    await lifecycle.background(
        stack,
        lambda stop: consume(stop, js, store, log, batch=settings.metering_batch_size, wait_s=settings.metering_batch_wait_s),
        "usage-consumer",
    )
    await lifecycle.asgi_server(stack, create_app(store), settings.metering_host, settings.metering_port)
    log.info("metering listening", url=f"http://{settings.metering_host}:{settings.metering_port}", clickhouse=settings.clickhouse.split("://")[0])


if __name__ == "__main__":
    lifecycle.run_service("metering", main)
