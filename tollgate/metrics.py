"""Prometheus metrics shared by the services (one registry per process, made in its ``main``)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class GrpcMetrics(grpc.aio.ServerInterceptor):
    """Counts and times every gRPC call a server handles, by method and status code.

    Every handler kind is wrapped (unary or streaming on either side, async-generator or
    ``context.write`` style); a method the server does not have (no handler) is left to
    gRPC's UNIMPLEMENTED and not counted, so ``method`` only takes the server's own names."""

    def __init__(self, registry: CollectorRegistry):
        self.handled = Counter("tollgate_grpc_server_handled", "gRPC calls handled", ["method", "code"], registry=registry)
        self.seconds = Histogram(
            "tollgate_grpc_server_seconds", "gRPC handling time (a stream: until it ends)", ["method"], registry=registry
        )

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None:
            return handler
        method = details.method
        for kind, factory in _KINDS.items():
            inner = getattr(handler, kind)
            if inner is not None:
                return factory(
                    self._wrap(inner, method),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
        return handler

    def _wrap(self, inner, method: str):
        if inspect.isasyncgenfunction(inner):

            async def streamed(request, context):
                start = time.perf_counter()
                code = "UNKNOWN"
                try:
                    async for item in inner(request, context):
                        yield item
                    code = _code(context)
                except BaseException as exc:
                    code = _failure_code(exc, context)
                    raise
                finally:
                    self._observe(method, code, start)

            return streamed

        async def called(request, context):
            start = time.perf_counter()
            code = "UNKNOWN"
            try:
                result = await inner(request, context)
                code = _code(context)
                return result
            except BaseException as exc:
                code = _failure_code(exc, context)
                raise
            finally:
                self._observe(method, code, start)

        return called

    def _observe(self, method: str, code: str, start: float) -> None:
        self.handled.labels(method, code).inc()
        self.seconds.labels(method).observe(time.perf_counter() - start)


_KINDS = {
    "unary_unary": grpc.unary_unary_rpc_method_handler,
    "unary_stream": grpc.unary_stream_rpc_method_handler,
    "stream_unary": grpc.stream_unary_rpc_method_handler,
    "stream_stream": grpc.stream_stream_rpc_method_handler,
}


def _code(context) -> str:
    """The status the handler set (``set_code`` / ``abort``), OK when it set none."""
    code = context.code()
    if code is None:
        return "OK"
    if isinstance(code, grpc.StatusCode):
        return code.name
    return next((c.name for c in grpc.StatusCode if c.value[0] == code), "UNKNOWN")


def _failure_code(exc: BaseException, context) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return "CANCELLED"
    code = _code(context)
    return "UNKNOWN" if code == "OK" else code  # aborted: the code it aborted with


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> None:
    """Expose ``/metrics`` on its own port (a daemon thread); port 0 disables it."""
    if port:
        start_http_server(port, addr=host, registry=registry)


class ConsumerMetrics:
    """A durable JetStream consumer's progress: events by result, failures, lag and pending acks.

    Series ``<prefix>_events_processed_total{result}``, ``<prefix>_failures_total``,
    ``<prefix>_consumer_lag`` and ``<prefix>_consumer_ack_pending``."""

    def __init__(self, registry: CollectorRegistry, prefix: str, what: str):
        self.processed = Counter(f"{prefix}_events_processed", f"{what}: events handled, by result", ["result"], registry=registry)
        self.failures = Counter(f"{prefix}_failures", f"{what}: events whose handling failed (redelivered)", registry=registry)
        self.lag = Gauge(f"{prefix}_consumer_lag", f"{what}: events in the stream not yet delivered to the consumer", registry=registry)
        self.ack_pending = Gauge(f"{prefix}_consumer_ack_pending", f"{what}: events delivered but not yet acked", registry=registry)


async def watch_consumer(
    stop: asyncio.Event, js, stream: str, durable: str, lag: Gauge, ack_pending: Gauge, interval_s: float = 5.0
) -> None:
    """Copy a durable consumer's own counters (pending = lag, ack pending) into gauges every ``interval_s``."""
    while not stop.is_set():
        try:
            info = await js.consumer_info(stream, durable)
            lag.set(info.num_pending or 0)
            ack_pending.set(info.num_ack_pending or 0)
        except Exception:  # not created yet, or NATS reconnecting: keep the last values
            pass
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
