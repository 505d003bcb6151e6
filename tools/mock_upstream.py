"""A mock OpenAI upstream for ``make bench``: a raw asyncio protocol (no framework), so it
is never the bottleneck of a gateway benchmark.

``POST …/chat/completions`` answers a fixed completion of ``--words`` words with a correct
``usage`` (prompt tokens = words in the messages' text, completion tokens = the words sent):
a JSON body with ``Content-Length``, or with ``"stream": true`` an SSE stream (chunked
transfer encoding) of a role event, one event per word, a finish event, a usage event when
``stream_options.include_usage`` is set (as OpenAI sends it), then ``data: [DONE]``. The
whole stream is written at once unless ``--gap-ms`` spaces the events. ``GET /v1/models``
and ``GET /healthz`` answer too; anything else is a 404. HTTP/1.1 keep-alive, pipelining,
``Content-Length`` and chunked request bodies, ``Expect: 100-continue``, ``Connection:
close``. Any bearer token is accepted; the model is echoed back.

``python -m tools.mock_upstream --port 18098`` (uvloop when installed).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import msgspec

MAX_HEAD = 64 * 1024
MAX_BODY = 8 * 1024 * 1024
REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Payload Too Large",
    501: b"Not Implemented",
}


class Completion:
    """What every chat completion answers: ``words`` words, one stream event each."""

    def __init__(self, words: int = 24, gap_ms: float = 0.0):
        self.words = [f"w{i}" for i in range(words)]
        self.text = " ".join(self.words)
        self.gap_s = gap_ms / 1000
        self.count = 0

    def body(self, model: str, prompt_tokens: int) -> bytes:
        self.count += 1
        return msgspec.json.encode(
            {
                "id": f"chatcmpl-mock{self.count}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": self.text}, "finish_reason": "stop"}],
                "usage": self.usage(prompt_tokens),
            }
        )

    def usage(self, prompt_tokens: int) -> dict[str, Any]:
        return {"prompt_tokens": prompt_tokens, "completion_tokens": len(self.words), "total_tokens": prompt_tokens + len(self.words)}

    def events(self, model: str, prompt_tokens: int, include_usage: bool) -> list[bytes]:
        """The SSE events of one stream, each a ``data: …\\n\\n`` frame."""
        self.count += 1
        head = b'{"id":"chatcmpl-mock%d","object":"chat.completion.chunk","created":%d,"model":%s' % (
            self.count,
            int(time.time()),
            msgspec.json.encode(model),
        )
        tail = b',"usage":null}' if include_usage else b"}"

        def event(choice: dict[str, Any]) -> bytes:
            return b"data: " + head + b',"choices":[' + msgspec.json.encode(choice) + b"]" + tail + b"\n\n"

        out = [event({"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None})]
        for i, word in enumerate(self.words):
            out.append(event({"index": 0, "delta": {"content": word if i == 0 else " " + word}, "finish_reason": None}))
        out.append(event({"index": 0, "delta": {}, "finish_reason": "stop"}))
        if include_usage:
            out.append(b"data: " + head + b',"choices":[],"usage":' + msgspec.json.encode(self.usage(prompt_tokens)) + b"}\n\n")
        out.append(b"data: [DONE]\n\n")
        return out


def prompt_tokens(messages: object) -> int:
    """Words in the messages' text (string contents and text parts)."""
    total = 0
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content.split())
        elif isinstance(content, list):
            total += sum(len(str(p.get("text", "")).split()) for p in content if isinstance(p, dict))
    return total


def response(status: int, body: bytes, content_type: bytes = b"application/json", close: bool = False) -> bytes:
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b"Error")),
            b"content-type: " + content_type + b"\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n" if close else b"",
            b"\r\n",
            body,
        )
    )


def error(status: int, message: str, close: bool = False) -> bytes:
    body = msgspec.json.encode({"error": {"message": message, "type": "invalid_request_error", "code": None}})
    return response(status, body, close=close)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
MODELS = msgspec.json.encode({"object": "list", "data": [{"id": "mock-1", "object": "model", "created": 0, "owned_by": "mock"}]})


class Request(msgspec.Struct):
    method: bytes
    path: bytes
    body: bytes
    close: bool


CONTINUE = 100  # parse(): the head is in, the body is not, and the client waits for "100 Continue"


def parse(buffer: bytearray) -> Request | int | None:
    """One request off the front of ``buffer`` (consumed), ``None`` when incomplete (or
    ``CONTINUE`` when the client asked ``Expect: 100-continue``), or an HTTP status when it
    cannot be parsed (the connection is then closed)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return 431 if len(buffer) > MAX_HEAD else None
    lines = bytes(buffer[:end]).split(b"\r\n")
    try:
        method, path, version = lines[0].split(b" ")
    except ValueError:
        return 400
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            return 400
        headers[name.strip().lower()] = value.strip().lower()
    connection = headers.get(b"connection", b"")
    close = connection == b"close" or (version == b"HTTP/1.0" and connection != b"keep-alive")
    start = end + 4
    pending = CONTINUE if headers.get(b"expect") == b"100-continue" and len(buffer) == start else None
    if b"chunked" in headers.get(b"transfer-encoding", b""):
        body, consumed = _dechunk(buffer, start)
        if body is None:
            return consumed or pending
        del buffer[:consumed]
        return Request(method, path, body, close)
    try:
        length = int(headers.get(b"content-length", b"0"))
    except ValueError:
        return 400
    if length > MAX_BODY or length < 0:
        return 413
    if len(buffer) < start + length:
        return pending
    body = bytes(buffer[start : start + length])
    del buffer[: start + length]
    return Request(method, path, body, close)


def _dechunk(buffer: bytearray, at: int) -> tuple[bytes | None, int]:
    """A chunked body from ``at``: (body, bytes consumed from the buffer's start), (None, 0)
    when incomplete, (None, status) when malformed."""
    parts = []
    while True:
        eol = buffer.find(b"\r\n", at)
        if eol < 0:
            return None, 0
        try:
            size = int(bytes(buffer[at:eol]).split(b";")[0], 16)
        except ValueError:
            return None, 400
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", eol)  # trailers (usually none) end with an empty line
            if buffer[eol : eol + 4] == b"\r\n\r\n":
                return b"".join(parts), eol + 4
            return (None, 0) if trailer_end < 0 else (b"".join(parts), trailer_end + 4)
        if len(buffer) < eol + 2 + size + 2:
            return None, 0
        parts.append(bytes(buffer[eol + 2 : eol + 2 + size]))
        at = eol + 2 + size + 2
        if sum(map(len, parts)) > MAX_BODY:
            return None, 413


class MockUpstream(asyncio.Protocol):
    def __init__(self, completion: Completion):
        self.completion = completion
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.continued = False  # "100 Continue" sent for the request in the buffer
        self.busy = False  # a spaced stream is being written: later pipelined requests wait

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream protocol's transport is an asyncio.Transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._serve()

    def _serve(self) -> None:
        while not self.busy and self.transport is not None:
            request = parse(self.buffer)
            if request is None:
                return
            if request == CONTINUE:
                if not self.continued:
                    self.continued = True
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return
            if isinstance(request, int):
                self.transport.write(error(request, "malformed request", close=True))
                self.transport.close()
                return
            self._answer(request)
            if request.close and not self.busy and self.transport is not None:
                self.transport.close()

    def _answer(self, request: Request) -> None:
        self.continued = False
        write = self.transport.write  # type: ignore[union-attr]  # answers follow connection_made
        path = request.path.split(b"?", 1)[0]
        if path.endswith(b"/chat/completions"):
            if request.method != b"POST":
                return write(error(405, "use POST", request.close))
            try:
                body = msgspec.json.decode(request.body)
            except msgspec.DecodeError:
                body = None
            if not isinstance(body, dict):
                return write(error(400, "request body is not a JSON object", request.close))
            model = str(body.get("model") or "mock-1")
            tokens = prompt_tokens(body.get("messages"))
            if not body.get("stream"):
                return write(response(200, self.completion.body(model, tokens), close=request.close))
            include_usage = (
                bool((body.get("stream_options") or {}).get("include_usage")) if isinstance(body.get("stream_options"), dict) else False
            )
            events = self.completion.events(model, tokens, include_usage)
            head = STREAM_HEAD + (b"connection: close\r\n\r\n" if request.close else b"\r\n")
            if not self.completion.gap_s:
                return write(head + b"".join(map(chunk, events)) + b"0\r\n\r\n")
            write(head + chunk(events[0]))
            self.busy = True
            asyncio.get_running_loop().create_task(self._spaced(events[1:], request.close))
            return None
        if path in (b"/v1/models", b"/models"):
            return write(response(200, MODELS, close=request.close))
        if path == b"/healthz":
            return write(response(200, b'{"ok":true}', close=request.close))
        return write(error(404, f"no route {path.decode(errors='replace')}", request.close))

    async def _spaced(self, events: list[bytes], close: bool) -> None:
        for event in events:
            await asyncio.sleep(self.completion.gap_s)
            if self.transport is None:
                return
            self.transport.write(chunk(event))
        if self.transport is not None:
            self.transport.write(b"0\r\n\r\n")
            if close:
                self.transport.close()
        self.busy = False
        self._serve()


async def serve(host: str, port: int, completion: Completion) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: MockUpstream(completion), host, port, reuse_address=True, backlog=1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18098)
    parser.add_argument("--words", type=int, default=24, help="completion words (= completion tokens = content events of a stream)")
    parser.add_argument("--gap-ms", type=float, default=0.0, help="pause between stream events (0: the whole stream in one write)")
    args = parser.parse_args()

    async def run() -> None:
        server = await serve(args.host, args.port, Completion(args.words, args.gap_ms))
        print(f"mock upstream on http://{args.host}:{args.port}/v1", flush=True)
        async with server:
            await server.serve_forever()

    try:
        import uvloop

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
