"""ASGI middleware: request id and honest overhead on every response, errors included;
the request metrics once the response has ended (a stream: after its last byte); the
request's server span (when tracing is on) and ``request_id`` bound for every log line
of the request, ending with one ``request`` line (debug; warning for a 5xx)."""

from __future__ import annotations

import logging
import time

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from services.edge.context import SCOPE_KEY, RequestTimer
from tollgate import tracing
from tollgate.http_protocol import ARRIVED

log = structlog.get_logger(service="edge")
UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapes: no trace every few seconds


def timing_middleware(app):
    tracer = tracing.tracer()  # None: tracing is off, and no request does any tracing work

    async def middleware(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        timer = RequestTimer()
        timer.started = scope.get(ARRIVED, timer.started)  # from the first byte parsed, not from here
        scope[SCOPE_KEY] = timer
        sent = [500]  # the HTTP status, once the response starts; 500 if it never does

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                sent[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", timer.request_id.encode()))
                headers.append((b"x-tollgate-overhead-ms", f"{timer.overhead_ms():.2f}".encode()))
                present = {name.lower() for name, _ in headers}
                headers.extend((k.encode(), v.encode()) for k, v in timer.headers.items() if k.encode() not in present)
                message = {**message, "headers": headers}
            await send(message)

        bound = structlog.contextvars.bind_contextvars(request_id=timer.request_id)
        token = _start_span(tracer, scope, timer) if tracer is not None and scope["path"] not in UNTRACED else None
        try:
            await app(scope, receive, send_with_headers)
        finally:
            if timer.endpoint:
                _observe(scope, timer, sent[0])
            status = timer.status or sent[0]
            level = logging.WARNING if status >= 500 else logging.DEBUG
            if log.is_enabled_for(level):  # the line's fields are not even computed when it is filtered out
                log.log(
                    level,
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    endpoint=timer.endpoint,
                    model=timer.model,
                    duration_ms=timer.elapsed_ms(),
                    overhead_ms=round(timer.overhead_ms(), 2),
                )
            if token is not None:
                _end_span(timer, sent[0], token)
            structlog.contextvars.reset_contextvars(**bound)

    return middleware


def _start_span(tracer, scope, timer: RequestTimer):
    """The request's SERVER span, made current; a client's own ``traceparent`` becomes a link
    (a public door starts its own traces: callers do not steer sampling)."""
    traceparent = next((v for k, v in scope["headers"] if k == b"traceparent"), None)
    route = scope.get("path_template") or scope["path"]
    timer.span = tracer.start_span(
        f"{scope['method']} {route}",
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": scope["method"],
            "http.route": route,
            "url.path": scope["path"],
            "tollgate.request_id": timer.request_id,
        },
        links=tracing.link_from({"traceparent": traceparent.decode("latin-1")}) if traceparent else None,
    )
    return otel_context.attach(trace.set_span_in_context(timer.span))


def _end_span(timer: RequestTimer, http_status: int, token) -> None:
    otel_context.detach(token)
    span = timer.span
    status = timer.status or http_status
    span.set_attribute("http.response.status_code", http_status)
    if timer.endpoint:
        span.set_attributes({"tollgate.endpoint": timer.endpoint, "tollgate.model": timer.model, "tollgate.status": status})
    tracing.end(span, error=str(status) if status >= 500 else "")


def _observe(scope, timer: RequestTimer, http_status: int) -> None:
    edge = getattr(getattr(scope.get("litestar_app"), "state", None), "edge", None)
    metrics = getattr(edge, "metrics", None)
    if metrics is None:
        return
    seconds = time.perf_counter() - timer.started
    metrics.request(timer.endpoint, timer.model, timer.status or http_status, seconds, timer.overhead_ms() / 1000)
