"""``make bench``'s load generator: a lean HTTP/1.1 client on raw asyncio protocols (one
keep-alive connection per concurrent worker, requests pre-encoded, responses parsed only as
far as needed: status, a few headers, Content-Length / chunked / until-close framing), so
the client costs a few tens of microseconds of CPU per request and is not the bottleneck.

Times are taken in the protocol's callbacks (``time.perf_counter``): TTFB is the arrival of
the first body byte (a stream's first event), total the arrival of the last.

- ``closed_loop``: ``concurrency`` workers, each sending its next request when the previous
  one is answered;
- ``open_loop``: requests at a fixed arrival rate, whatever the answers do; a request's
  latency runs from its scheduled send time (no coordinated omission), and a request whose
  time comes while every one of ``max_connections`` connections is busy is dropped (an error,
  as k6's dropped iterations).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import msgspec


@dataclass(frozen=True)
class Target:
    """Where a path of the benchmark sends its chat completions."""

    name: str
    url: str  # the full …/chat/completions URL
    key: str
    model: str

    @property
    def address(self) -> tuple[str, int, str]:
        parts = urlsplit(self.url)
        if parts.scheme != "http":
            raise SystemExit(f"{self.name}: only http:// URLs are benchmarked, not {self.url}")
        return parts.hostname or "127.0.0.1", parts.port or 80, parts.path + (f"?{parts.query}" if parts.query else "")

    def request(self, body: dict[str, Any]) -> bytes:
        """The raw HTTP/1.1 request posting ``body`` (with this target's model)."""
        host, port, path = self.address
        payload = msgspec.json.encode({**body, "model": self.model})
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\nauthorization: Bearer {self.key}\r\n"
            f"content-type: application/json\r\naccept: */*\r\ncontent-length: {len(payload)}\r\n\r\n"
        )
        return head.encode() + payload


class Reply(msgspec.Struct):
    status: int = 0
    first_byte: float = 0.0  # perf_counter at the first body byte
    done: float = 0.0  # perf_counter at the last byte
    overhead_ms: float | None = None  # x-tollgate-overhead-ms
    tail: bytes = b""  # the body's last bytes (a stream must end with [DONE])
    error: str = ""


class Connection(asyncio.Protocol):
    """One keep-alive connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Reply] | None = None
        self.reply = Reply()
        self.state = "head"  # head | length | chunk-size | chunk-data | trailer | until-close
        self.remaining = 0
        self.closed = False
        self.idle_since = 0.0  # perf_counter when it went back to its pool

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        _, protocol = await asyncio.get_running_loop().create_connection(cls, host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream protocol's transport is an asyncio.Transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            if self.state == "until-close":
                self.reply.done = time.perf_counter()
                self.waiter.set_result(self.reply)
            else:
                self.reply.error = f"connection lost ({exc or 'closed by the server'})"
                self.waiter.set_result(self.reply)

    def send(self, raw: bytes) -> asyncio.Future[Reply]:
        self.waiter = asyncio.get_running_loop().create_future()
        self.reply, self.state = Reply(), "head"
        if self.closed:
            self.reply.error = "connection closed"
            self.waiter.set_result(self.reply)
        else:
            self.transport.write(raw)  # type: ignore[union-attr]  # connected: requests are sent only after connection_made
        return self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buf = self.buffer
        buf += data
        reply = self.reply
        while True:
            if self.state == "head":
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                if not self._head(bytes(buf[:end])):
                    del buf[: end + 4]
                    continue  # 1xx: the real head follows
                del buf[: end + 4]
                if self.state == "done":
                    return self._finish(now)
                continue
            if buf and not reply.first_byte:
                reply.first_byte = now
            if self.state == "length":
                n = min(self.remaining, len(buf))
                self._keep_tail(buf, n)
                del buf[:n]
                self.remaining -= n
                if self.remaining == 0:
                    return self._finish(now)
                return
            if self.state == "chunk-size":
                eol = buf.find(b"\r\n")
                if eol < 0:
                    return
                size = int(bytes(buf[:eol]).split(b";")[0], 16)
                del buf[: eol + 2]
                self.state, self.remaining = ("trailer", 0) if size == 0 else ("chunk-data", size + 2)
                continue
            if self.state == "chunk-data":
                n = min(self.remaining, len(buf))
                self._keep_tail(buf, n)
                del buf[:n]
                self.remaining -= n
                if self.remaining:
                    return
                self.state = "chunk-size"
                continue
            if self.state == "trailer":
                eol = buf.find(b"\r\n")
                if eol < 0:
                    return
                del buf[: eol + 2]
                if eol == 0:
                    return self._finish(now)
                continue
            if self.state == "until-close":
                self._keep_tail(buf, len(buf))
                del buf[:]
                return
            return

    def _keep_tail(self, buf: bytearray, n: int) -> None:
        if n:
            self.reply.tail = (self.reply.tail + bytes(buf[:n]))[-32:]

    def _head(self, head: bytes) -> bool:
        """Read the status line and headers; False for an interim (1xx) answer."""
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        if status < 200:
            return False
        self.reply.status = status
        length, chunked = None, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"x-tollgate-overhead-ms":
                self.reply.overhead_ms = float(value)
        if chunked:
            self.state = "chunk-size"
        elif length is not None:
            self.state, self.remaining = ("length", length) if length else ("done", 0)
        else:
            self.state = "until-close"
        return True

    def _finish(self, now: float) -> None:
        self.reply.done = now
        if not self.reply.first_byte:
            self.reply.first_byte = now
        self.state = "head"
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(self.reply)


@dataclass
class Run:
    """What one run of one target measured (milliseconds)."""

    latencies: list[float] = field(default_factory=list)  # send (or scheduled send) to last byte
    ttfb: list[float] = field(default_factory=list)  # send to first body byte
    overheads: list[float] = field(default_factory=list)  # x-tollgate-overhead-ms
    ok: int = 0
    errors: int = 0
    dropped: int = 0  # open loop: no free connection at the scheduled time
    unfinished: int = 0  # open loop: still unanswered when the run gave up waiting (sent: may be metered)
    error_samples: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def add(self, other: Run) -> None:
        for name in ("latencies", "ttfb", "overheads", "error_samples"):
            getattr(self, name).extend(getattr(other, name))
        for name in ("ok", "errors", "dropped", "unfinished"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.elapsed_s += other.elapsed_s

    def record(self, reply: Reply, started: float, stream: bool) -> None:
        if reply.error or reply.status != 200 or (stream and b"[DONE]" not in reply.tail):
            self.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(
                    reply.error or f"HTTP {reply.status}" + (" (stream without [DONE])" if reply.status == 200 else "")
                )
            return
        self.ok += 1
        self.latencies.append((reply.done - started) * 1000)
        self.ttfb.append((reply.first_byte - started) * 1000)
        if reply.overhead_ms is not None:
            self.overheads.append(reply.overhead_ms)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s else 0.0


class Pool:
    """Idle keep-alive connections to one target, kept across runs. A connection idle for
    ``max_idle_s`` is closed rather than reused (as httpx's keepalive_expiry): servers close
    idle ones (uvicorn after 5 s), and a request written as the server closes is reset."""

    def __init__(self, target: Target, max_idle_s: float = 2.0):
        self.target, self.max_idle_s = target, max_idle_s
        self.host, self.port, _ = target.address
        self.idle: list[Connection] = []

    async def get(self) -> Connection:
        return self.take() or await Connection.open(self.host, self.port)

    def take(self) -> Connection | None:
        """The most recently used idle connection, or None."""
        fresh = time.perf_counter() - self.max_idle_s
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed and conn.idle_since > fresh:
                return conn
            conn.close()
        return None

    def put(self, conn: Connection) -> None:
        if not conn.closed:
            conn.idle_since = time.perf_counter()
            self.idle.append(conn)

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


async def closed_loop(
    pool: Pool, raw: bytes, requests: int, concurrency: int, stream: bool, timeout: float = 30.0, seconds: float = 0.0
) -> Run:
    """``requests`` requests from ``concurrency`` workers (or as many as fit in ``seconds``)."""
    run = Run()
    deadline = time.perf_counter() + seconds
    left = iter(range(requests)) if not seconds else iter(lambda: time.perf_counter() < deadline, False)

    async def worker() -> None:
        conn = await pool.get()
        try:
            for _ in left:
                started = time.perf_counter()
                try:
                    reply = await asyncio.wait_for(conn.send(raw), timeout)
                except TimeoutError:
                    reply = Reply(error=f"no answer within {timeout:.0f}s")
                    conn.close()
                run.record(reply, started, stream)
                if conn.closed:
                    conn = await pool.get()
        finally:
            pool.put(conn)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    run.elapsed_s = time.perf_counter() - started
    return run


async def open_loop(
    pool: Pool, raw: bytes, rate: float, duration: float, max_connections: int, stream: bool = False, grace_s: float = 30.0
) -> Run:
    run = Run()
    total = int(rate * duration)
    tasks: set[asyncio.Task] = set()
    last_done = 0.0

    async def one(conn: Connection | None, scheduled: float) -> None:
        nonlocal last_done
        try:
            conn = conn or await pool.get()
        except OSError as exc:
            run.record(Reply(error=f"connect: {exc}"), scheduled, stream)
            return
        try:
            reply = await conn.send(raw)
        except asyncio.CancelledError:
            conn.close()  # given up on: its connection goes too
            raise
        run.record(reply, scheduled, stream)
        last_done = max(last_done, reply.done or time.perf_counter())
        pool.put(conn)

    start = time.perf_counter() + 0.01
    i = 0
    while i < total:
        now = time.perf_counter()
        due = start + i / rate
        if due > now:
            await asyncio.sleep(due - now)
            continue
        while i < total and start + i / rate <= now:
            conn = pool.take()
            if conn is None and len(tasks) >= max_connections:  # every connection busy (one per request in flight)
                run.dropped += 1
            else:
                task = asyncio.get_running_loop().create_task(one(conn, start + i / rate))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            i += 1
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=grace_s)
        for task in pending:
            task.cancel()
        run.unfinished = len(pending)
    run.errors += run.dropped + run.unfinished
    run.elapsed_s = (time.perf_counter() if run.unfinished or not last_done else last_done) - start
    return run


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
