"""Readiness checks and their HTTP / gRPC faces (tollgate.health), the gRPC server metrics
(tollgate.metrics.GrpcMetrics), the router's channel-state gauge, the edge's request
metrics middleware and the usage publisher's failure counts: against a real nats-server,
a real gRPC server and a real Litestar app."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from litestar import Litestar, Request, Response, get
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from services.edge.context import SCOPE_KEY
from services.edge.metrics import EdgeMetrics
from services.edge.middleware import timing_middleware
from services.edge.publisher import UsagePublisher
from services.router.catalog import parse
from services.router.health import ChannelStateCollector
from services.router.table import RoutingTable
from tollgate import bus, events, health
from tollgate.errors import BadRequest
from tollgate.metrics import GrpcMetrics
from tools.stack import free_ports, nats_server_binary

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset], float]:
    from prometheus_client import generate_latest

    return parse_text(generate_latest(registry).decode())


def parse_text(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value for f in text_string_to_metric_families(text) for s in f.samples}


async def until(predicate, timeout: float = 10.0, step: float = 0.05) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(step)


# -- Readiness ---------------------------------------------------------------------------


async def ok() -> str:
    return "fine"


async def refuses() -> str:
    raise health.NotReady("down for a reason")


async def leaks() -> str:
    raise RuntimeError("connection to postgresql://admin:s3cret@db failed")


async def test_readiness_passes_only_when_every_check_does():
    r = health.Readiness().add("a", ok)
    report = await r.evaluate()
    assert report.ready and report.body() == {"status": "ready", "checks": {"a": {"ok": True, "detail": "fine"}}}
    r.add("b", refuses)
    report = await r.evaluate()
    assert not report.ready and report.failing == ["b"] and report.checks["b"].detail == "down for a reason"


async def test_a_failure_is_reported_by_type_never_by_its_message():
    report = await health.Readiness().add("db", leaks).evaluate()
    assert report.checks["db"] == health.Result(False, "failed (RuntimeError)")
    assert "s3cret" not in str(report.body())


async def test_a_slow_check_times_out_and_is_joined_not_stacked():
    started = 0
    release = asyncio.Event()

    async def slow() -> str:
        nonlocal started
        started += 1
        await release.wait()
        return "late"

    r = health.Readiness(timeout_s=0.05).add("slow", slow)
    first, second = await asyncio.gather(r.evaluate(), r.evaluate())
    assert not first.ready and first.checks["slow"].detail == "no answer within 0.05s"
    assert not second.ready and started == 1  # the second evaluation joined the running check
    await r.evaluate()
    assert started == 1
    release.set()
    assert (await r.evaluate()).ready and started == 2  # a finished check runs afresh: answers are never stale


async def test_draining_is_not_ready_whatever_the_checks_say():
    r = health.Readiness().add("a", ok)
    r.drain()
    report = await r.evaluate()
    assert not report.ready and report.body()["status"] == "draining"


async def test_http_routes_answer_readyz_and_metrics():
    registry = CollectorRegistry()
    metrics = EdgeMetrics(registry)
    metrics.request("chat", "sim-1", 200, 0.1, 0.001)
    state = {"up": True}

    async def flappy() -> str:
        if not state["up"]:
            raise health.NotReady("gone")
        return "up"

    app = Litestar(route_handlers=health.http_routes(health.Readiness().add("dep", flappy), registry, liveness=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["dep"] == {"ok": True, "detail": "up"}
        state["up"] = False
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503 and not_ready.json() == {
            "status": "not_ready",
            "checks": {"dep": {"ok": False, "detail": "gone"}},
        }
        scraped = await client.get("/metrics")
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    values = parse_text(scraped.text)
    assert values[("tollgate_edge_requests_total", frozenset({"endpoint": "chat", "model": "sim-1", "status": "200"}.items()))] == 1


# -- real NATS: readiness, gRPC health, the usage publisher --------------------------------


@pytest.fixture
def nats_port(tmp_path):
    """A nats-server (JetStream) on a free port; ``stop()`` kills it mid-test."""
    [port] = free_ports(1)
    proc = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path / "nats")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield port, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)


async def connect(port: int):
    for _ in range(100):
        with contextlib.suppress(Exception):
            return await bus.connect(f"nats://127.0.0.1:{port}", name="test", connect_timeout=1)
        await asyncio.sleep(0.05)
    raise AssertionError("nats-server did not come up")


async def test_an_informational_check_is_shown_but_does_not_decide():
    async def down() -> str:
        raise health.NotReady("reconnecting")

    async def up() -> str:
        return "ok"

    report = await health.Readiness().add("nats", down, required=False).add("store", up).evaluate()
    assert report.ready and report.checks["nats"] == health.Result(False, "reconnecting")
    report = await health.Readiness().add("nats", up, required=False).add("store", down).evaluate()
    assert not report.ready


async def test_nats_outage_turns_readyz_503_and_grpc_health_not_serving(nats_port):
    port, proc = nats_port
    nc = await connect(port)
    readiness = health.Readiness(timeout_s=1.0).add("nats", health.nats_check(nc))
    grpc_health = health.GrpcHealth(readiness, ["tollgate.test.v1.Thing"], interval_s=0.1)
    server = grpc.aio.server()
    grpc_health.register(server)
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    stop = asyncio.Event()
    watcher = asyncio.create_task(grpc_health.run(stop))
    app = Litestar(route_handlers=health.http_routes(readiness, CollectorRegistry()))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
    stub = health_pb2_grpc.HealthStub(channel)

    async def status(service: str = "") -> int:
        return (await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)).status

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/readyz")).status_code == 200
            await until(lambda: _is(status(), SERVING))
            assert await status("tollgate.test.v1.Thing") == SERVING

            proc.kill()  # NATS goes away
            proc.wait(10)
            await until(lambda: _is(status(), NOT_SERVING))
            assert await status("tollgate.test.v1.Thing") == NOT_SERVING
            answer = await client.get("/readyz")
            assert answer.status_code == 503
            assert answer.json()["checks"]["nats"]["ok"] is False

            await grpc_health.shutdown()  # shutdown: NOT_SERVING for good, even if checks pass again
            assert readiness.draining and await status() == NOT_SERVING
    finally:
        stop.set()
        await watcher
        await channel.close()
        await server.stop(None)
        await nc.close()


async def _is(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_usage_publisher_counts_failures_and_pending_until_jetstream_acknowledges(nats_port):
    port, _ = nats_port
    nc = await connect(port)
    js = nc.jetstream()
    log = _SilentLog()
    publisher = UsagePublisher(js, log, maxsize=10, workers=1)
    registry = CollectorRegistry()
    EdgeMetrics(registry).watch_publisher(publisher)
    publisher.start()
    try:
        publisher.submit(events.UsageEvent(request_id="req_metrics_1", occurred_at_ms=1, account_id="acct", key_id="key"))
        # No USAGE stream yet: JetStream cannot acknowledge, the publisher retries.
        await until(lambda: _true(publisher.failures >= 2), timeout=10)
        values = samples(registry)
        assert values[("tollgate_edge_usage_events_pending", frozenset())] == 1
        assert values[("tollgate_edge_usage_publish_failures_total", frozenset())] >= 2
        await bus.ensure_streams(js)
        await until(lambda: _true(publisher.published == 1), timeout=15)
        values = samples(registry)
        assert values[("tollgate_edge_usage_events_pending", frozenset())] == 0
        assert values[("tollgate_edge_usage_events_published_total", frozenset())] == 1
    finally:
        await publisher.close(timeout=1)
        await nc.close()


async def _true(value: bool) -> bool:
    return value


class _SilentLog:
    def __getattr__(self, _name):
        return lambda *a, **k: None


# -- gRPC server metrics -----------------------------------------------------------------


async def test_grpc_metrics_count_unary_and_streaming_calls_by_status_code():
    registry = CollectorRegistry()
    servicer = health.GrpcHealth(health.Readiness(), ["tollgate.test.v1.Thing"])
    await servicer.update()
    server = grpc.aio.server(interceptors=[GrpcMetrics(registry)])
    servicer.register(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = health_pb2_grpc.HealthStub(channel)
    check, watch = "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"
    try:
        await stub.Check(health_pb2.HealthCheckRequest(service=""))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Check(health_pb2.HealthCheckRequest(service="nope"))
        assert err.value.code() is grpc.StatusCode.NOT_FOUND
        call = stub.Watch(health_pb2.HealthCheckRequest(service=""))  # server streaming (context.write style)
        assert (await call.read()).status == SERVING
        call.cancel()
        with pytest.raises(grpc.aio.AioRpcError) as err:  # a method the server does not have: not counted
            await channel.unary_unary("/tollgate.Nope/Nothing")(b"")
        assert err.value.code() is grpc.StatusCode.UNIMPLEMENTED

        def handled(method: str, code: str) -> float:
            return samples(registry).get(("tollgate_grpc_server_handled_total", frozenset({"method": method, "code": code}.items())), 0)

        assert handled(check, "OK") == 1 and handled(check, "NOT_FOUND") == 1
        await until(lambda: _true(handled(watch, "CANCELLED") == 1))
        values = samples(registry)
        assert values[("tollgate_grpc_server_seconds_count", frozenset({"method": check}.items()))] == 2
        assert not [key for key in values if dict(key[1]).get("method", "").startswith("/tollgate.Nope")]
    finally:
        await channel.close()
        await server.stop(None)


# -- router: channel state gauge ----------------------------------------------------------

CATALOG = b"""
[health]
min_samples = 2

[[models]]
id = "m"

[[channels]]
id = "a"
provider = "openai"
base_url = "https://a.test/v1"
models = { "m" = "m-a" }

[[channels]]
id = "b"
provider = "groq"
base_url = "https://b.test/v1"
models = { "m" = "m-b" }
"""


def test_channel_state_gauge_follows_the_breaker():
    table = RoutingTable(parse(CATALOG, version=1))
    registry = CollectorRegistry()
    registry.register(ChannelStateCollector(table))

    def state(channel: str, provider: str) -> float:
        return samples(registry)[("tollgate_router_channel_state", frozenset({"channel": channel, "provider": provider}.items()))]

    assert (state("a", "openai"), state("b", "groq")) == (0, 0)
    for _ in range(2):
        table.record(events.ChannelOutcome(channel_id="a", model="m", kind="error"))
    table.set_enabled("b", False, "maintenance")
    assert (state("a", "openai"), state("b", "groq")) == (2, 4)


# -- edge: request metrics from the middleware -------------------------------------------


@get(["/t/routed", "/t/unrouted"])
async def handler(request: Request) -> Response:
    timer = request.scope[SCOPE_KEY]
    timer.endpoint = "chat"
    if request.url.path == "/t/routed":
        timer.model = "sim-1"
        return Response({"ok": True})
    return Response(BadRequest("nope").to_openai(), status_code=400)  # never routed: no model


async def test_middleware_counts_requests_by_endpoint_model_and_status():
    app = Litestar(route_handlers=[handler, *health.http_routes(health.Readiness(), CollectorRegistry())], middleware=[timing_middleware])
    metrics = EdgeMetrics()
    app.state.edge = type("FakeEdge", (), {"metrics": metrics})()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/t/routed")).status_code == 200
        assert (await client.get("/t/unrouted")).status_code == 400
        await client.get("/readyz")  # not an API call: not counted
    values = samples(metrics.registry)

    def count(model: str, status: str) -> float | None:
        return values.get(("tollgate_edge_requests_total", frozenset({"endpoint": "chat", "model": model, "status": status}.items())))

    assert count("sim-1", "200") == 1 and count("unknown", "400") == 1
    assert values[("tollgate_edge_gateway_overhead_seconds_count", frozenset({"endpoint": "chat"}.items()))] == 2
    assert sum(v for (name, _), v in values.items() if name == "tollgate_edge_requests_total") == 2
