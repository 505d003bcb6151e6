"""The edge's upstream HTTP/1.1 client against real local servers (asyncio, in the test):
keep-alive reuse, Content-Length / chunked / until-close bodies, streaming, timeouts,
servers that refuse or break off, the pool's bound, TLS and an http proxy."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import ssl
import subprocess
import time

import pytest

from services.edge import http_client
from services.edge.http_client import Client, Timeouts

FAST = Timeouts(connect=2.0, read=2.0)


class Server:
    """An HTTP/1.1 server whose answers are scripted per path: ``routes[path](writer, request)``
    writes the raw response; it records each request and how many connections it saw."""

    def __init__(self, routes: dict, ssl_context: ssl.SSLContext | None = None):
        self.routes = routes
        self.ssl = ssl_context
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[dict] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    def url(self, path: str, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *fields = head.decode("latin-1").split("\r\n")[:-2]
                method, target, _ = line.split(" ")
                headers = {k.lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                request = {"method": method, "target": target, "headers": headers, "body": body}
                self.requests.append(request)
                path = target.split("?")[0] if target.startswith("/") else "/" + target.split("/", 3)[3].split("?")[0]
                if await self.routes[path](writer, request) is False:
                    break  # the route closed the connection
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


def ok(body: bytes = b"hello", extra: str = ""):
    async def route(writer, request):
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body)

    return route


def chunked(*pieces: bytes, gap: float = 0.0):
    async def route(writer, request):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n")
        for piece in pieces:
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(gap)
        writer.write(b"0\r\n\r\n")

    return route


async def test_content_length_body_and_what_is_sent():
    async with Server({"/v1/x": ok(b'{"a":1}')}) as server:
        client = Client(FAST, max_connections=4, trust_env=False)
        headers = {"authorization": "Bearer s", "content-type": "application/json"}
        response = await client.request("POST", server.url("/v1/x?key=k"), headers, b'{"q":1}')
        assert response.status_code == 200 and response.headers["content-length"] == "7"
        assert await response.aread() == b'{"a":1}'
        await response.aclose()
        [sent] = server.requests
        assert sent["method"] == "POST" and sent["target"] == "/v1/x?key=k" and sent["body"] == b'{"q":1}'
        assert sent["headers"]["host"] == f"127.0.0.1:{server.port}" and sent["headers"]["content-length"] == "7"
        assert sent["headers"]["authorization"] == "Bearer s" and "cookie" not in sent["headers"]
        await client.aclose()


async def test_keep_alive_reuses_one_connection():
    async with Server({"/a": ok(b"1"), "/b": chunked(b"2", b"3")}) as server:
        client = Client(FAST, max_connections=4, trust_env=False)
        for path in ("/a", "/b", "/a", "/b"):
            response = await client.request("POST", server.url(path), {}, b"")
            await response.aread()
            await response.aclose()
        assert server.connections == 1 and len(server.requests) == 4
        await client.aclose()


async def test_chunked_body_whole_and_streamed_as_it_arrives():
    release = asyncio.Event()

    async def slow_stream(writer, request):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await release.wait()  # the second piece only after the client saw the first
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")

    async with Server({"/whole": chunked(b"ab", b"cd", b"ef"), "/stream": slow_stream}) as server:
        client = Client(FAST, max_connections=4, trust_env=False)
        response = await client.request("POST", server.url("/whole"), {}, b"")
        assert await response.aread() == b"abcdef"
        response = await client.request("POST", server.url("/stream"), {}, b"")
        seen = []
        async for piece in response.aiter_bytes():
            seen.append(piece)
            release.set()
        assert seen == [b"first", b"second"]
        await response.aclose()
        assert server.connections == 1  # both read to the end: the connection was reused
        await client.aclose()


async def test_a_body_delimited_by_the_connection_closing():
    async def until_close(writer, request):
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        await writer.drain()
        return False

    async with Server({"/eof": until_close, "/a": ok()}) as server:
        client = Client(FAST, max_connections=4, trust_env=False)
        response = await client.request("POST", server.url("/eof"), {}, b"")
        assert await response.aread() == b"all of it"
        response = await client.request("POST", server.url("/a"), {}, b"")
        assert await response.aread() == b"hello"
        assert server.connections == 2  # "Connection: close" was not reused
        await client.aclose()


async def test_a_gzipped_body_is_decoded():
    packed = gzip.compress(b"x" * 1000)
    async with Server({"/gz": ok(packed, "Content-Encoding: gzip\r\n")}) as server:
        client = Client(FAST, max_connections=4, trust_env=False)
        response = await client.request("POST", server.url("/gz"), {}, b"")
        assert await response.aread() == b"x" * 1000
        await client.aclose()


async def test_connect_refused():
    async with Server({}) as server:
        port = server.port
    client = Client(FAST, max_connections=4, trust_env=False)
    with pytest.raises(http_client.ConnectError):
        await client.request("POST", f"http://127.0.0.1:{port}/x", {}, b"")
    assert client._pools[("http", "127.0.0.1", port)].total == 0  # the failed attempt's slot was freed
    await client.aclose()


async def test_read_timeouts_before_the_head_and_between_pieces():
    async def silent(writer, request):
        await asyncio.sleep(5)

    async def stalls(writer, request):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(5)

    async with Server({"/silent": silent, "/stalls": stalls, "/a": ok()}) as server:
        client = Client(Timeouts(connect=2.0, read=0.2), max_connections=4, trust_env=False)
        with pytest.raises(http_client.ReadTimeout):
            await client.request("POST", server.url("/silent"), {}, b"")
        response = await client.request("POST", server.url("/stalls"), {}, b"")
        pieces = response.aiter_bytes()
        assert await pieces.__anext__() == b"abc"
        with pytest.raises(http_client.ReadTimeout):
            await pieces.__anext__()
        await response.aclose()
        response = await client.request("POST", server.url("/a"), {}, b"", Timeouts(connect=1.0, read=1.0))
        assert await response.aread() == b"hello"
        assert server.connections == 3  # neither timed-out connection was reused
        await client.aclose()


async def test_a_server_closing_mid_body():
    async def cut(writer, request):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        return False

    async def cut_chunked(writer, request):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        return False

    async with Server({"/cut": cut, "/cut-chunked": cut_chunked, "/a": ok()}) as server:
        client = Client(FAST, max_connections=1, trust_env=False)
        response = await client.request("POST", server.url("/cut"), {}, b"")
        with pytest.raises(http_client.ReadError):
            await response.aread()
        await response.aclose()
        response = await client.request("POST", server.url("/cut-chunked"), {}, b"")
        with pytest.raises(http_client.ReadError):
            async for _ in response.aiter_bytes():
                pass
        await response.aclose()
        response = await client.request("POST", server.url("/a"), {}, b"")  # the pool's one slot was freed
        assert await response.aread() == b"hello"
        await client.aclose()


async def test_a_server_closing_without_answering():
    async def hang_up(writer, request):
        return False

    async with Server({"/x": hang_up}) as server:
        client = Client(FAST, max_connections=1, trust_env=False)
        with pytest.raises(http_client.RemoteProtocolError):
            await client.request("POST", server.url("/x"), {}, b"")
        await client.aclose()


async def test_an_abandoned_stream_closes_its_connection():
    async with Server({"/s": chunked(b"a", b"b", b"c", gap=0.05), "/a": ok()}) as server:
        client = Client(FAST, max_connections=4, trust_env=False)
        response = await client.request("POST", server.url("/s"), {}, b"")
        async for _ in response.aiter_bytes():
            break
        await response.aclose()
        response = await client.request("POST", server.url("/a"), {}, b"")
        assert await response.aread() == b"hello"
        assert server.connections == 2
        await asyncio.sleep(0.4)  # the server notices once its route is done writing
        assert server.open == 1  # the abandoned one is closed; the other is idle in the pool
        await client.aclose()


async def test_an_unclosed_response_frees_its_slot_when_dropped():
    async with Server({"/s": chunked(b"a", b"b", gap=0.05), "/a": ok()}) as server:
        client = Client(FAST, max_connections=1, trust_env=False)
        response = await client.request("POST", server.url("/s"), {}, b"")
        del response  # never read nor closed
        response = await client.request("POST", server.url("/a"), {}, b"")
        assert await response.aread() == b"hello"
        await client.aclose()


async def test_the_pool_bound_queues_requests_and_times_out():
    gate = asyncio.Event()

    async def held(writer, request):
        await gate.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async with Server({"/held": held}) as server:
        client = Client(FAST, max_connections=2, trust_env=False)

        async def one() -> bytes:
            response = await client.request("POST", server.url("/held"), {}, b"")
            try:
                return await response.aread()
            finally:
                await response.aclose()

        tasks = [asyncio.create_task(one()) for _ in range(5)]
        await asyncio.sleep(0.2)
        assert server.open == 2 and len(server.requests) == 2  # three wait for a connection
        with pytest.raises(http_client.PoolTimeout):
            await client.request("POST", server.url("/held"), {}, b"", Timeouts(connect=1.0, read=0.1))
        gate.set()
        assert await asyncio.gather(*tasks) == [b"ok"] * 5
        assert server.connections == 2 and server.most_open == 2
        await client.aclose()


async def test_an_idle_connection_the_server_closed_is_not_used():
    async def once(writer, request):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1")
        await writer.drain()
        return False  # closes after answering, without saying so

    async with Server({"/once": once}) as server:
        client = Client(FAST, max_connections=1, trust_env=False)
        for _ in range(3):
            response = await client.request("POST", server.url("/once"), {}, b"")
            assert await response.aread() == b"1"
            await asyncio.sleep(0.05)  # the server's close arrives while the connection is idle
        assert server.connections == 3
        await client.aclose()


async def test_unsendable_requests():
    client = Client(FAST, max_connections=1, trust_env=False)
    with pytest.raises(http_client.LocalProtocolError):
        await client.request("POST", "http://127.0.0.1:9/x", {"x-a": "1\r\nInjected: yes"}, b"")
    with pytest.raises(http_client.LocalProtocolError):
        await client.request("POST", "http://127.0.0.1:9/x", {"bad name": "1"}, b"")
    with pytest.raises(http_client.LocalProtocolError):
        await client.request("POST", "ftp://127.0.0.1/x", {}, b"")
    await client.aclose()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for "localhost" (openssl's command line)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            d / "key.pem",
            "-out",
            d / "cert.pem",
        ],
        check=True,
        capture_output=True,
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(d / "cert.pem", d / "key.pem")
    return server, d / "cert.pem"


async def test_https_verifies_the_certificate(certificate):
    server_context, cert = certificate
    async with Server({"/a": ok(b"secure")}, ssl_context=server_context) as server:
        trusting = Client(FAST, max_connections=2, ssl_context=ssl.create_default_context(cafile=cert), trust_env=False)
        response = await trusting.request("POST", server.url("/a", "https", "localhost"), {}, b"")
        assert await response.aread() == b"secure"
        await trusting.aclose()
        default = Client(FAST, max_connections=2, trust_env=False)  # certifi's CAs do not know it
        with pytest.raises(http_client.ConnectError):
            await default.request("POST", server.url("/a", "https", "localhost"), {}, b"")
        await default.aclose()


class ConnectProxy:
    """An http proxy: CONNECT tunnels, and absolute-form requests forwarded to the origin."""

    def __init__(self):
        self.seen: list[str] = []

    async def __aenter__(self) -> ConnectProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    @property
    def url(self) -> str:
        return f"http://user:pw@127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader, writer) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ")
        self.seen.append(f"{method} {target} auth={b'Proxy-Authorization: Basic dXNlcjpwdw==' in head}")
        if method == "CONNECT":
            port = target.rsplit(":", 1)[1]
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            port = int(target.split("/")[2].rsplit(":", 1)[1])
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            up_writer.write(head)

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_the_environments_http_proxy(certificate, monkeypatch):
    server_context, cert = certificate
    async with (
        Server({"/a": ok(b"plain")}) as plain,
        Server({"/a": ok(b"secure")}, ssl_context=server_context) as secure,
        ConnectProxy() as proxy,
    ):
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        client = Client(FAST, max_connections=2, ssl_context=ssl.create_default_context(cafile=cert))
        response = await client.request("POST", secure.url("/a", "https", "localhost"), {}, b"")
        assert await response.aread() == b"secure"
        response = await client.request("POST", plain.url("/a", "http", "localhost"), {}, b"")
        assert await response.aread() == b"plain"
        assert proxy.seen == [f"CONNECT localhost:{secure.port} auth=True", f"POST http://localhost:{plain.port}/a auth=True"]
        await client.aclose()


def test_an_anyio_cancel_scope_stops_a_fast_stream_under_uvloop():
    """Litestar stops a stream whose client left by cancelling an anyio scope, which cancels a
    task only while it waits on a pending future: a stream read must leave it that chance even
    when the upstream's bytes are always there first (uvloop runs I/O before the scope looks)."""
    anyio = pytest.importorskip("anyio")
    uvloop = pytest.importorskip("uvloop")
    piece = b"data: " + b"x" * 200 + b"\n\n"
    frames, writes = b"%x\r\n%s\r\n" % (len(piece), piece) * 50, 4000  # ~40 MB

    async def long_stream(writer, request):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(writes):
            writer.write(frames)
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    async def main() -> tuple[int, int]:
        async with Server({"/s": long_stream}) as server:
            client = Client(FAST, max_connections=1, trust_env=False)
            response = await client.request("POST", server.url("/s"), {}, b"")
            read, first = 0, anyio.Event()

            async def consume() -> None:
                nonlocal read
                async for piece in response.aiter_bytes():
                    read += len(piece)
                    first.set()

            async with anyio.create_task_group() as group:
                group.start_soon(consume)
                await first.wait()
                group.cancel_scope.cancel()
            await response.aclose()
            await client.aclose()
            return read, len(piece) * 50 * writes

    read, whole = uvloop.run(main())
    assert 0 < read < whole / 2  # stopped early, not at the stream's end


async def test_first_byte_timeout_only_until_the_first_bytes_then_the_idle_timeout():
    """``read`` bounds the wait for the head and the first body piece; once bytes flow, gaps are
    bounded by ``idle`` — longer here — and a gap beyond it is an IdleTimeout."""

    async def late_then_steady(writer, request):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)  # within read (0.3)
        for piece in (b"a", b"b", b"c"):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.4)  # beyond read, within idle (0.8)
        writer.write(b"0\r\n\r\n")

    async with Server({"/s": late_then_steady, "/stall": chunked(b"a", b"b", gap=5)}) as server:
        client = Client(Timeouts(connect=2.0, read=0.3, idle=0.8), max_connections=4, trust_env=False)
        response = await client.request("POST", server.url("/s"), {}, b"")
        assert [p async for p in response.aiter_bytes()] == [b"a", b"b", b"c"]
        response = await client.request("POST", server.url("/stall"), {}, b"", Timeouts(connect=2.0, read=2.0, idle=0.2))
        pieces = response.aiter_bytes()
        assert await pieces.__anext__() == b"a"
        with pytest.raises(http_client.IdleTimeout):
            await pieces.__anext__()
        await response.aclose()
        await client.aclose()


async def test_the_deadline_bounds_the_head_and_the_body():
    async def silent(writer, request):
        await asyncio.sleep(5)

    async with Server({"/silent": silent, "/drip": chunked(b"a", b"b", b"c", b"d", gap=0.15)}) as server:
        client = Client(FAST, max_connections=4, trust_env=False)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(http_client.DeadlineExceeded):  # before the head: the deadline, not the 2 s read timeout
            await client.request("POST", server.url("/silent"), {}, b"", FAST._replace(deadline=time.perf_counter() + 0.2))
        assert loop.time() - started < 1.0
        response = await client.request("POST", server.url("/drip"), {}, b"", FAST._replace(deadline=time.perf_counter() + 0.35))
        got = []
        with pytest.raises(http_client.DeadlineExceeded):  # mid-body: every gap is short, the whole is too long
            async for piece in response.aiter_bytes():
                got.append(piece)
        assert 1 <= len(got) < 4
        await response.aclose()
        response = await client.request("POST", server.url("/drip"), {}, b"", FAST._replace(deadline=time.perf_counter() + 0.35))
        with pytest.raises(http_client.DeadlineExceeded):  # a whole read too
            await response.aread()
        await response.aclose()
        with pytest.raises(http_client.DeadlineExceeded):  # already past: not even sent
            await client.request("POST", server.url("/drip"), {}, b"", FAST._replace(deadline=time.perf_counter() - 1))
        await client.aclose()
