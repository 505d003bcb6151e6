"""Prometheus metrics shared by the services (one registry per process)."""

from __future__ import annotations

import time

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server


class GrpcMetrics(grpc.aio.ServerInterceptor):
    """Counts and times every gRPC call a server handles, by method and status."""

    def __init__(self, registry: CollectorRegistry):
        self.handled = Counter("tollgate_grpc_server_handled", "gRPC calls handled", ["method"], registry=registry)
        self.seconds = Histogram("tollgate_grpc_server_seconds", "gRPC handling time", ["method"], registry=registry)

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = details.method
        inner = handler.unary_unary

        async def timed(request, context):
            start = time.perf_counter()
            try:
                return await inner(request, context)
            finally:
                self.handled.labels(method).inc()
                self.seconds.labels(method).observe(time.perf_counter() - start)

        return grpc.unary_unary_rpc_method_handler(
            timed, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> None:
    """Expose ``/metrics`` on its own port (a daemon thread); port 0 disables it."""
    if port:
        start_http_server(port, addr=host, registry=registry)
