"""The hot routes without the framework (services.edge.fastpath): the request shim, whole and
streamed answers, errors in the door's own shape, a client that goes away mid-stream, and
everything else handed to the Litestar app."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from litestar import Litestar, Response, get
from litestar.response import Stream

from services.edge import fastpath
from services.edge.frontends import anthropic
from services.edge.frontends.openai import OpenAIFrontend
from tollgate.errors import RateLimited

OPENAI = OpenAIFrontend()


@get("/other")
async def other() -> dict:
    return {"served_by": "litestar"}


def scope(path: str, method: str = "POST", headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    return {"type": "http", "method": method, "path": path, "headers": headers or [], "query_string": b"", "raw_path": path.encode()}


class Client:
    """An ASGI client: what the server would deliver, and what the app sent back."""

    def __init__(self, chunks: list[bytes], disconnect_after: float | None = None):
        self.inbox = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
        self.disconnect_after = disconnect_after
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        if self.inbox:
            return self.inbox.pop(0)
        if self.disconnect_after is None:
            await asyncio.Event().wait()  # the client stays
        await asyncio.sleep(self.disconnect_after)
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return self.sent[0]["status"]

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def routes(handler) -> fastpath.FastRoutes:
    return fastpath.FastRoutes(Litestar([other]), {"/v1/chat/completions": OPENAI, "/v1/messages": anthropic.FRONTEND}, handler)


async def test_a_whole_answer_with_the_request_read_through_the_shim() -> None:
    seen = {}

    async def handler(request, door):
        seen.update(door=door, auth=request.headers["authorization"], body=await request.body(), again=await request.body())
        return Response(content=b'{"ok":true}', status_code=200, media_type="application/json", headers={"x-tollgate-channel": "c1"})

    client = Client([b'{"model":', b'"m"}'])
    hdrs = [(b"authorization", b"Bearer first"), (b"authorization", b"Bearer second")]
    await routes(handler)(scope("/v1/chat/completions", headers=hdrs), client.receive, client.send)
    assert seen == {"door": OPENAI, "auth": "Bearer first", "body": b'{"model":"m"}', "again": b'{"model":"m"}'}
    assert client.status == 200 and client.body == b'{"ok":true}'
    assert client.headers[b"content-length"] == b"11" and client.headers[b"x-tollgate-channel"] == b"c1"
    assert b"x-request-id" in client.headers and b"x-tollgate-overhead-ms" in client.headers  # timing_middleware ran


@pytest.mark.parametrize("path, shape", [("/v1/chat/completions", "openai"), ("/v1/messages", "anthropic")])
async def test_errors_come_in_the_doors_own_shape_with_their_headers(path: str, shape: str) -> None:
    async def handler(request, door):
        raise RateLimited("slow down", headers={"retry-after": "3"})

    client = Client([b"{}"])
    await routes(handler)(scope(path), client.receive, client.send)
    body = msgspec.json.decode(client.body)
    assert client.status == 429 and client.headers[b"retry-after"] == b"3"
    assert (body["type"] == "error") if shape == "anthropic" else (body["error"]["message"] == "slow down")


async def test_an_unexpected_error_is_a_500_without_its_text() -> None:
    async def handler(request, door):
        raise ValueError("prompt text that must not leak")

    client = Client([b"{}"])
    await routes(handler)(scope("/v1/chat/completions"), client.receive, client.send)
    assert client.status == 500 and b"prompt text" not in client.body and b'"error"' in client.body


async def test_a_body_over_the_limit_is_413(monkeypatch) -> None:
    monkeypatch.setattr(fastpath, "MAX_BODY_BYTES", 10)

    async def handler(request, door):
        await request.body()

    client = Client([b"x" * 6, b"y" * 6])
    await routes(handler)(scope("/v1/chat/completions"), client.receive, client.send)
    assert client.status == 413


async def test_a_stream_is_sent_as_it_comes_and_ended() -> None:
    async def chunks():
        for i in range(3):
            yield f"data: {i}\n\n".encode()

    async def handler(request, door):
        return Stream(chunks(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    client = Client([b"{}"])
    await routes(handler)(scope("/v1/chat/completions"), client.receive, client.send)
    assert client.status == 200 and client.headers[b"content-type"] == b"text/event-stream"
    assert client.body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n" and client.sent[-1]["more_body"] is False


async def test_a_client_that_goes_away_cancels_the_stream_and_its_finally_runs() -> None:
    ended = []

    async def chunks():
        try:
            for i in range(1000):
                yield f"data: {i}\n\n".encode()
                await asyncio.sleep(0.01)
        except BaseException as exc:
            ended.append(type(exc).__name__)
            raise
        finally:
            ended.append("finally")

    async def handler(request, door):
        await request.body()
        return Stream(chunks(), media_type="text/event-stream")

    client = Client([b"{}"], disconnect_after=0.05)
    await asyncio.wait_for(routes(handler)(scope("/v1/chat/completions"), client.receive, client.send), 5)
    assert ended == ["CancelledError", "finally"]
    assert 1 < len(client.sent) < 100 and client.sent[-1].get("more_body") is True  # cut short, never ended as complete


async def test_every_other_request_goes_to_the_litestar_app() -> None:
    async def handler(request, door):  # pragma: no cover - must not be called
        raise AssertionError("the fast path took a request that is not its own")

    for s in (scope("/other", method="GET"), scope("/v1/chat/completions", method="GET")):
        client = Client([b""])
        await routes(handler)(s, client.receive, client.send)
        assert client.status in (200, 404, 405)  # litestar answered (this app has no chat route)
        if client.status == 200:
            assert msgspec.json.decode(client.body) == {"served_by": "litestar"}
