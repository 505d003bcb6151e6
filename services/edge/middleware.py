"""ASGI middleware: request id and honest overhead on every response, errors included."""

from __future__ import annotations

from services.edge.context import SCOPE_KEY, RequestTimer


def timing_middleware(app):
    async def middleware(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        timer = RequestTimer()
        scope[SCOPE_KEY] = timer

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", timer.request_id.encode()))
                headers.append((b"x-tollgate-overhead-ms", f"{timer.overhead_ms():.2f}".encode()))
                present = {name.lower() for name, _ in headers}
                headers.extend((k.encode(), v.encode()) for k, v in timer.headers.items() if k.encode() not in present)
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
