"""``python -m services.router``: the router gRPC service.

Serves the catalog (hot-reloaded from ``TOLLGATE_CATALOG``), keeps channel health from
the edges' ``ChannelOutcome`` reports, and tells edges when routing changed.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.router.catalog import CatalogError, load
from services.router.health import ChannelStateCollector, subscribe_outcomes
from services.router.reload import CatalogWatcher
from services.router.service import RouterService
from services.router.table import RoutingTable, nats_publisher, publish_changes
from tollgate import health, lifecycle
from tollgate.metrics import GrpcMetrics, serve_metrics
from tollgate.rpc import router_pb2, router_pb2_grpc
from tollgate.settings import Settings
from tollgate.telemetry import Log


async def main(stack: AsyncExitStack, settings: Settings, log: Log) -> None:
    path = Path(settings.catalog)
    try:
        catalog = load(path)
    except CatalogError as exc:
        raise SystemExit(f"router: {exc}") from None
    table = RoutingTable(catalog, log=log)
    nc = await lifecycle.nats_connection(stack, settings, "router")
    await subscribe_outcomes(nc, table, log)
    await lifecycle.background(stack, lambda stop: publish_changes(stop, table, nats_publisher(nc), log), "routing-notifier", grace=1.0)
    await lifecycle.background(stack, CatalogWatcher(path, table, log).run, "catalog-watcher", grace=1.0)
    registry = CollectorRegistry()
    registry.register(ChannelStateCollector(table))
    serve_metrics(registry, settings.router_metrics_port, settings.metrics_host)
    service = RouterService(table)
    readiness = health.Readiness()
    readiness.add("nats", health.nats_check(nc))
    grpc_health = health.GrpcHealth(readiness, [health.service_name(router_pb2, "Router")], log=log)
    await grpc_health.update()

    def register(server) -> None:
        router_pb2_grpc.add_RouterServicer_to_server(service, server)
        grpc_health.register(server)

    await lifecycle.grpc_server(stack, settings, settings.router_addr, register, [GrpcMetrics(registry)])
    await lifecycle.background(stack, grpc_health.run, "health-watch", grace=1.0)
    health.drain_first(stack, readiness, grpc_health)  # NOT_SERVING as soon as shutdown starts
    log.info("router listening", addr=settings.router_addr, models=len(catalog.models), channels=len(catalog.channels), catalog=str(path))


if __name__ == "__main__":
    lifecycle.run_service("router", main)
