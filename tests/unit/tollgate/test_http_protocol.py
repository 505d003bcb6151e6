"""The HTTP server every service runs (``lifecycle.asgi_server``): requests uvicorn cannot
parse get 400 and slow headers 408, both in the JSON error shape of the door the path names
(the edge's ``transport_error_body``), and data files stay private."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from contextlib import AsyncExitStack

import pytest
from litestar import Litestar, Request, get, post

from services.edge.app import transport_error_body
from tollgate import files, lifecycle
from tools.stack import free_port


@get("/v1/ping")
async def ping() -> dict:
    return {"ok": True}


@post("/v1/size", status_code=200)
async def size(request: Request) -> dict:
    return {"size": len(await request.body())}


async def _exchange(port: int, data: bytes, *, pause_s: float = 0.0, then: bytes = b"") -> tuple[bytes, float]:
    """Send ``data`` (and ``then`` after ``pause_s``); the whole answer and how long it took to close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(data)
    if pause_s:
        await asyncio.sleep(pause_s)
        if then and not writer.is_closing():
            writer.write(then)
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer, time.monotonic() - started


def _split(answer: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


async def _serve(header_timeout_s: float):
    app = Litestar(route_handlers=[ping, size], logging_config=None)
    app.state.transport_error_body = transport_error_body
    stack = AsyncExitStack()
    port = free_port()
    await lifecycle.asgi_server(stack, app, "127.0.0.1", port, grace_s=1, header_timeout_s=header_timeout_s)
    return stack, port


@pytest.mark.parametrize(
    "request_bytes, shape",
    [
        (b"GARBAGE\r\n\r\n", "openai"),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "openai"),
        (b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", "anthropic"),
        (b"POST /gemini/v1beta/models/\xff\xfe:generateContent HTTP/1.1\r\nHost: x\r\n\r\n", "gemini"),
    ],
)
def test_a_request_uvicorn_cannot_parse_is_a_json_400_in_the_door_shape(request_bytes: bytes, shape: str) -> None:
    async def main():
        stack, port = await _serve(header_timeout_s=5)
        async with stack:
            answer, _ = await _exchange(port, request_bytes)
            ok, _ = await _exchange(port, b"GET /v1/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return answer, ok

    answer, ok = asyncio.run(main())
    status, headers, body = _split(answer)
    assert status == 400 and headers["content-type"] == "application/json"
    assert_shape(shape, body)
    assert b"Invalid HTTP request" in answer and b"Traceback" not in answer
    assert _split(ok)[0] == 200  # the server is unharmed


def assert_shape(shape: str, body: dict) -> None:
    if shape == "anthropic":
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
    elif shape == "gemini":
        assert set(body["error"]) == {"code", "message", "status"}
    else:
        assert {"message", "type", "code"} <= set(body["error"])


def test_headers_that_trickle_in_get_a_408_and_the_connection_closes() -> None:
    async def main():
        stack, port = await _serve(header_timeout_s=0.5)
        async with stack:
            slow = await _exchange(port, b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n", pause_s=0.3, then=b"X-A: 1\r\n")
            silent = await _exchange(port, b"", pause_s=0.0)  # connects and never sends a byte
            quick = await _exchange(port, b"GET /v1/ping HTTP/1.1\r\nHost: x\r\n", pause_s=0.2, then=b"Connection: close\r\n\r\n")
        return slow, silent, quick

    (slow, slow_s), (silent, silent_s), (quick, _) = asyncio.run(main())
    status, _, body = _split(slow)
    assert status == 408 and 0.4 < slow_s < 3
    assert_shape("anthropic", body)
    assert _split(silent)[0] == 408 and silent_s < 3
    assert _split(quick)[0] == 200  # headers within the limit: served


def test_a_websocket_upgrade_is_served_as_plain_http() -> None:
    async def main():
        stack, port = await _serve(header_timeout_s=5)
        async with stack:
            return await _exchange(
                port,
                (
                    b"GET /v1/ping HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ),
            )

    answer, _ = asyncio.run(main())
    assert _split(answer)[0] == 200 and _split(answer)[2] == {"ok": True}  # not uvicorn's empty text/plain 403


def test_headers_beyond_the_limit_get_a_431_and_a_large_body_does_not() -> None:
    from tollgate.http_protocol import MAX_HEADER_BYTES

    async def main():
        stack, port = await _serve(header_timeout_s=5)
        async with stack:
            header = b"X-Pad: " + b"a" * 1000 + b"\r\n"
            flood = b"POST /gemini/v1beta/models/m:generateContent HTTP/1.1\r\nHost: x\r\n" + header * (MAX_HEADER_BYTES // len(header) + 2)
            big = await _exchange(port, flood)
            body = b"{" + b" " * 300_000 + b"}"
            ok = await _exchange(
                port, b"POST /v1/size HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body
            )
        return big, ok

    (big, _), (ok, _) = asyncio.run(main())
    status, _, body = _split(big)
    assert status == 431
    assert_shape("gemini", body)
    assert _split(ok) == (200, _split(ok)[1], {"size": 300_002})


def test_private_dir_and_file_modes(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        data = files.private_dir(tmp_path / "data" / "inner")
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        loose = tmp_path / "loose"
        loose.mkdir(mode=0o755)
        files.private_dir(loose)
        assert stat.S_IMODE(loose.stat().st_mode) == 0o700
        kept = tmp_path / "kept"
        kept.mkdir(mode=0o755)
        files.private_dir(kept, tighten=False)
        assert stat.S_IMODE(kept.stat().st_mode) == 0o755
        f = files.private_file(data / "db")
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        (tmp_path / "old").write_text("x")
        os.chmod(tmp_path / "old", 0o644)
        assert stat.S_IMODE(files.private_file(tmp_path / "old").stat().st_mode) == 0o600
        assert (tmp_path / "old").read_text() == "x"  # tightened, not truncated
    finally:
        os.umask(old)


def test_the_accounts_sqlite_database_is_0600_in_a_0700_directory(tmp_path) -> None:
    from services.accounts.db import SqliteDatabase

    old = os.umask(0o022)
    try:
        db = SqliteDatabase(tmp_path / "data" / "accounts.sqlite3")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x INTEGER)")
        db.execute("INSERT INTO t VALUES (1)")
        for name in ("accounts.sqlite3", "accounts.sqlite3-wal", "accounts.sqlite3-shm"):
            path = tmp_path / "data" / name
            if path.exists():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
        db.close()
    finally:
        os.umask(old)


async def test_the_overhead_header_counts_from_the_requests_first_byte():
    """x-tollgate-overhead-ms starts when the server begins parsing the request, not when the
    app is called: here the headers arrive 0.3 s after the first byte, and that time counts."""
    from services.edge.middleware import timing_middleware

    async def app(scope, receive, send):
        while scope["type"] == "lifespan":
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    stack = AsyncExitStack()
    port = free_port()
    await lifecycle.asgi_server(stack, timing_middleware(app), "127.0.0.1", port, grace_s=1)
    try:
        answer, _ = await _exchange(port, b"GET /v1/ping HTTP/1.1\r\n", pause_s=0.3, then=b"Host: x\r\nConnection: close\r\n\r\n")
        head = answer.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
        overhead = float(next(line.split(": ", 1)[1] for line in head.split("\r\n") if line.startswith("x-tollgate-overhead-ms")))
        assert overhead >= 300
    finally:
        await stack.aclose()


H2C = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"


@pytest.mark.parametrize("split", [False, True], ids=["one-piece", "body-later"])
def test_an_h2c_upgrade_is_declined_and_the_body_kept(split: bool) -> None:
    """``curl --http2`` sends ``Upgrade: h2c``: httptools stops at the upgrade, and uvicorn alone
    would run the request with an empty body. The upgrade is declined, the body arrives whole,
    and the connection closes after the answer."""
    body = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
    head = b"POST /v1/size HTTP/1.1\r\nHost: x\r\n" + H2C + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"

    async def main():
        stack, port = await _serve(header_timeout_s=5)
        async with stack:
            if split:
                return await _exchange(port, head + body[:10], pause_s=0.2, then=body[10:])
            return await _exchange(port, head + body)

    answer, _ = asyncio.run(main())
    status, headers, payload = _split(answer)
    assert (status, payload) == (200, {"size": len(body)})
    assert headers["connection"] == "close" and not answer.startswith(b"HTTP/1.1 101")


def test_an_h2c_upgrade_with_a_chunked_body_is_a_clear_400() -> None:
    request = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n" + H2C + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"

    async def main():
        stack, port = await _serve(header_timeout_s=5)
        async with stack:
            return await _exchange(port, request)

    answer, _ = asyncio.run(main())
    status, _, payload = _split(answer)
    assert status == 400 and payload["type"] == "error" and "Content-Length" in payload["error"]["message"]
