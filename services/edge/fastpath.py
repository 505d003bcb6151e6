"""The hot endpoints without the framework: ``POST /v1/chat/completions`` and ``POST /v1/messages``
go from the ASGI server straight to ``proxy.chat``; every other request goes to the Litestar app.

Litestar gives the rest of the edge its routing, path parameters and exception handlers; on
these two paths it cost more than it gave (issue 14's profile: a Request, a Response and an
ASGIResponse object per request, and per stream an anyio task group with cancel scopes to
notice a client that went away). Here a request is a ``Request`` shim over the ASGI scope with
the few things the handlers read (headers, the body, the app's state); a whole answer is sent
as two ASGI messages; a stream's chunks are sent as they come while one task watches for the
client's disconnect and cancels the stream (so it is billed for what was delivered, as under
Litestar). Errors are rendered in the door's own shape by the same ``as_tollgate`` and
``Frontend.error_body`` the Litestar routes use, and the request goes through the same
``timing_middleware`` (request id, overhead header, metrics, tracing, the request's log line).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Litestar
from litestar.response import Stream

from services.edge import proxy
from services.edge.errors import RequestTooLarge, as_tollgate
from services.edge.frontends.base import Frontend
from services.edge.middleware import timing_middleware

MAX_BODY_BYTES = 32 * 1024 * 1024  # as the Litestar app's request_max_body_size
_JSON = (b"content-type", b"application/json")


class _State:
    __slots__ = ("state",)

    def __init__(self, state: Any):
        self.state = state


class Request:
    """What ``proxy.chat`` and the frontends read of a request, over the raw ASGI scope."""

    __slots__ = ("_body", "_headers", "_receive", "app", "scope")

    def __init__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]], app: Litestar):
        self.scope = scope
        self.app = _State(app.state)
        self._receive = receive
        self._headers: dict[str, str] | None = None
        self._body: bytes | None = None

    @property
    def headers(self) -> dict[str, str]:
        """Names lower-cased (as the server gives them); of a repeated header, the first."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for name, value in self.scope["headers"]:
                headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
            self._headers = headers
        return self._headers

    async def body(self) -> bytes:
        if self._body is None:
            length = self.headers.get("content-length", "")
            if length.isdigit() and int(length) > MAX_BODY_BYTES:
                raise RequestTooLarge("The request body is too large.", code="request_too_large")
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    raise asyncio.CancelledError  # the client is gone: nothing to answer
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise RequestTooLarge("The request body is too large.", code="request_too_large")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            self._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self._body


Handler = Callable[..., Awaitable[Any]]  # (Request, Frontend): proxy.chat, which reads a Litestar Request's subset


class FastRoutes:
    """The ASGI application the server runs: the hot routes here, the rest to ``app``."""

    def __init__(self, app: Litestar, routes: dict[str, Frontend], handler: Handler = proxy.chat):
        self.app = app
        self.state = app.state  # what the server reads of the app (transport_error_body)
        self._routes = routes
        self._handler = handler
        self._served = timing_middleware(self._serve)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self._routes:
            scope["litestar_app"] = self.app  # where the request metrics find the edge
            await self._served(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _serve(self, scope, receive, send) -> None:
        door = self._routes[scope["path"]]
        try:
            response = await self._handler(Request(scope, receive, self.app), door)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            err = as_tollgate(exc)
            headers = [_JSON, *((k.encode("latin-1"), v.encode("latin-1")) for k, v in err.headers.items())]
            await _send_whole(send, err.status, headers, msgspec.json.encode(door.error_body(err)))
            return
        headers = [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in response.headers.items()]
        if isinstance(response, Stream):
            headers.append((b"content-type", (response.media_type or "text/event-stream").encode()))
            await _send_stream(send, receive, response.status_code or 200, headers, response.iterator)
        else:
            headers.append(_JSON)
            await _send_whole(send, response.status_code or 200, headers, response.content)


async def _send_whole(send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_stream(send, receive, status: int, headers: list[tuple[bytes, bytes]], chunks) -> None:
    """Send ``chunks`` as they come (in a task of their own) while this task waits for the
    client's disconnect, which cancels the sending: the stream's ``finally`` meters what was
    delivered. A cancellation of this task (shutdown) cancels the sending too."""

    async def pump() -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    sending = asyncio.create_task(pump())
    listening: asyncio.Future[Any] | None = None
    try:
        while not sending.done():
            listening = asyncio.ensure_future(receive())
            await asyncio.wait((sending, listening), return_when=asyncio.FIRST_COMPLETED)
            if listening.done() and listening.result()["type"] == "http.disconnect" and not sending.done():
                sending.cancel()  # the client went away
                break
        with contextlib.suppress(asyncio.CancelledError):
            await sending
    finally:
        if not sending.done():
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
        if listening is not None and not listening.done():
            listening.cancel()
