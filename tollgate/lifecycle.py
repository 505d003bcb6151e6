"""One way to start and stop every service.

``run_service(name, main)`` sets up telemetry, installs SIGINT/SIGTERM handlers and
runs ``main(stack, settings, log)`` inside an ``AsyncExitStack``. ``main`` registers
what it starts (NATS connections, gRPC servers, ASGI servers, background tasks) with
the stack; on a signal the stack unwinds in reverse order: HTTP and gRPC stop
accepting and finish in-flight calls, consumers stop, NATS connections drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

import grpc
import uvicorn

from tollgate import bus, files, http_protocol, tracing
from tollgate.settings import Settings
from tollgate.telemetry import Log, setup_telemetry

Main = Callable[[AsyncExitStack, Settings, Log], Awaitable[None]]


def run_service(name: str, main: Main, settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    files.private_dir(settings.data_path)  # 0700: what the services keep there is nobody else's to read
    log = setup_telemetry(name, settings.log_level, settings.log_format)
    runner: Callable[[Coroutine[Any, Any, None]], None]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):  # pragma: no cover
        runner(_serve(name, main, settings, log))
    sys.exit(0)


class _StartupExit(Exception):
    """A ``SystemExit`` from start-up, carried out of its task (asyncio lets a task's
    ``SystemExit`` escape the event loop, past the exit stack)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


async def _start(main: Main, stack: AsyncExitStack, settings: Settings, log: Log) -> None:
    try:
        await main(stack, settings, log)
    except SystemExit as exc:
        raise _StartupExit(exc.code) from None


async def _serve(name: str, main: Main, settings: Settings, log: Log) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        tracing.shutdown_at_exit(stack)  # first in, last out: flushes the spans of everything below
        # A signal during start-up (NATS or a database not there yet) cancels it; what it had
        # started unwinds with the stack, so the process never waits out a kill timeout.
        starting = asyncio.ensure_future(_start(main, stack, settings, log))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
                log.info("service stopping during start-up")
            else:
                try:
                    starting.result()  # a start-up failure ends the process with its error
                except _StartupExit as exc:
                    raise SystemExit(exc.code) from None  # raised here, not in a task: the stack unwinds first
                log.info("service ready")
                tune_gc(settings.gc_threshold, log)
                await stopping
                log.info("service stopping")
        finally:
            stopping.cancel()
    log.info("service stopped")


def tune_gc(threshold: int, log: Log) -> None:
    """Once a service is up: what start-up allocated (modules, the app, tables) moves to the
    collector's permanent generation, and the youngest generation is collected every
    ``threshold`` allocations instead of CPython's 700 (0 leaves the collector as it is).

    Measured (py-spy, metering draining a backlog in 50,000-event batches): a third of its
    CPU was ``gc_collect_main`` walking start-up's objects and each batch's events again and
    again; reference counting frees almost everything these services allocate, so the
    collector only has cycles to find, and finds them as well every 50,000 allocations."""
    if threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(threshold, gen1, gen2)
    log.debug("gc tuned", threshold=threshold, frozen=gc.get_freeze_count())


async def nats_connection(stack: AsyncExitStack, settings: Settings, name: str):
    nc = await bus.connect(settings.nats_url, name=name)
    stack.push_async_callback(_drain, nc)
    return nc


def nats_in_background(stack: AsyncExitStack, settings: Settings, name: str, on_connect: Callable[[object], Awaitable[None]], log: Log):
    """A NATS client connected in the background, so the service starts and serves while NATS
    is away; ``on_connect(nc)`` (subscriptions, stream set-up) runs once, when it first connects.
    Returns the client at once (not yet connected)."""
    nc, connecting = bus.connect_later(settings.nats_url, name=name)

    async def connected() -> None:
        await connecting
        log.info("nats connected", url=settings.nats_url)
        await on_connect(nc)

    task = asyncio.ensure_future(connected())

    async def close() -> None:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            with contextlib.suppress(Exception):
                await nc.close()
        else:
            await _drain(nc)

    stack.push_async_callback(close)
    return nc


async def _drain(nc) -> None:
    try:
        await asyncio.wait_for(nc.drain(), 5.0)
    except Exception:
        with contextlib.suppress(Exception):
            await nc.close()


async def grpc_server(
    stack: AsyncExitStack, settings: Settings, addr: str, register: Callable[[grpc.aio.Server], None], interceptors=()
) -> grpc.aio.Server:
    server = grpc.aio.server(interceptors=[*tracing.server_interceptors(), *interceptors], options=[("grpc.so_reuseport", 0)])
    register(server)
    if server.add_insecure_port(addr) == 0:
        raise SystemExit(f"cannot bind gRPC server to {addr}")
    await server.start()
    stack.push_async_callback(server.stop, settings.grpc_shutdown_grace_s)
    return server


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our own lifecycle: signals are ours, not uvicorn's."""

    def capture_signals(self):
        return contextlib.nullcontext()


class _InFlight:
    """ASGI wrapper that knows the tasks of the HTTP requests in flight. uvicorn cancels those
    still running when the grace period ends but does not wait for them; their clean-up
    (a cut stream's usage event, its balance hold) must finish before what it uses shuts down."""

    def __init__(self, app):
        self.app = app
        self.tasks: set[asyncio.Task] = set()

    async def __call__(self, scope, receive, send):
        task = asyncio.current_task() if scope["type"] == "http" else None
        if task is not None:
            self.tasks.add(task)
        try:
            await self.app(scope, receive, send)
        finally:
            if task is not None:
                self.tasks.discard(task)

    async def settle(self, timeout_s: float = 5.0) -> None:
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout_s)


async def asgi_server(
    stack: AsyncExitStack, app, host: str, port: int, grace_s: float = 10.0, header_timeout_s: float = 10.0, reuse_port: bool = False
) -> None:
    """Serve ``app``; at shutdown stop accepting at once and give requests and streams in
    flight ``grace_s`` seconds to finish; those still running are cancelled, and their
    clean-up is awaited before the next resource in the stack shuts down. A request whose
    headers take longer than ``header_timeout_s`` gets 408; one uvicorn cannot parse gets
    400 — both in JSON, shaped by ``app.state.transport_error_body(path, error)`` when the
    app has one (``http_protocol``)."""
    http = http_protocol.protocol_class(getattr(getattr(app, "state", None), "transport_error_body", None), header_timeout_s)
    app = _InFlight(app)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        loop="none",
        timeout_graceful_shutdown=grace_s,  # type: ignore[arg-type]  # annotated int, used as a wait_for timeout: fractions work
        http=http,
        # No service speaks WebSocket: an upgrade request is served as plain HTTP (uvicorn's own
        # refusal is an empty text/plain 403).
        ws="none",
    )
    server = _EmbeddedServer(config)
    sockets = [_reuse_port_socket(host, port)] if reuse_port else None  # several processes share the port
    task = asyncio.create_task(server.serve(sockets))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise SystemExit(f"HTTP server on {host}:{port} exited during start-up")
            await asyncio.sleep(0.01)
    except asyncio.CancelledError:  # a signal during start-up: let the server finish starting, then stop it
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(task), 5.0)
        raise

    async def _stop() -> None:
        server.should_exit = True
        await task
        await app.settle()

    stack.push_async_callback(_stop)


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket with SO_REUSEPORT: every process that binds the port this way gets a
    share of its new connections from the kernel."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"cannot bind {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def background(
    stack: AsyncExitStack, run: Callable[[asyncio.Event], Coroutine[Any, Any, None]], name: str, grace: float = 10.0
) -> asyncio.Task[None]:
    """Run ``run(stop)`` as a task; at shutdown set ``stop`` and give it ``grace`` seconds
    to finish what it holds (a consumer acks its batch) before cancelling it."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(stop), name=name)

    async def _stop() -> None:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    stack.push_async_callback(_stop)
    return task
