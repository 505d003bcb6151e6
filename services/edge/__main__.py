"""``python -m services.edge``: the public HTTP API."""

from __future__ import annotations

import asyncio
import sys
from contextlib import AsyncExitStack

import grpc
from prometheus_client import CollectorRegistry

from services.edge import http_client, workers
from services.edge.app import create_server_app
from services.edge.auth import Authenticator
from services.edge.context import Edge
from services.edge.leases import LeaseBook
from services.edge.metrics import EdgeMetrics
from services.edge.publisher import OutcomeReporter, UsagePublisher
from services.edge.ratelimit import RateLimiter
from services.edge.routes import RouteTable
from services.edge.signals import AuthFailureReporter
from services.edge.spool import Spool
from tollgate import bus, credentials, events, health, lifecycle, notices, telemetry, tracing
from tollgate.metrics import serve_metrics
from tollgate.rpc import accounts_pb2_grpc, router_pb2_grpc
from tollgate.settings import Settings
from tollgate.telemetry import Log


async def main(stack: AsyncExitStack, settings: Settings, log: Log) -> None:
    # NATS connects in the background: the edge starts and serves without it (usage events wait
    # in the spool). ``on_nats`` is looked up when NATS answers, after this coroutine's first await.
    nc = lifecycle.nats_in_background(stack, settings, "edge", lambda nc: on_nats(nc), log)
    spool = Spool(settings.edge_spool_path(), max_bytes=settings.edge_spool_max_bytes)
    if left := spool.open():
        log.warning("usage events left by an earlier edge process will be published", count=left, spool=str(spool.dir))
    publisher = UsagePublisher(
        None, log, maxsize=settings.publish_queue_max, spool=spool, fsync_s=settings.edge_spool_fsync_s, shards=settings.usage_shards
    )
    publisher.start()  # before NATS answers: events wait in the spool
    stack.push_async_callback(publisher.close)
    outcomes = OutcomeReporter(nc, log)
    outcomes.start()
    stack.push_async_callback(outcomes.close)
    auth_failures = AuthFailureReporter(nc, log)  # refused credentials, for the risk engine's rules
    auth_failures.start()
    stack.push_async_callback(auth_failures.close)
    limiter = RateLimiter(nc, log)
    limiter.start()
    stack.push_async_callback(limiter.close)

    accounts = credentials.aio_channel(settings.accounts_addr, settings.admin_credential)
    router = grpc.aio.insecure_channel(settings.router_addr, interceptors=tracing.client_interceptors(settings.router_addr))
    stack.push_async_callback(accounts.close)
    stack.push_async_callback(router.close)
    accounts_stub = accounts_pb2_grpc.AccountsStub(accounts)
    leases = LeaseBook(accounts_stub, log, holder=limiter.edge_id, slice_micros=settings.lease_slice_micros, idle_s=settings.lease_idle_s)
    leases.start()
    stack.push_async_callback(leases.close)  # returns what this edge did not spend, before the channel closes
    auth = Authenticator(
        accounts_stub,
        ttl=settings.principal_cache_ttl_s,
        negative_ttl=settings.negative_cache_ttl_s,
        maxsize=settings.cache_max_entries,
        pepper=settings.key_hash_pepper,
    )
    auth.on_failure = auth_failures.report
    routes = RouteTable(router_pb2_grpc.RouterStub(router), ttl=settings.route_cache_ttl_s, maxsize=settings.cache_max_entries)

    # Revocations, key changes, suspensions: from the CONTROL stream, caught up after an outage
    # (tollgate/notices.py). The rest are hints on core NATS.
    control = notices.NoticeFeed(
        {
            events.KEY_REVOKED_SUBJECT: auth.on_key_changed,
            events.KEY_UPDATED_SUBJECT: auth.on_key_changed,
            events.ACCOUNT_STATUS_SUBJECT: auth.on_account_status,
        },
        on_gap=auth.forget_all,
        log=log,
    )
    stack.push_async_callback(control.close)
    handlers = {
        events.BALANCE_CHANGED_SUBJECT: auth.on_balance_changed,
        events.ROUTING_CHANGED_SUBJECT: routes.on_routing_changed,
        events.RATE_COUNTS_SUBJECT: limiter.on_counts,
    }

    async def on_nats(nc) -> None:
        """Once NATS first answers (the edge serves before that, from accounts and router)."""
        for subject, handler in handlers.items():
            await nc.subscribe(subject, cb=_invalidation(subject, handler, log))
        await control.start(nc)
        js = nc.jetstream()
        await _ensure_streams(js, settings, log)
        publisher.attach(js)

    client = http_client.Client(
        http_client.Timeouts(
            connect=settings.upstream_connect_timeout_s, read=settings.upstream_read_timeout_s, idle=settings.upstream_idle_timeout_s
        ),
        max_connections=settings.upstream_max_connections,  # per upstream origin
    )
    stack.push_async_callback(client.aclose)

    metrics = EdgeMetrics(CollectorRegistry())
    serve_metrics(metrics.registry, settings.edge_worker_metrics_port, settings.metrics_host)  # else /metrics is on the API port
    metrics.watch_publisher(publisher, outcomes)
    readiness = health.Readiness()
    readiness.add("usage_spool", spool_check(spool))
    readiness.add("nats", health.nats_check(nc), required=False)  # not needed to serve: usage waits in the spool
    readiness.add("accounts", health.grpc_channel_check(accounts, cached=lambda: auth.cached > 0))
    readiness.add("router", health.grpc_channel_check(router, cached=lambda: routes.cached > 0))
    edge = Edge(
        settings=settings,
        auth=auth,
        routes=routes,
        client=client,
        publisher=publisher,
        outcomes=outcomes,
        limiter=limiter,
        leases=leases,
        metrics=metrics,
        readiness=readiness,
    )
    await lifecycle.asgi_server(
        stack,
        create_server_app(edge),
        settings.edge_host,
        settings.edge_port,
        settings.http_shutdown_grace_s,
        reuse_port=settings.edge_worker > 0,
    )
    health.drain_first(stack, readiness)  # /readyz answers 503 as soon as shutdown starts
    log.info("edge listening", url=f"http://{settings.edge_host}:{settings.edge_port}/v1")


async def _ensure_streams(js, settings: Settings, log: Log) -> None:
    """Create or update the streams, retrying while JetStream is not ready (a fresh or
    recovering server answers before its JetStream does)."""
    delay = 0.2
    while True:
        try:
            await bus.ensure_streams(js, settings.nats_stream_replicas, settings.nats_usage_max_bytes)
            return
        except Exception as exc:
            log.warning("jetstream streams not set up yet; retrying", error=type(exc).__name__, retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def spool_check(spool: Spool) -> health.Check:
    """Ready while the usage spool can take events (a full spool: new requests get 503)."""

    async def check() -> str:
        if spool.full:
            raise health.NotReady(f"usage spool full ({spool.bytes} bytes)")
        return f"{spool.unacked} events waiting"

    return check


def _invalidation(subject: str, handler, log: Log):
    decoder = events.DECODERS[subject]

    async def on_message(msg) -> None:
        try:
            handler(decoder.decode(msg.data))
        except Exception as exc:
            log.warning("bad invalidation message", subject=subject, error=type(exc).__name__)

    return on_message


def run() -> None:
    settings = Settings.from_env()
    if settings.edge_workers > 1 and not settings.edge_worker:  # the supervisor of N edge processes on one port
        sys.exit(workers.supervise(settings, telemetry.setup_telemetry("edge-supervisor", settings.log_level, settings.log_format)))
    lifecycle.run_service("edge", main, settings)


if __name__ == "__main__":
    run()
