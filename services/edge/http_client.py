"""The edge's upstream HTTP/1.1 client: asyncio Protocols with httptools parsing responses.

A keep-alive pool per origin (scheme, host, port) bounded by ``max_connections``, waiters
served in order; a connect timeout (TCP, proxy CONNECT, TLS) and a read timeout (a full
pool's wait, the response's head and its first body bytes), an idle timeout (every gap between
body pieces once they flow) and an optional deadline for the whole response; TLS verified against
certifi's CAs or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` (httpx's default); ``HTTP(S)_PROXY`` /
``ALL_PROXY`` / ``NO_PROXY`` for ``http://`` proxies; Content-Length, chunked and until-close
bodies (gzip/deflate decoded), read whole (``aread``) or as they arrive (``aiter_bytes``).
No cookies, no redirects, no retries; request bodies are bytes, or a ``Streamed`` body written
as it is produced (its length when known, else chunked) with the socket's flow control. A connection returns to its
pool only once its response was read to the end and the server keeps it open: a response
closed early, cut by an error or dropped unclosed closes it. Errors mirror httpx's names."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import ssl
import time
import urllib.request
import zlib
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import httptools

from services.edge.http_errors import (
    ConnectError,
    ConnectTimeout,
    DeadlineExceeded,
    HTTPError,
    IdleTimeout,
    LocalProtocolError,
    PoolTimeout,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    TimeoutException,
    Timeouts,
)
from services.edge.http_errors import (
    TransportError as TransportError,  # re-exported: callers name the errors through this module
)
from tollgate.providers.base import Streamed

KEEPALIVE_EXPIRY_S = 4.0  # an idle connection older than this is closed, not reused (under uvicorn's 5 s)
HIGH_WATER = 256 * 1024  # buffered body bytes at which the socket stops being read
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class _Target(NamedTuple):
    origin: tuple[str, str, int]
    target: str  # what the request line names: the path and query (the whole URL through an http proxy)
    host: str  # the Host header


class _Proxy(NamedTuple):
    host: str
    port: int
    auth: str  # "Basic ..." or ""


def default_ssl_context() -> ssl.SSLContext:
    """Verifying, as httpx's default: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi's CAs."""
    if os.environ.get("SSL_CERT_FILE"):
        ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    elif os.environ.get("SSL_CERT_DIR"):
        ctx = ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    else:
        try:
            import certifi
        except ImportError:  # the system's CAs
            ctx = ssl.create_default_context()
        else:
            ctx = ssl.create_default_context(cafile=certifi.where())
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class Client:
    """Upstream HTTP/1.1 calls: ``response = await client.request(...)`` returns once the
    response's head arrived; the caller reads its body and always ``aclose``s it."""

    def __init__(
        self,
        timeouts: Timeouts,
        *,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
        trust_env: bool = True,
        user_agent: str = "tollgate",
    ) -> None:
        self.timeouts = timeouts
        self.max_connections = max(1, max_connections)
        self._ssl = ssl_context
        self._proxies = urllib.request.getproxies_environment() if trust_env else {}
        self._defaults = {"user-agent": f"User-Agent: {user_agent}\r\n", "accept": "Accept: */*\r\n"}
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._targets: dict[str, _Target] = {}
        self._names: set[str] = set()  # header names already checked
        self._closed = False

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | Streamed = b"", timeouts: Timeouts | None = None
    ) -> Response:
        timeouts = timeouts or self.timeouts
        if self._closed:
            raise ConnectError("the client is closed")
        target = self._targets.get(url) or self._target(url)
        pool = self._pools.get(target.origin) or self._pool(target.origin)
        streamed = body if isinstance(body, Streamed) else None
        head = self._head(method, target, headers, streamed.length if streamed else len(body), pool.proxy)
        wait, by_deadline = timeouts.bounded(timeouts.read)
        if by_deadline and not wait:
            raise DeadlineExceeded("the request's deadline passed before it was sent")
        conn = await pool.acquire(timeouts)
        wait, by_deadline = timeouts.bounded(timeouts.read)  # what is left after connecting
        try:
            if streamed is None:
                conn.send(head, body)  # type: ignore[arg-type]  # bytes when not streamed
            else:
                conn.send(head, b"")
                await conn.send_streamed(streamed)
            await conn.wait_head(wait)
        except ReadTimeout:
            pool.drop(conn)
            if by_deadline:
                raise DeadlineExceeded("the upstream did not answer before the request's deadline") from None
            raise
        except BaseException:
            pool.drop(conn)
            raise
        return Response(conn, timeouts)

    async def aclose(self) -> None:
        self._closed = True
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    def _target(self, url: str) -> _Target:
        try:
            parts = urlsplit(url)
            scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
        except ValueError as exc:
            raise LocalProtocolError(f"invalid URL: {exc}") from None
        if scheme not in ("http", "https") or not host:
            raise LocalProtocolError(f"unsupported URL scheme or no host: {scheme!r}")
        default = 443 if scheme == "https" else 80
        port = port or default
        named = f"[{host}]" if ":" in host else host
        host_header = named if port == default else f"{named}:{port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        origin = (scheme, host, port)
        if scheme == "http" and self._proxy_for(origin) is not None:
            path = f"http://{host_header}{path}"  # absolute form, to an http proxy
        if len(self._targets) > 4096:
            self._targets.clear()
        target = self._targets[url] = _Target(origin, path, host_header)
        return target

    def _head(self, method: str, target: _Target, headers: Mapping[str, str], length: int | None, proxy: _Proxy | None) -> bytes:
        lines = [f"{method} {target.target} HTTP/1.1\r\n"]
        given = set()
        for name, value in headers.items():
            low = name.lower()
            if low in ("content-length", "transfer-encoding", "connection"):
                continue
            if name not in self._names:
                if not _TOKEN.fullmatch(name):
                    raise LocalProtocolError(f"invalid header name {name!r}")
                if len(self._names) < 1024:
                    self._names.add(name)
            given.add(low)
            lines.append(f"{name}: {value}\r\n")
        if "host" not in given:
            lines.append(f"Host: {target.host}\r\n")
        lines.extend(line for name, line in self._defaults.items() if name not in given)
        if proxy is not None and proxy.auth and target.origin[0] == "http":
            lines.append(f"Proxy-Authorization: {proxy.auth}\r\n")
        lines.append("Transfer-Encoding: chunked\r\n\r\n" if length is None else f"Content-Length: {length}\r\n\r\n")
        head = "".join(lines)
        if head.count("\n") != len(lines) + 1 or head.count("\r") != len(lines) + 1:
            raise LocalProtocolError("a header holds a line break")
        try:
            return head.encode("latin-1")
        except UnicodeEncodeError:
            raise LocalProtocolError("a header holds a character outside latin-1") from None

    def _proxy_for(self, origin: tuple[str, str, int]) -> _Proxy | None:
        if not self._proxies:
            return None
        scheme, host, port = origin
        url = self._proxies.get(scheme) or self._proxies.get("all")
        # proxy_bypass_environment: the no_proxy matching urllib (and httpx) use; typeshed leaves it out
        if not url or urllib.request.proxy_bypass_environment(f"{host}:{port}", self._proxies):  # type: ignore[attr-defined]
            return None
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise ConnectError(f"unsupported proxy {parts.scheme}://{parts.hostname} (only http:// proxies)")
        auth = ""
        if parts.username is not None:
            auth = "Basic " + base64.b64encode(f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()).decode()
        return _Proxy(parts.hostname, parts.port or 80, auth)

    def _pool(self, origin: tuple[str, str, int]) -> _Pool:
        context = None
        if origin[0] == "https":
            if self._ssl is None:
                self._ssl = default_ssl_context()
            context = self._ssl
        pool = self._pools[origin] = _Pool(origin, self.max_connections, context, self._proxy_for(origin))
        return pool


class _Pool:
    """One origin's connections: idle ones (most recently used first), how many exist, and
    the requests waiting for one."""

    def __init__(self, origin: tuple[str, str, int], limit: int, context: ssl.SSLContext | None, proxy: _Proxy | None):
        self.origin = origin
        self.limit = limit
        self.context = context
        self.proxy = proxy
        self.idle: list[_Connection] = []
        self.total = 0
        self.waiters: deque[asyncio.Future] = deque()

    async def acquire(self, timeouts: Timeouts) -> _Connection:
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if conn.closed or now - conn.idle_since > KEEPALIVE_EXPIRY_S:
                self.drop(conn)
                continue
            conn.idle_since = 0.0
            return conn
        if self.total < self.limit:
            self.total += 1
            return await self._connect(timeouts.connect)
        got = await self._wait(timeouts.read)
        return got if got is not None else await self._connect(timeouts.connect)

    async def _wait(self, timeout: float) -> _Connection | None:
        """A connection handed over by a finished response, or None: a freed slot to connect in."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self.waiters.append(waiter)
        timer = loop.call_later(timeout, _expire, waiter, PoolTimeout, "no upstream connection became free in time")
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()  # given to us just as we gave up: pass it on
                if handed is None:
                    self._free_slot()
                else:
                    self.release(handed)
            raise
        finally:
            timer.cancel()

    async def _connect(self, timeout: float) -> _Connection:
        """A new connection in a slot already counted in ``total`` (freed if this fails)."""
        loop = asyncio.get_running_loop()
        _, host, port = self.origin
        conn = _Connection(self)
        try:
            async with asyncio.timeout(timeout):
                if self.proxy is None:
                    await loop.create_connection(lambda: conn, host, port, ssl=self.context, server_hostname=host if self.context else None)
                else:
                    await loop.create_connection(lambda: conn, self.proxy.host, self.proxy.port)
                    if self.context is not None:
                        await conn.tunnel(f"{host}:{port}" if ":" not in host else f"[{host}]:{port}", self.proxy.auth)
                        tls = await loop.start_tls(conn.transport, conn, self.context, server_hostname=host)
                        if tls is None:
                            raise ConnectionError("the tunnel closed during the TLS handshake")
                        conn.transport = tls
        except TimeoutError:
            conn.abort()
            self._free_slot()
            raise ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:  # refused, unreachable, DNS (gaierror), TLS (SSLError)
            conn.abort()
            self._free_slot()
            raise ConnectError(f"connecting to {host}:{port} failed: {exc}") from None
        except BaseException:
            conn.abort()
            self._free_slot()
            raise
        return conn

    def release(self, conn: _Connection) -> None:
        """A connection whose response was read to the end: to the next waiter, else idle."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    def drop(self, conn: _Connection) -> None:
        """Close a connection and free its slot (once, however often it is dropped)."""
        if conn.dropped:
            return
        conn.dropped = True
        conn.abort()
        self._free_slot()

    def lost(self, conn: _Connection) -> None:
        """An idle connection the server closed."""
        if conn in self.idle:
            self.idle.remove(conn)
            self.drop(conn)

    def _free_slot(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter
                return
        self.total -= 1

    def close(self) -> None:
        for conn in self.idle:
            conn.dropped = True
            conn.abort()
        self.idle.clear()
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectError("the client is closed"))


def _expire(waiter: asyncio.Future, kind: type[TimeoutException], message: str) -> None:
    if not waiter.done():
        waiter.set_exception(kind(message))


class _Connection(asyncio.Protocol):
    """One keep-alive connection and the state of the response it is reading."""

    def __init__(self, pool: _Pool):
        self.pool = pool
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set once connected
        self.closed = False  # the socket is gone
        self.dropped = False  # its slot was freed
        self.idle_since = 0.0
        self.parser: httptools.HttpResponseParser | None = None
        self.waiter: asyncio.Future | None = None
        self.tunnel_buffer: bytearray | None = None
        self.writable: asyncio.Event | None = None  # made while a streamed body is written
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.header_list: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.framed = False  # Content-Length or chunked: else the body ends when the connection does
        self.complete = False
        self.keep_alive = False
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.paused = False
        self.error: HTTPError | None = None

    # -- driven by the caller --------------------------------------------------------
    def send(self, head: bytes, body: bytes) -> None:
        if self.closed:
            raise ReadError("the connection closed before the request was sent")
        self._reset()
        self.parser = httptools.HttpResponseParser(self)
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)

    async def send_streamed(self, body: Streamed) -> None:
        """Each piece as it comes, waiting while the socket's buffer is above its high-water
        mark: memory stays bounded by one piece and the transport's buffer."""
        self.writable = asyncio.Event()
        self.writable.set()
        chunked = body.length is None
        sent = 0
        async for piece in body.pieces:
            if self.closed or self.error is not None:
                raise self.error or ReadError("the upstream closed the connection while the body was sent")
            if not piece:
                continue
            sent += len(piece)
            self.transport.write(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
            await self.writable.wait()
        if chunked:
            self.transport.write(b"0\r\n\r\n")
        elif sent != body.length:
            raise LocalProtocolError(f"the body was {sent} bytes, not the {body.length} announced")

    def pause_writing(self) -> None:
        if self.writable is not None:
            self.writable.clear()

    def resume_writing(self) -> None:
        if self.writable is not None:
            self.writable.set()

    async def wait_head(self, timeout: float) -> None:
        while not self.head_done:
            if self.error is not None:
                raise self.error
            await self._wait(timeout)

    async def read(self, timeout: float) -> bytes | None:
        """The body bytes received since the last read; None once it ended."""
        while True:
            if self.chunks:
                data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
                self.chunks.clear()
                self.buffered = 0
                if self.paused and not self.closed:
                    self.paused = False
                    self.transport.resume_reading()
                return data
            if self.error is not None:
                raise self.error
            if self.complete:
                return None
            await self._wait(timeout)

    async def _wait(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        timer = loop.call_later(timeout, _expire, waiter, ReadTimeout, "the upstream sent nothing in time")
        try:
            await waiter
        finally:
            timer.cancel()
            self.waiter = None
        # A bare yield: anyio's cancel scopes (Litestar's, on a client's disconnect) cancel a task only while it
        # waits on a pending future or none; under uvloop the upstream's bytes complete ours before they look.
        await asyncio.sleep(0)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def finished(self) -> None:
        """The response was read to the end: reuse the connection if the server allows."""
        if self.keep_alive and not self.closed and self.error is None and not self.dropped:
            self.parser = None
            self.pool.release(self)
        else:
            self.pool.drop(self)

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()

    async def tunnel(self, authority: str, auth: str) -> None:
        """Ask the http proxy for a tunnel to ``authority`` (then TLS runs through it)."""
        self.tunnel_buffer = bytearray()
        extra = f"Proxy-Authorization: {auth}\r\n" if auth else ""
        self.transport.write(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{extra}\r\n".encode("latin-1"))
        while b"\r\n\r\n" not in self.tunnel_buffer:
            if self.closed:
                raise ConnectionError("the proxy closed the connection")
            loop = asyncio.get_running_loop()
            self.waiter = loop.create_future()
            await self.waiter  # the connect timeout bounds this
        status_line = bytes(self.tunnel_buffer).split(b"\r\n", 1)[0].split()
        self.tunnel_buffer = None
        if len(status_line) < 2 or not status_line[1].startswith(b"2"):
            raise ConnectionError(f"the proxy refused the tunnel: {b' '.join(status_line[1:]).decode('latin-1')}")

    # -- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.tunnel_buffer is not None:
            self.tunnel_buffer += data
            self._wake()
            return
        if self.parser is None or self.complete:  # bytes nobody asked for: the connection is unusable
            self.keep_alive = False
            self.abort()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not self.complete:  # junk after a whole response only spoils the connection
                self.error = RemoteProtocolError(f"malformed upstream response: {exc}")
            self.abort()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.parser is not None and not self.complete and self.error is None:
            if self.head_done and not self.framed:
                self.complete = True  # a body delimited by the connection's end
            elif self.head_done:
                self.error = ReadError("the upstream closed the connection before the response ended")
            else:
                self.error = RemoteProtocolError("the upstream closed the connection without answering")
        self._wake()
        if self.writable is not None:
            self.writable.set()  # a body being written stops at its next piece
        if self.idle_since:
            self.pool.lost(self)

    # -- httptools callbacks ---------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_list.append((name, value))

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the real one follows
            self.header_list = []
            return
        self.status = status
        for name, value in self.header_list:
            low = name.lower()
            if low == b"content-length" or (low == b"transfer-encoding" and b"chunked" in value.lower()):
                self.framed = True
        if status in (204, 304):
            self.framed = True
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.paused and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if not self.head_done:
            return  # an interim (1xx) message ended
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True


class Response:
    """An upstream response whose head arrived; its body is read once, then ``aclose``."""

    __slots__ = ("_conn", "_content", "_decoder", "_flowing", "_timeouts", "headers", "status_code")

    def __init__(self, conn: _Connection, timeouts: Timeouts):
        self.status_code = conn.status
        headers: dict[str, str] = {}
        for name, value in conn.header_list:
            key, text = name.decode("latin-1").lower(), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self.headers = headers  # lower-case names; repeated ones joined with ", "
        self._conn: _Connection | None = conn
        self._timeouts = timeouts
        self._flowing = False  # a body piece arrived: later waits are bounded by the idle timeout
        self._content: bytes | None = None
        encoding = headers.get("content-encoding", "").strip().lower()
        self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 32) if encoding in ("gzip", "deflate", "x-gzip") else None

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives (each piece everything received since the last)."""
        conn = self._conn
        if conn is None:
            if self._content:
                yield self._content
            return
        while True:
            piece = await self._read(conn)
            if piece is None:
                self._conn = None
                conn.finished()
                if self._decoder is not None and (tail := self._decoder.flush()):
                    yield tail
                return
            if self._decoder is not None:
                piece = _decode(self._decoder, piece)
            if piece:
                yield piece

    async def aread(self) -> bytes:
        if self._content is not None:
            return self._content
        conn = self._conn
        if conn is None:
            raise ReadError("the response was closed before its body was read")
        pieces = []
        while (piece := await self._read(conn)) is not None:
            pieces.append(piece)
        self._conn = None
        conn.finished()
        content = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        if self._decoder is not None:
            content = _decode(self._decoder, content) + self._decoder.flush()
        self._content = content
        return content

    async def _read(self, conn: _Connection) -> bytes | None:
        """The next body piece within the first-byte or idle timeout, and the deadline."""
        t = self._timeouts
        idle = self._flowing and t.idle > 0
        wait, by_deadline = t.bounded(t.idle if idle else t.read)
        try:
            if by_deadline and not wait:
                raise ReadTimeout("deadline")
            piece = await conn.read(wait)
        except ReadTimeout:
            if by_deadline:
                raise DeadlineExceeded("the answer ran past the request's deadline") from None
            if idle:
                raise IdleTimeout("the upstream stopped sending in the middle of its answer") from None
            raise
        if piece:
            self._flowing = True
        return piece

    async def aclose(self) -> None:
        """Done with it: a body not read to the end closes the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.pool.drop(conn)

    def __del__(self) -> None:
        conn = self._conn
        if conn is not None:  # never closed (a generator that never ran): do not leak the slot
            with contextlib.suppress(Exception):  # the loop may be gone
                conn.pool.drop(conn)


def _decode(decoder, piece: bytes) -> bytes:
    try:
        return decoder.decompress(piece)
    except zlib.error as exc:
        raise RemoteProtocolError(f"undecodable compressed body: {exc}") from None
