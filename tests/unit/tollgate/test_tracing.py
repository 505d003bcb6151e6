"""tollgate.tracing: when tracing is on, what it exports at shutdown, and the gRPC
interceptors' parent/child links and status codes (in-process, a tracer of the test's own)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.e2e.otlp import Collector
from tollgate import tracing
from tools.stack import ROOT, free_ports


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, []),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "TRUE"}, []),
    ],
)
def test_tracing_is_on_only_when_asked_for(env, names):
    assert tracing.exporter_names(env) == names


def test_an_unsupported_exporter_or_protocol_stops_the_service():
    with pytest.raises(SystemExit, match="zipkin"):
        tracing.configure("edge", {"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(SystemExit, match="http/json"):
        tracing.configure("edge", {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})


def test_off_by_default_installs_nothing():
    assert tracing.configure("edge", {}) is None
    assert tracing.tracer() is None  # this process never installs a provider
    assert tracing.client_interceptors("127.0.0.1:1") == [] and tracing.server_interceptors() == []
    assert tracing.child_span("x") is None and tracing.start_send(None, "s", "id", {}) is None


SCRIPT = """
import asyncio, contextlib, os
from tollgate import tracing

async def main():
    async with contextlib.AsyncExitStack() as stack:
        provider = tracing.configure("edge")
        assert provider is not None and tracing.tracer() is not None
        tracing.shutdown_at_exit(stack)
        with tracing.tracer().start_as_current_span("work"):
            pass
    # the exit stack flushed the batch: nothing waits for the (one minute) schedule delay

asyncio.run(main())
os._exit(0)  # no atexit hooks: only the exit stack's shutdown can have exported the span
"""


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_are_flushed_when_the_service_stops(protocol):
    collector = Collector(protocol).start()
    try:
        env = {"PATH": "/usr/bin:/bin", **collector.env(schedule_delay_ms=60_000), "OTEL_SERVICE_NAME": "renamed"}
        subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT)], cwd=ROOT, env=env, check=True, timeout=60)
        spans = collector.spans
        assert [(s.service, s.name) for s in spans] == [("renamed", "work")]  # OTEL_SERVICE_NAME overrides tollgate-edge
    finally:
        collector.stop()


DOWN_SCRIPT = """
import asyncio, contextlib, os, sys, time
from tollgate import tracing

async def main():
    async with contextlib.AsyncExitStack() as stack:
        tracing.configure("edge")
        tracing.shutdown_at_exit(stack)
        for _ in range(3):
            with tracing.tracer().start_as_current_span("work"):
                pass
        began = time.monotonic()
    print(f"{time.monotonic() - began:.2f}", flush=True)

asyncio.run(main())
"""


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_shutdown_is_bounded_when_the_collector_is_down(protocol):
    """Nothing listens on the collector's port: the exporter retries with backoff (up to its
    10 s default timeout, the processor's shutdown waits 30 s), but the shutdown step must
    give up in a few seconds, well within the pods' grace periods."""
    [port] = free_ports(1)
    env = {
        "PATH": "/usr/bin:/bin",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_BSP_SCHEDULE_DELAY": "60000",
    }
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DOWN_SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    took = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.split()[-1]) < 4.5 and took < 20, (result.stdout, took)  # took: with interpreter start-up


class _Echo:
    """Two unary methods: ``Ok`` answers, ``Missing`` aborts with NOT_FOUND."""

    @staticmethod
    async def ok(request: bytes, context) -> bytes:
        return request

    @staticmethod
    async def missing(request: bytes, context) -> bytes:
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


async def test_grpc_interceptors_link_client_and_server_spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    server = grpc.aio.server(interceptors=[tracing.ServerInterceptor(tracer)])
    identity = dict(request_deserializer=None, response_serializer=None)
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "test.v1.Echo",
                {
                    "Ok": grpc.unary_unary_rpc_method_handler(_Echo.ok, **identity),
                    "Missing": grpc.unary_unary_rpc_method_handler(_Echo.missing, **identity),
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    target = f"127.0.0.1:{port}"
    try:
        async with grpc.aio.insecure_channel(target, interceptors=[tracing.ClientInterceptor(tracer, target)]) as channel:
            assert await channel.unary_unary("/test.v1.Echo/Ok")(b"hi") == b"hi"
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await channel.unary_unary("/test.v1.Echo/Missing")(b"hi")
            assert failed.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await server.stop(None)

    spans = {(s.kind, s.name): s for s in exporter.get_finished_spans()}
    assert set(spans) == {(k, f"test.v1.Echo/{m}") for k in (SpanKind.CLIENT, SpanKind.SERVER) for m in ("Ok", "Missing")}
    for method, code in (("Ok", 0), ("Missing", 5)):
        client, served = spans[SpanKind.CLIENT, f"test.v1.Echo/{method}"], spans[SpanKind.SERVER, f"test.v1.Echo/{method}"]
        assert served.context.trace_id == client.context.trace_id and served.parent.span_id == client.context.span_id
        assert client.attributes["rpc.grpc.status_code"] == served.attributes["rpc.grpc.status_code"] == code
        assert client.attributes["server.port"] == port and served.attributes["rpc.service"] == "test.v1.Echo"
        failed_ = StatusCode.ERROR if code else StatusCode.UNSET
        assert client.status.status_code == served.status.status_code == failed_


async def test_a_caller_that_gives_up_cancels_the_rpc_on_the_wire():
    """With tracing on the interceptor must not hold the call: when the caller's await is
    cancelled (here by asyncio.wait_for) the server must see the RPC cancelled at once, not
    run its handler to the end; the client span still ends, marked CANCELLED."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    seen: asyncio.Queue[tuple[str, float]] = asyncio.Queue()

    async def slow(request: bytes, context) -> bytes:
        started = time.monotonic()
        try:
            await asyncio.sleep(3)
        except asyncio.CancelledError:
            seen.put_nowait(("cancelled", time.monotonic() - started))
            raise
        seen.put_nowait(("finished" if not context.cancelled() else "cancelled", time.monotonic() - started))
        return request

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("test.v1.Slow", {"Sleep": grpc.unary_unary_rpc_method_handler(slow)})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    target = f"127.0.0.1:{port}"
    try:
        async with grpc.aio.insecure_channel(target, interceptors=[tracing.ClientInterceptor(tracer, target)]) as channel:
            began = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(channel.unary_unary("/test.v1.Slow/Sleep")(b"hi", timeout=30), 0.5)
            outcome, ran_s = await asyncio.wait_for(seen.get(), 5)
            assert outcome == "cancelled" and ran_s < 2 and time.monotonic() - began < 2.5, (outcome, ran_s)
            for _ in range(100):  # the span ends from the call's done callback
                if exporter.get_finished_spans():
                    break
                await asyncio.sleep(0.01)
    finally:
        await server.stop(None)
    [span] = exporter.get_finished_spans()
    assert span.kind == SpanKind.CLIENT and span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "CANCELLED" and span.attributes["rpc.grpc.status_code"] == 1


def test_a_span_ends_once_and_its_first_status_stands(caplog):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("test").start_span("work")
    tracing.end(span, error="CancelledError")
    tracing.end(span)  # e.g. a finally after an except that already ended it
    tracing.end(span, error="timeout")
    [ended] = exporter.get_finished_spans()
    assert ended.status.status_code == StatusCode.ERROR and ended.attributes["error.type"] == "CancelledError"
    assert not [r for r in caplog.records if "ended span" in r.getMessage()], caplog.text  # the SDK's warnings
