"""``python -m services.router``: the router gRPC service."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.router.catalog import CatalogError, load
from services.router.service import RouterService
from tollgate import lifecycle
from tollgate.metrics import GrpcMetrics, serve_metrics
from tollgate.rpc import router_pb2_grpc
from tollgate.settings import Settings


async def main(stack: AsyncExitStack, settings: Settings, log) -> None:
    try:
        catalog = load(Path(settings.catalog))
    except CatalogError as exc:
        raise SystemExit(f"router: {exc}") from None
    registry = CollectorRegistry()
    serve_metrics(registry, settings.router_metrics_port)
    service = RouterService(catalog)
    await lifecycle.grpc_server(
        stack, settings, settings.router_addr, lambda s: router_pb2_grpc.add_RouterServicer_to_server(service, s), [GrpcMetrics(registry)]
    )
    log.info("router listening", addr=settings.router_addr, models=len(catalog.models), channels=len(catalog.channels))


if __name__ == "__main__":
    lifecycle.run_service("router", main)
