"""OpenTelemetry tracing: set-up from the standard ``OTEL_*`` variables, gRPC interceptors
and trace context on NATS messages.

Off unless asked for: a process traces only when ``OTEL_TRACES_EXPORTER`` names an exporter
(``otlp`` or ``console``), or, with that variable unset, when an OTLP endpoint is configured
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``). The spec's
default exporter is ``otlp``; ours is none, so an unconfigured install never dials
localhost:4317. ``OTEL_SDK_DISABLED=true`` wins over everything. The OTLP protocol is
``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf``,
the default, or ``grpc``); endpoint, headers, timeout (ours defaults to 5 s), ``OTEL_BSP_*`` batching,
``OTEL_TRACES_SAMPLER`` and ``OTEL_PROPAGATORS`` are read by the SDK itself. The resource's
``service.name`` is ``tollgate-<service>`` unless ``OTEL_SERVICE_NAME`` (or ``service.name``
in ``OTEL_RESOURCE_ATTRIBUTES``) says otherwise.

When off, no SDK tracer provider is installed and every helper here answers ``None`` or
returns its input unchanged: callers check once (at construction) or test a span against
``None``, so the hot path does no tracing work at all.

Spans never carry request or response content: only ids, names, counts and status codes.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Link, Span, SpanKind, StatusCode

SCOPE = "tollgate"
T = TypeVar("T")
# OTel's proxy: it binds to the provider ``configure`` installs, once (``get_tracer`` per span costs ~10 µs).
_TRACER = trace.get_tracer(SCOPE)
DEFAULT_PROTOCOL = "http/protobuf"
# Bounds at shutdown (the pods' grace periods are 25-45 s, most of it the servers' drain):
FLUSH_S = 2.0  # the spans batched so far get this long to leave
STOP_S = 1.0  # then the processors and exporters this long to stop
# One export (its retries included) gives up after this unless OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT
# says otherwise (the SDK's default is 10 s): a collector that is down costs little, even at shutdown.
EXPORT_TIMEOUT_S = 5.0


# -- set-up -------------------------------------------------------------------------------
def exporter_names(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The span exporters the environment asks for ([] = tracing off)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    if not names:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return ["otlp"] if endpoint else []
    return [] if "none" in names else names


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()  # to stdout: for a look during development
    if name != "otlp":
        raise SystemExit(f"OTEL_TRACES_EXPORTER: unsupported exporter {name!r} (otlp, console or none)")
    protocol = (environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or DEFAULT_PROTOCOL).strip()
    configured = environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or environ.get("OTEL_EXPORTER_OTLP_TIMEOUT")
    timeout = None if configured else EXPORT_TIMEOUT_S  # None: the exporter reads the variable
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(timeout=timeout)
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter(timeout=timeout)
    raise SystemExit(f"OTEL_EXPORTER_OTLP_PROTOCOL: unsupported protocol {protocol!r} (grpc or http/protobuf)")


def configure(service: str, environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """Install a tracer provider with a batch processor per exporter, when the environment
    asks for tracing; the provider, or None when tracing is off."""
    names = exporter_names(environ)
    if not names:
        return None
    resource = Resource.create({SERVICE_NAME: f"tollgate-{service}"}).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name, environ)))
    trace.set_tracer_provider(provider)
    return provider


def tracer() -> trace.Tracer | None:
    """The process's tracer when tracing is on, else None (callers then skip all tracing)."""
    provider = trace.get_tracer_provider()
    return provider.get_tracer(SCOPE) if isinstance(provider, TracerProvider) else None


def shutdown(provider: TracerProvider, *, flush_s: float = FLUSH_S, stop_s: float = STOP_S) -> bool:
    """Flush the batched spans, then stop the processors and exporters, each step bounded:
    with the collector down the SDK would retry an export for its whole timeout and wait
    up to 30 s on the processor, past the pods' grace periods. A step that overruns is left
    to its (daemon) thread, which dies with the process; its spans are lost, as they would
    be anyway. True when everything was flushed and stopped in time."""
    flushed = _within(lambda: provider.force_flush(int(flush_s * 1000)), flush_s)
    stopped = _within(provider.shutdown, stop_s)
    return flushed is True and stopped is True


def _within(step: Callable[[], T], seconds: float) -> T | bool:
    """``step()``'s result (True for None), or False when it has not returned within ``seconds``."""
    done: list = []
    worker = threading.Thread(target=lambda: done.append(step()), name="tracing-shutdown", daemon=True)
    worker.start()
    worker.join(seconds)
    return (True if done[0] is None else done[0]) if done else False


def shutdown_at_exit(stack) -> None:
    """Register the provider's bounded shutdown (flush the batch, stop the exporters) on an
    exit stack. Registered first, it runs last: after servers and consumers have ended their spans."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        stack.callback(shutdown, provider)


def child_span(name: str, *, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping | None = None) -> Span | None:
    """A span under the current one if that one is being recorded, else None (no work)."""
    if not trace.get_current_span().is_recording():
        return None
    return _TRACER.start_span(name, kind=kind, attributes=attributes)


def link_from(carrier: Mapping[str, str]) -> list[Link]:
    """A link to the span context in ``carrier`` (e.g. a caller's ``traceparent``), if valid."""
    context = trace.get_current_span(propagate.extract(carrier)).get_span_context()
    return [Link(context)] if context.is_valid else []


def end(span: Span, *, error: str = "") -> None:
    """End ``span``, once; ``error`` (a code or a class name, never a message) marks it failed.
    A span already ended is left as it is (its first end's status stands)."""
    if not span.is_recording():  # already ended (or never recorded): ending it again would only warn
        return
    if error:
        span.set_attribute("error.type", error)
        span.set_status(StatusCode.ERROR)
    span.end()


# -- gRPC ---------------------------------------------------------------------------------
def _rpc_attributes(method: str) -> tuple[str, dict]:
    name = method.lstrip("/")
    service, _, rpc = name.rpartition("/")
    return name, {"rpc.system": "grpc", "rpc.service": service, "rpc.method": rpc}


class ClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """A CLIENT span per call, its context sent as W3C ``traceparent`` metadata."""

    def __init__(self, tracer_: trace.Tracer, target: str):
        self._tracer = tracer_
        host, _, port = target.rpartition(":")
        self._server: dict[str, str | int] = {"server.address": host or target}
        if port.isdigit():
            self._server["server.port"] = int(port)

    async def intercept_unary_unary(self, continuation, details, request):
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        name, attributes = _rpc_attributes(method)
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes={**attributes, **self._server})
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        try:
            call = await continuation(details._replace(metadata=tuple(details.metadata or ()) + tuple(carrier.items())), request)
        except BaseException as exc:
            end(span, error=exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else type(exc).__name__)
            raise
        # The span ends when the call does; the call goes back to the caller at once. Awaiting
        # its status here would hold the RPC inside this interceptor's task, and a caller that
        # gives up (cancellation, asyncio timeout) would cancel that task, not the RPC on the wire.
        call.add_done_callback(functools.partial(_end_rpc_span, span))
        return call


_ENDING: set[asyncio.Task] = set()  # the tasks reading a finished call's status (a strong reference each)


def _end_rpc_span(span: Span, call) -> None:
    """A done callback: end a CLIENT span with its call's status (a coroutine in grpc.aio,
    answered at once for a finished call, so read in a task)."""

    def finish(task: asyncio.Task) -> None:
        _ENDING.discard(task)
        if task.cancelled() or task.exception() is not None:
            code = grpc.StatusCode.CANCELLED if task.cancelled() else grpc.StatusCode.UNKNOWN
        else:
            code = task.result()
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        end(span, error="" if code == grpc.StatusCode.OK else code.name)

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop left (the process is going down): end it unknown
        end(span, error="unknown")
        return
    task = loop.create_task(call.code())
    _ENDING.add(task)
    task.add_done_callback(finish)


class ServerInterceptor(grpc.aio.ServerInterceptor):
    """A SERVER span per unary call, child of the caller's span when it sent one
    (health checks are not traced)."""

    def __init__(self, tracer_: trace.Tracer):
        self._tracer = tracer_

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None or details.method.startswith("/grpc."):
            return handler
        inner = handler.unary_unary
        name, attributes = _rpc_attributes(details.method)
        carrier = {m.key: m.value for m in details.invocation_metadata or () if m.key in ("traceparent", "tracestate")}
        tracer_ = self._tracer

        async def traced(request, context):
            parent = propagate.extract(carrier) if carrier else None
            with tracer_.start_as_current_span(
                name, context=parent, kind=SpanKind.SERVER, attributes=attributes, record_exception=False, set_status_on_exception=False
            ) as span:
                failed = False
                try:
                    return await inner(request, context)
                except BaseException:
                    failed = True
                    raise
                finally:
                    code = context.code() or (grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK)
                    if isinstance(code, int):
                        code = next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
                    span.set_attribute("rpc.grpc.status_code", code.value[0])
                    if code != grpc.StatusCode.OK:
                        span.set_attribute("error.type", code.name)
                        span.set_status(StatusCode.ERROR)

        return grpc.unary_unary_rpc_method_handler(
            traced, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )


def client_interceptors(target: str) -> list:
    """Interceptors for a ``grpc.aio`` channel to ``target`` ([] when tracing is off)."""
    t = tracer()
    return [ClientInterceptor(t, target)] if t is not None else []


def server_interceptors() -> list:
    t = tracer()
    return [ServerInterceptor(t)] if t is not None else []


# -- NATS ---------------------------------------------------------------------------------
def _messaging(subject: str, message_id: str) -> dict[str, Any]:
    return {"messaging.system": "nats", "messaging.destination.name": subject, "messaging.message.id": message_id}


def start_send(parent: Span | None, subject: str, message_id: str, headers: dict[str, str]) -> Span | None:
    """A PRODUCER span under ``parent`` (when it is recorded), its context written into
    ``headers``: the consumers' spans join the request's trace through it."""
    if parent is None or not parent.is_recording():
        return None
    span = _TRACER.start_span(
        f"send {subject}", context=trace.set_span_in_context(parent), kind=SpanKind.PRODUCER, attributes=_messaging(subject, message_id)
    )
    propagate.inject(headers, context=trace.set_span_in_context(span))
    return span


def start_process(tracer_: trace.Tracer, msg, consumer: str, **attributes) -> Span | None:
    """A CONSUMER span for a message that carries trace context, child of the producer's span
    (None for messages without it: untraced traffic adds no root spans)."""
    headers = msg.headers
    if not headers or "traceparent" not in headers:
        return None
    return tracer_.start_span(
        f"process {msg.subject}",
        context=propagate.extract(headers),
        kind=SpanKind.CONSUMER,
        attributes={**_messaging(msg.subject, headers.get("Nats-Msg-Id", "")), "messaging.consumer.group.name": consumer, **attributes},
    )


async def process(tracer_: trace.Tracer | None, msg, consumer: str, work: Awaitable[T]) -> T:
    """Await ``work`` (one message's handling) inside its CONSUMER span, so logs and calls
    made meanwhile belong to the message's trace."""
    span = start_process(tracer_, msg, consumer) if tracer_ is not None else None
    if span is None:
        return await work
    token = otel_context.attach(trace.set_span_in_context(span))
    error = ""
    try:
        return await work
    except BaseException as exc:
        error = type(exc).__name__
        raise
    finally:
        otel_context.detach(token)
        end(span, error=error)


def per_message(
    tracer_: trace.Tracer | None, consumer: str, handle: Callable[[list[Any]], Coroutine[Any, Any, None]]
) -> Callable[[list[Any]], Coroutine[Any, Any, None]]:
    """Wrap a batch handler of ``(msg, event)`` pairs: each traced message gets a CONSUMER span
    covering its batch's handling (a batch is one write: its messages share the timing)."""
    if tracer_ is None:
        return handle

    async def traced(batch: list[Any]) -> None:
        spans = [s for msg, _ in batch if (s := start_process(tracer_, msg, consumer, **{"messaging.batch.message_count": len(batch)}))]
        error = ""
        try:
            await handle(batch)
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            for span in spans:
                end(span, error=error)

    return traced
