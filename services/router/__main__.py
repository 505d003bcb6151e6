"""``python -m services.router``: the router gRPC service.

Serves the catalog (hot-reloaded from ``TOLLGATE_CATALOG``), keeps channel health from
the edges' ``ChannelOutcome`` reports, and tells edges when routing changed.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.router.catalog import CatalogError, load
from services.router.health import subscribe_outcomes
from services.router.reload import CatalogWatcher
from services.router.service import RouterService
from services.router.table import RoutingTable, nats_publisher, publish_changes
from tollgate import lifecycle
from tollgate.metrics import GrpcMetrics, serve_metrics
from tollgate.rpc import router_pb2_grpc
from tollgate.settings import Settings


async def main(stack: AsyncExitStack, settings: Settings, log) -> None:
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
    serve_metrics(registry, settings.router_metrics_port)
    service = RouterService(table)
    await lifecycle.grpc_server(
        stack, settings, settings.router_addr, lambda s: router_pb2_grpc.add_RouterServicer_to_server(service, s), [GrpcMetrics(registry)]
    )
    log.info("router listening", addr=settings.router_addr, models=len(catalog.models), channels=len(catalog.channels), catalog=str(path))


if __name__ == "__main__":
    lifecycle.run_service("router", main)
