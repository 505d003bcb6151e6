"""ASGI middleware: request id and honest overhead on every response, errors included;
the request metrics once the response has ended (a stream: after its last byte)."""

from __future__ import annotations

import time

from services.edge.context import SCOPE_KEY, RequestTimer


def timing_middleware(app):
    async def middleware(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        timer = RequestTimer()
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

        try:
            await app(scope, receive, send_with_headers)
        finally:
            if timer.endpoint:
                _observe(scope, timer, sent[0])

    return middleware


def _observe(scope, timer: RequestTimer, http_status: int) -> None:
    edge = getattr(getattr(scope.get("litestar_app"), "state", None), "edge", None)
    metrics = getattr(edge, "metrics", None)
    if metrics is None:
        return
    seconds = time.perf_counter() - timer.started
    metrics.request(timer.endpoint, timer.model, timer.status or http_status, seconds, timer.overhead_ms() / 1000)
