"""``python -m services.metering``: usage ingestion into ClickHouse and the query API."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from prometheus_client import CollectorRegistry

from services.metering import dashboard
from services.metering.accounts_api import AccountsApi
from services.metering.app import create_app
from services.metering.auth import Authorizer
from services.metering.console import billing as console_billing
from services.metering.console import channels as console_channels
from services.metering.console import playground as console_playground
from services.metering.console.budgets import BudgetsApi
from services.metering.console.identity import IdentityConsole
from services.metering.console.risk import RiskApi
from services.metering.consumer import IngestMetrics, consume, watch_lag
from services.metering.sessions import SessionResolver
from services.metering.shards import Assignment
from services.metering.store import UsageStore
from tollgate import bus, credentials, events, health, lifecycle, notices
from tollgate.metrics import serve_metrics
from tollgate.rpc import accounts_pb2_grpc, identity_pb2_grpc
from tollgate.settings import Settings
from tollgate.telemetry import Log


async def main(stack: AsyncExitStack, settings: Settings, log: Log) -> None:
    assignment = Assignment.from_settings(settings)
    store = await asyncio.to_thread(UsageStore, settings.clickhouse, assignment)
    stack.callback(store.close)
    if assignment.replica == 0 or settings.clickhouse.startswith("chdb:"):  # on a server one replica changes the schema
        # and the others wait for it; an embedded chDB path belongs to one process
        applied = await asyncio.to_thread(store.migrate)
        if applied:
            log.info("clickhouse migrations applied", migrations=applied)
        await asyncio.to_thread(store.set_raw_ttl, settings.metering_raw_ttl_days)
    else:
        while waiting := await asyncio.to_thread(store.unapplied):
            log.info("waiting for metering replica 0 to apply clickhouse migrations", migrations=waiting)
            await asyncio.sleep(2.0)
    await asyncio.to_thread(store.load_sketch_cut)
    log.info("usage shards", writer=assignment.writer, shards=assignment.owned, of=assignment.shards, unsharded=assignment.replica == 0)
    nc = await lifecycle.nats_connection(stack, settings, "metering")
    js = nc.jetstream()
    await bus.ensure_streams(js, settings.nats_stream_replicas, settings.nats_usage_max_bytes)
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    serve_metrics(registry, settings.metering_metrics_port, settings.metrics_host)
    accounts = credentials.aio_channel(settings.accounts_addr, settings.admin_credential)
    stack.push_async_callback(accounts.close)
    sessions = SessionResolver(identity_pb2_grpc.IdentityStub(accounts), web_rpm=settings.web_rpm_limit)  # console cookies
    auth = Authorizer(
        settings.admin_credential, accounts_pb2_grpc.AccountsStub(accounts), pepper=settings.key_hash_pepper, sessions=sessions
    )
    control = notices.NoticeFeed(
        {events.KEY_REVOKED_SUBJECT: auth.on_key_changed, events.KEY_UPDATED_SUBJECT: auth.on_key_changed}, on_gap=auth.forget_all, log=log
    )
    await control.start(nc)  # a revoked key is refused at once, also after a NATS outage
    stack.push_async_callback(control.close)
    await lifecycle.background(
        stack,
        lambda stop: consume(
            stop, js, store, log, batch=settings.metering_batch_size, wait_s=settings.metering_batch_wait_s, metrics=metrics
        ),
        "usage-consumer",
    )
    await lifecycle.background(stack, lambda stop: watch_lag(stop, js, metrics, assignment), "lag-watch")
    accounts_api = AccountsApi(
        settings.accounts_addr, sessions=sessions
    )  # the dashboard's keys/ledger calls, with the caller's own credential
    stack.push_async_callback(accounts_api.close)
    risk_api = RiskApi(settings.accounts_addr, auth=auth, admin_credential=settings.admin_credential)  # console: risk control, tickets
    stack.push_async_callback(risk_api.close)
    budgets_api = BudgetsApi(  # console: budgets and pricing groups (issue 17)
        settings.accounts_addr, settings.router_addr, auth=auth, admin_credential=settings.admin_credential
    )
    stack.push_async_callback(budgets_api.close)
    readiness = health.Readiness(timeout_s=2.0)  # under the probes' 3 s; a busy store answers at once (UsageStore.ping)
    readiness.add("nats", health.nats_check(nc), required=False)  # the API serves from ClickHouse; ingestion resumes when NATS is back
    readiness.add("clickhouse", health.thread_check(store.ping))
    billing = console_billing.from_settings(settings, auth)  # the console's Billing endpoints and the payment webhook
    stack.push_async_callback(billing.close)
    playground = console_playground.from_settings(settings, auth)  # chat through the edge with the account's console key
    stack.push_async_callback(playground.close)
    channels = console_channels.from_settings(settings, auth, playground)  # the admin's channel health, enable/disable, test
    stack.push_async_callback(channels.close)
    routes = [*accounts_api.handlers(), *dashboard.routes(), *health.http_routes(readiness, registry)]
    routes += [*billing.handlers(), *playground.handlers(), *channels.handlers()]
    identity_console = IdentityConsole(settings, sessions)  # register, sign in, members & roles (/console/api/identity)
    stack.push_async_callback(identity_console.close)
    routes += identity_console.handlers()
    routes += budgets_api.handlers()
    routes += risk_api.handlers()
    app = create_app(store, auth, extra_routes=routes, ledger_debits=auth.ledger_debits)
    await lifecycle.asgi_server(stack, app, settings.metering_host, settings.metering_port, settings.http_shutdown_grace_s)
    health.drain_first(stack, readiness)  # /readyz answers 503 as soon as shutdown starts
    log.info(
        "metering listening",
        url=f"http://{settings.metering_host}:{settings.metering_port}",
        clickhouse=settings.clickhouse.split("://")[0],
    )


if __name__ == "__main__":
    lifecycle.run_service("metering", main)
