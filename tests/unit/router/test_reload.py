"""The router process's wiring, in-process against a real nats-server: hot reload of the
catalog and the data-policy table, RoutingTableChanged notices, and channel health fed by
ChannelOutcome events over NATS."""

from __future__ import annotations

import asyncio
import inspect
import socket
import subprocess
import time
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import nats
import pytest

from services.router.__main__ import main
from tollgate import events
from tollgate.rpc import router_pb2 as pb
from tollgate.rpc import router_pb2_grpc as pb_grpc
from tollgate.settings import Settings
from tools.stack import free_port, nats_server_binary

CATALOG = """
[health]
cooldown_s = 1

[[models]]
id = "m1"

[[channels]]
id = "c1"
provider = "openai"
base_url = "https://c1.test/v1"
models = { "m1" = "up-m1" }
"""

EXTRA = """
[[models]]
id = "m2"

[[channels]]
id = "c2"
provider = "groq"
base_url = "https://c2.test/v1"
models = { "m2" = "up-m2" }
"""

POLICIES = "[vendors.{vendor}]\nstores_data = {stores}\nretention_days = {days}\ntrains_on_data = false\n"


@pytest.fixture(scope="module")
def nats_url():
    port = free_port()
    proc = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield f"nats://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


class RecordingLog:
    """Stands in for the service's structlog logger."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, dict]] = []

    def __getattr__(self, level: str):
        return lambda event, **kw: self.entries.append((level, event, kw))

    def at(self, level: str) -> list[tuple[str, dict]]:
        return [(event, kw) for lvl, event, kw in self.entries if lvl == level]


class Router:
    """A running router (services.router.__main__.main) plus a client and a NATS listener."""

    def __init__(self, nats_url: str, catalog: Path):
        self.settings = Settings(nats_url=nats_url, router_addr=f"127.0.0.1:{free_port()}", catalog=str(catalog))
        self.catalog = catalog
        self.notices: list[int] = []
        self.log = RecordingLog()

    async def __aenter__(self) -> Router:
        self._stack = AsyncExitStack()
        self.nc = await nats.connect(self.settings.nats_url)
        self._stack.push_async_callback(self.nc.close)

        async def on_notice(msg) -> None:
            self.notices.append(events.decode(events.ROUTING_CHANGED_SUBJECT, msg.data).table_version)

        await self.nc.subscribe(events.ROUTING_CHANGED_SUBJECT, cb=on_notice)
        await self.nc.flush()
        await main(self._stack, self.settings, self.log)
        channel = grpc.aio.insecure_channel(self.settings.router_addr)
        self._stack.push_async_callback(channel.close)
        self.stub = pb_grpc.RouterStub(channel)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._stack.aclose()

    async def version(self) -> int:
        return (await self.stub.ListModels(pb.ListModelsRequest())).table_version

    async def states(self) -> dict[str, str]:
        return {c.channel_id: c.state for c in (await self.stub.ListChannels(pb.ListChannelsRequest())).channels}

    async def report(self, channel: str, kind: str, **kw) -> None:
        await self.nc.publish(
            events.CHANNEL_OUTCOME_SUBJECT, events.encode(events.ChannelOutcome(channel_id=channel, model="m1", kind=kind, **kw))
        )
        await self.nc.flush()


async def until(check, timeout: float = 3.0):
    """Poll ``check`` (plain or async) until it returns something truthy, or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG)
    return path


async def test_reload_serves_the_new_catalog_and_notifies_edges(nats_url: str, catalog: Path) -> None:
    async with Router(nats_url, catalog) as router:
        assert await router.version() == 1
        assert await until(lambda: router.notices == [1])  # the start-up notice
        catalog.write_text(CATALOG + EXTRA)
        started = time.monotonic()
        assert await until(lambda: _has_model(router, "m2"))
        assert time.monotonic() - started < 1.0
        route = await router.stub.Route(pb.RouteRequest(model="m2"))
        assert (route.table_version, [c.channel_id for c in route.candidates]) == (2, ["c2"])
        assert await until(lambda: router.notices == [1, 2])
        # Touching the file without changing it is not a change.
        catalog.write_text(CATALOG + EXTRA)
        await asyncio.sleep(0.6)
        assert await router.version() == 2 and router.notices == [1, 2]


async def test_invalid_catalog_keeps_the_old_one(nats_url: str, catalog: Path) -> None:
    async with Router(nats_url, catalog) as router:
        catalog.write_text(CATALOG.replace('provider = "openai"', 'provider = "acme"'))
        assert await until(lambda: router.log.at("error"))
        [(event, fields)] = router.log.at("error")  # reported once, not on every poll
        assert event == "catalog reload failed; still serving the previous catalog"
        assert "unknown provider 'acme'" in fields["error"] and fields["table_version"] == 1
        route = await router.stub.Route(pb.RouteRequest(model="m1"))
        assert (route.table_version, route.candidates[0].channel_id) == (1, "c1")
        catalog.write_text("[[models]]\nid = 'm1'\n")  # routes to nothing: refused too
        await asyncio.sleep(0.6)
        assert await router.version() == 1 and router.notices == [1]
        catalog.write_text(CATALOG + EXTRA)  # fixed: served
        assert await until(lambda: _has_model(router, "m2"))
        assert await router.version() == 2


async def test_data_policy_table_changes_are_reloaded(nats_url: str, catalog: Path) -> None:
    table = catalog.parent / "data_policies.toml"
    table.write_text(POLICIES.format(vendor="openai", stores="true", days=30))
    async with Router(nats_url, catalog) as router:
        route = await router.stub.Route(pb.RouteRequest(model="m1"))
        assert (route.candidates[0].data_policy.retention_days, route.candidates[0].data_policy.zdr) == (30, False)
        table.write_text(POLICIES.format(vendor="openai", stores="false", days=0))

        async def zdr() -> bool:
            return (await router.stub.Route(pb.RouteRequest(model="m1"))).candidates[0].data_policy.zdr

        assert await until(zdr)
        table.write_text(POLICIES.format(vendor="someone-else", stores="false", days=0))  # c1's vendor vanished: refused
        await asyncio.sleep(0.6)
        assert await zdr() and await router.version() == 2


async def test_outcomes_over_nats_drive_health_and_notices(nats_url: str, catalog: Path) -> None:
    catalog.write_text(CATALOG + EXTRA)
    async with Router(nats_url, catalog) as router:
        await until(lambda: router.notices == [1])
        await router.nc.publish(events.CHANNEL_OUTCOME_SUBJECT, b"\xc1 not msgpack")  # ignored, not fatal
        await router.nc.publish(events.CHANNEL_OUTCOMES_SUBJECT, b"\xc1 not msgpack")  # a bad batch too
        failures = [events.ChannelOutcome(channel_id="c1", model="m1", kind="error", http_status=500) for _ in range(5)]
        await router.nc.publish(
            events.CHANNEL_OUTCOMES_SUBJECT, events.encode(events.ChannelOutcomes(outcomes=failures))
        )  # an edge's linger
        assert await until(lambda: _state_is(router, "c1", "open"))
        assert await until(lambda: router.notices == [1, 2])
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await router.stub.Route(pb.RouteRequest(model="m1"))
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # the model exists, its one channel is open
        # cooldown_s = 1: half-open with no new outcome, and edges are told within the tick.
        assert await until(lambda: router.notices == [1, 2, 3], timeout=2.0)
        assert (await router.states())["c1"] == "half_open"
        await router.report("c1", "ok", latency_ms=40)
        assert await until(lambda: _state_is(router, "c1", "closed"))

        await router.report("c2", "auth_failed", http_status=401)
        assert await until(lambda: _state_is(router, "c2", "disabled"))
        await router.stub.SetChannelEnabled(pb.SetChannelEnabledRequest(channel_id="c2", enabled=True))
        assert (await router.states())["c2"] == "closed"
        assert await until(lambda: router.notices[-1] == 6)  # open, half-open, closed, disabled, enabled


async def _has_model(router: Router, model: str) -> bool:
    try:
        await router.stub.Route(pb.RouteRequest(model=model))
    except grpc.aio.AioRpcError:
        return False
    return True


async def _state_is(router: Router, channel: str, state: str) -> bool:
    return (await router.states())[channel] == state
