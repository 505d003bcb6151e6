"""Liveness, readiness and the standard gRPC health service, shared by every service.

A ``Readiness`` holds named checks (NATS connected, a store answering, a gRPC peer
reachable); each is an async callable that returns a short detail when it passes and
raises (``NotReady`` with a reason, or anything else) when it does not. ``evaluate()``
runs them concurrently, each bounded by ``timeout_s`` and single-flight (a slow check is
joined, never stacked up), and reports ready when all pass and the service is not
shutting down.

- HTTP services (edge, metering) serve it as ``GET /readyz`` (200 or 503 with every
  check's result) next to ``GET /metrics`` (``http_routes``); ``/healthz`` is liveness.
- gRPC services (accounts, router) serve ``grpc.health.v1.Health`` (``GrpcHealth``):
  SERVING / NOT_SERVING for the server ("") and each named service, re-evaluated
  every ``interval_s``, and NOT_SERVING for good once shutdown starts.

Details and reasons never carry exception messages (a DSN may hold a password): a
failure that is not a ``NotReady`` is reported by its type name.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import grpc
from litestar import Response, get
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from tollgate.telemetry import Log

Check = Callable[[], Awaitable[str]]


class NotReady(Exception):
    """A check failed; the message is the reason shown by /readyz (no secrets)."""


@dataclass(frozen=True, slots=True)
class Result:
    ok: bool
    detail: str


@dataclass(slots=True)
class Report:
    ready: bool
    checks: dict[str, Result] = field(default_factory=dict)
    draining: bool = False

    @property
    def failing(self) -> list[str]:
        return [name for name, result in self.checks.items() if not result.ok]

    def body(self) -> dict[str, Any]:
        status = "draining" if self.draining else "ready" if self.ready else "not_ready"
        return {"status": status, "checks": {name: {"ok": r.ok, "detail": r.detail} for name, r in self.checks.items()}}


class Readiness:
    def __init__(self, *, timeout_s: float = 2.0):
        self.timeout_s = timeout_s
        self.draining = False
        self._checks: dict[str, Check] = {}
        self._informational: set[str] = set()
        self._running: dict[str, asyncio.Future] = {}

    def add(self, name: str, check: Check, *, required: bool = True) -> Readiness:
        """``required=False``: reported by /readyz but not deciding it (e.g. NATS for a service
        that serves without it)."""
        self._checks[name] = check
        if not required:
            self._informational.add(name)
        return self

    def drain(self) -> None:
        """Shutdown started: not ready from now on, whatever the checks say."""
        self.draining = True

    async def evaluate(self) -> Report:
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(name) for name in names))
        checks = dict(zip(names, results, strict=True))
        ready = all(r.ok for name, r in checks.items() if name not in self._informational)
        return Report(ready=not self.draining and ready, checks=checks, draining=self.draining)

    async def _run(self, name: str) -> Result:
        task = self._running.get(name)
        if task is None or task.done():
            task = asyncio.ensure_future(self._checks[name]())
            task.add_done_callback(_retrieve)
            self._running[name] = task
        try:
            detail = await asyncio.wait_for(asyncio.shield(task), self.timeout_s)
        except TimeoutError:
            return Result(False, f"no answer within {self.timeout_s:g}s")
        except NotReady as exc:
            return Result(False, str(exc) or "not ready")
        except Exception as exc:  # the type only: a message may hold a DSN or a credential
            return Result(False, f"failed ({type(exc).__name__})")
        return Result(True, detail or "ok")


def _retrieve(task: asyncio.Future) -> None:
    """Mark a check's exception as seen when nobody awaited it any more (it timed out)."""
    if not task.cancelled():
        task.exception()


# -- checks ---------------------------------------------------------------------------


def nats_check(nc) -> Check:
    """Passes while the NATS client is connected (not while reconnecting, draining or closed)."""

    async def check() -> str:
        if nc.is_connected:
            return "connected"
        if getattr(nc, "is_reconnecting", False):
            raise NotReady("reconnecting")
        raise NotReady("closed" if nc.is_closed else "not connected")

    return check


def thread_check(probe: Callable[[], object], detail: str = "reachable") -> Check:
    """Passes when the blocking ``probe()`` (e.g. ``SELECT 1``) returns, run in a daemon
    thread of its own: a probe stuck on a dead socket fails the check by its timeout and
    never holds up the process's exit (the event loop's executor would be joined)."""

    async def check() -> str:
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if not done.done():
                done.set_exception(error) if error is not None else done.set_result(None)

        def run() -> None:
            try:
                probe()
                error = None
            except BaseException as exc:  # reported to the check, by type only
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(settle, error)

        threading.Thread(target=run, name="readiness-probe", daemon=True).start()
        await done
        return detail

    return check


def grpc_channel_check(channel: grpc.aio.Channel, *, cached: Callable[[], bool] | None = None, connect_s: float = 1.0) -> Check:
    """Passes when the channel is connected or connects within ``connect_s``; otherwise
    passes only while ``cached()`` says this process can still answer from its cache."""

    async def check() -> str:
        state = channel.get_state(try_to_connect=True)
        if state is grpc.ChannelConnectivity.READY:
            return "reachable"
        try:
            await asyncio.wait_for(channel.channel_ready(), connect_s)
        except TimeoutError:
            if cached is not None and cached():
                return "unreachable; answering from cache"
            raise NotReady(f"unreachable ({channel.get_state().name.lower()})") from None
        return "reachable"

    return check


# -- HTTP -----------------------------------------------------------------------------


def http_routes(readiness: Readiness, registry: CollectorRegistry | None, *, liveness: bool = False) -> list:
    """Litestar handlers: ``GET /readyz`` and ``GET /metrics`` (Prometheus text format 0.0.4
    of ``registry``; none when ``registry`` is None: it is served on a port of its own);
    ``GET /healthz`` too when the app has no liveness route of its own."""

    @get("/readyz")
    async def readyz() -> Response:
        report = await readiness.evaluate()
        return Response(report.body(), status_code=200 if report.ready else 503, headers={"cache-control": "no-store"})

    if registry is None:
        routes = [readyz]
    else:
        metered: CollectorRegistry = registry

        @get("/metrics")
        async def metrics() -> Response:
            return Response(generate_latest(metered), media_type=CONTENT_TYPE_PLAIN_0_0_4)

        routes = [readyz, metrics]
    if liveness:

        @get("/healthz")
        async def healthz() -> dict[str, Any]:
            return {"status": "ok"}

        routes.append(healthz)
    return routes


# -- gRPC -----------------------------------------------------------------------------


class GrpcHealth:
    """``grpc.health.v1.Health`` whose statuses follow a ``Readiness``.

    ``services`` are the full names of the server's services (``tollgate.accounts.v1.Accounts``);
    each, and the server as a whole (""), is SERVING exactly when the readiness is ready."""

    def __init__(self, readiness: Readiness, services: Iterable[str] = (), *, interval_s: float = 2.0, log: Log | None = None):
        from grpc_health.v1 import health

        self.readiness = readiness
        self.interval_s = interval_s
        self.servicer = health.aio.HealthServicer()
        self._names = ["", *services]
        self._log = log
        self.last: Report | None = None

    def register(self, server: grpc.aio.Server) -> None:
        from grpc_health.v1 import health_pb2_grpc

        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    async def update(self) -> Report:
        from grpc_health.v1 import health_pb2

        report = await self.readiness.evaluate()
        status = health_pb2.HealthCheckResponse.SERVING if report.ready else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in self._names:
            await self.servicer.set(name, status)
        if self._log is not None and (self.last is None or self.last.ready != report.ready) and not report.draining:
            if report.ready:
                self._log.info("ready", checks={n: r.detail for n, r in report.checks.items()})
            else:
                self._log.warning("not ready", failing={n: report.checks[n].detail for n in report.failing})
        self.last = report
        return report

    async def run(self, stop: asyncio.Event) -> None:
        """Re-evaluate every ``interval_s`` until ``stop``."""
        while not stop.is_set():
            try:
                await self.update()
            except Exception as exc:  # never let a bad check end the loop
                if self._log is not None:
                    self._log.warning("health update failed", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)

    async def shutdown(self) -> None:
        """NOT_SERVING for every service, for good."""
        self.readiness.drain()
        await self.servicer.enter_graceful_shutdown()


def service_name(pb2_module, service: str) -> str:
    """The full name of ``service`` in a generated ``*_pb2`` module, as health checks name it."""
    return pb2_module.DESCRIPTOR.services_by_name[service].full_name


def drain_first(stack: AsyncExitStack, readiness: Readiness, grpc_health: GrpcHealth | None = None) -> None:
    """Register, last, what must happen first when ``stack`` unwinds at shutdown: readiness
    turns 503 / NOT_SERVING before servers stop accepting and consumers stop. Call it at the
    end of a service's ``main``."""

    async def _drain() -> None:
        readiness.drain()
        if grpc_health is not None:
            await grpc_health.shutdown()

    stack.push_async_callback(_drain)
