"""A stand-in for the edge's upstream client (``services.edge.http_client.Client``) that
answers from a handler, as httpx's MockTransport did: ``handler(httpx.Request)`` returns an
``httpx.Response`` (or an awaitable of one), or raises (``http_client`` errors are what the
real client raises)."""

from __future__ import annotations

import inspect

import httpx

from services.edge.http_client import Timeouts


class HandlerClient:
    def __init__(self, handler, timeouts: Timeouts | None = None):
        self.handler = handler
        self.timeouts = timeouts or Timeouts(connect=10.0, read=300.0)
        self.sent: list[tuple[httpx.Request, Timeouts]] = []

    async def request(self, method: str, url: str, headers, body: bytes = b"", timeouts: Timeouts | None = None) -> Answer:
        request = httpx.Request(method, url, headers=headers, content=body)
        self.sent.append((request, timeouts or self.timeouts))
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return Answer(answer)

    async def aclose(self) -> None:
        pass


class Answer:
    """What the edge reads of a response: the real client's ``Response`` interface."""

    def __init__(self, response: httpx.Response):
        self.status_code = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items()}
        self._content = response.content
        self.closed = False

    async def aread(self) -> bytes:
        return self._content

    async def aiter_bytes(self):
        if self._content:
            yield self._content

    async def aclose(self) -> None:
        self.closed = True
