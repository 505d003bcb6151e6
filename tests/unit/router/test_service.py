"""RouterService over a real grpc.aio server and client."""

from __future__ import annotations

import asyncio
import random

import grpc
import pytest

from services.router.catalog import parse
from services.router.service import RouterService
from services.router.table import RoutingTable
from tollgate import cli as tollgate_cli
from tollgate import events
from tollgate.rpc import router_pb2 as pb
from tollgate.rpc import router_pb2_grpc as pb_grpc

CATALOG = b"""
[defaults]
timeouts = { connect_ms = 5_000, total_ms = 600_000 }

[[models]]
id = "alpha"
aliases = ["vendor/alpha", "a"]
owned_by = "vendor"
created = 1700000000
context_length = 128_000
capabilities = ["chat", "tools"]
timeouts = { first_byte_ms = 120_000 }
[models.price]
input_per_mtok_micros = 1_000_000
output_per_mtok_micros = 2_000_000
cached_input_per_mtok_micros = 250_000
version = "v-alpha"

[[models]]
id = "beta"
price = { input_per_mtok_micros = 3, output_per_mtok_micros = 4, version = "v-beta" }

[[models]]
id = "orphan"
aliases = ["nobody-serves-me"]

[[channels]]
id = "primary"
provider = "openai"
base_url = "https://primary.test/v1/"
api_key_env = "PRIMARY_KEY"
region = "us"
priority = 10
weight = 3
models = { "alpha" = "alpha-2024-01-01", "beta" = "beta-up" }

[[channels]]
id = "backup"
provider = "groq"
base_url = "https://backup.test/openai/v1"
api_key_file = "/run/secrets/groq"
priority = 1
rpm = 60
tpm = 90_000
models = { "alpha" = "alpha-backup" }
prices = { "alpha" = { input_per_mtok_micros = 900_000, cache_write_per_mtok_micros = 1_250_000, version = "b1" } }
"""


@pytest.fixture(scope="module")
async def router():
    server = grpc.aio.server()
    pb_grpc.add_RouterServicer_to_server(RouterService(parse(CATALOG, version=42), rng=random.Random(0)), server)
    port = server.add_insecure_port("127.0.0.1:0")
    assert port > 0
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield pb_grpc.RouterStub(channel)
    finally:
        await channel.close()
        await server.stop(None)


async def test_route_by_alias_returns_ordered_candidates(router) -> None:
    resp = await router.Route(pb.RouteRequest(model="vendor/alpha"))
    assert resp.model == "alpha"
    assert resp.table_version == 42
    assert resp.price == pb.Price(
        input_per_mtok_micros=1_000_000, output_per_mtok_micros=2_000_000, cached_input_per_mtok_micros=250_000, version="v-alpha"
    )
    assert [c.channel_id for c in resp.candidates] == ["primary", "backup"]
    primary, backup = resp.candidates
    assert primary == pb.Candidate(
        channel_id="primary",
        provider="openai",
        base_url="https://primary.test/v1",
        api_key_env="PRIMARY_KEY",
        upstream_model="alpha-2024-01-01",
        priority=10,
        weight=3,
        data_policy=pb.DataPolicy(zdr=False, trains_on_data=False, retention_days=-1, vendor="openai"),
        region="us",
        state="closed",
    )
    assert (backup.provider, backup.upstream_model, backup.api_key_env, backup.priority, backup.weight) == (
        "groq",
        "alpha-backup",
        "",
        1,
        1,
    )
    assert (backup.api_key_file, backup.region, backup.state, backup.latency_ewma_ms) == ("/run/secrets/groq", "", "closed", 0.0)
    assert backup.data_policy == pb.DataPolicy(zdr=True, trains_on_data=False, retention_days=0, vendor="groq")
    # Model metadata: declared capabilities and context length; timeouts from [defaults] and the model.
    assert (list(resp.capabilities), resp.context_length) == (["chat", "tools"], 128_000)
    assert resp.timeouts == pb.Timeouts(connect_ms=5_000, first_byte_ms=120_000, total_ms=600_000)


async def test_route_canonical_id_uses_that_models_upstream_name(router) -> None:
    resp = await router.Route(pb.RouteRequest(model="beta"))
    assert resp.model == "beta"
    assert [(c.channel_id, c.upstream_model) for c in resp.candidates] == [("primary", "beta-up")]
    assert (resp.price.input_per_mtok_micros, resp.price.output_per_mtok_micros, resp.price.version) == (3, 4, "v-beta")


@pytest.mark.parametrize("model", ["does-not-exist", "orphan", "nobody-serves-me", ""])
async def test_route_unknown_or_unserved_model_is_not_found(router, model: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await router.Route(pb.RouteRequest(model=model))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == f"The model {model} does not exist"
    assert dict(info.value.trailing_metadata())["tollgate-error-code"] == "model_not_found"


async def test_list_models_only_lists_served_models(router) -> None:
    resp = await router.ListModels(pb.ListModelsRequest())
    assert resp.table_version == 42
    assert [m.id for m in resp.models] == ["alpha", "beta"]
    alpha = resp.models[0]
    assert list(alpha.aliases) == ["vendor/alpha", "a"]
    assert (alpha.owned_by, alpha.created) == ("vendor", 1700000000)
    assert alpha.price.cached_input_per_mtok_micros == 250_000
    assert resp.models[1].owned_by == "tollgate"


async def test_catalog_swap_is_picked_up() -> None:
    """The servicer reads ``self.catalog`` per call, so a reload is a plain attribute swap."""
    service = RouterService(parse(CATALOG, version=1))
    server = grpc.aio.server()
    pb_grpc.add_RouterServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.RouterStub(channel)
            assert (await stub.ListModels(pb.ListModelsRequest())).table_version == 1
            service.catalog = parse(CATALOG.replace(b'"alpha" = "alpha-backup"', b'"alpha" = "alpha-backup", "orphan" = "o"'), version=2)
            resp = await stub.ListModels(pb.ListModelsRequest())
            assert resp.table_version == 2
            assert [m.id for m in resp.models] == ["alpha", "beta", "orphan"]
            route = await stub.Route(pb.RouteRequest(model="nobody-serves-me"))
            assert (route.model, [c.upstream_model for c in route.candidates]) == ("orphan", ["o"])
    finally:
        await server.stop(None)


# -- channel health over gRPC -------------------------------------------------------


class serve:
    """A RouterService on a real grpc.aio server: ``async with serve(service) as stub``."""

    def __init__(self, service: RouterService):
        self.service = service

    async def __aenter__(self) -> pb_grpc.RouterStub:
        self.server = grpc.aio.server()
        pb_grpc.add_RouterServicer_to_server(self.service, self.server)
        self.port = port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        return pb_grpc.RouterStub(self.channel)

    async def __aexit__(self, *exc) -> None:
        await self.channel.close()
        await self.server.stop(None)


def outcome(channel: str, kind: str, **kw) -> events.ChannelOutcome:
    return events.ChannelOutcome(channel_id=channel, model="alpha", kind=kind, **kw)


async def test_list_channels_reports_health() -> None:
    service = RouterService(parse(CATALOG, version=3))
    service.table.record(outcome("primary", "ok", latency_ms=80))
    service.table.record(outcome("primary", "error"))
    async with serve(service) as stub:
        resp = await stub.ListChannels(pb.ListChannelsRequest())
    assert resp.table_version == 3
    primary, backup = resp.channels
    assert (primary.channel_id, primary.provider, primary.state, primary.samples, primary.error_rate) == (
        "primary",
        "openai",
        "closed",
        2,
        0.5,
    )
    assert (primary.latency_ewma_ms, primary.disabled_reason, primary.cooldown_until_ms) == (80.0, "", 0)
    assert list(primary.models) == ["alpha", "beta"]
    assert primary.data_policy == pb.DataPolicy(zdr=False, trains_on_data=False, retention_days=-1, vendor="openai")
    assert (backup.channel_id, backup.state, backup.samples, list(backup.models)) == ("backup", "closed", 0, ["alpha"])


async def test_set_channel_enabled_disables_and_reenables() -> None:
    service = RouterService(parse(CATALOG, version=1), rng=random.Random(0))
    async with serve(service) as stub:
        status = await stub.SetChannelEnabled(pb.SetChannelEnabledRequest(channel_id="primary", enabled=False, reason="key rotation"))
        assert (status.channel_id, status.state, status.disabled_reason) == ("primary", "disabled", "key rotation")
        route = await stub.Route(pb.RouteRequest(model="alpha"))
        assert [c.channel_id for c in route.candidates] == ["backup"] and route.table_version == 2
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Route(pb.RouteRequest(model="beta"))  # served by primary only
        # a known model without a routable channel: UNAVAILABLE (the edge's 503), not an unknown model's NOT_FOUND (404)
        assert (info.value.code(), info.value.details()) == (grpc.StatusCode.UNAVAILABLE, "No available channel for model beta")
        assert dict(info.value.trailing_metadata())["tollgate-error-code"] == "model_unavailable"
        listed = {c.channel_id: c for c in (await stub.ListChannels(pb.ListChannelsRequest())).channels}
        assert (listed["primary"].state, listed["primary"].disabled_reason) == ("disabled", "key rotation")

        status = await stub.SetChannelEnabled(pb.SetChannelEnabledRequest(channel_id="primary", enabled=True))
        assert (status.state, status.disabled_reason, status.samples) == ("closed", "", 0)
        route = await stub.Route(pb.RouteRequest(model="beta"))
        assert [c.channel_id for c in route.candidates] == ["primary"] and route.table_version == 3

        default = await stub.SetChannelEnabled(pb.SetChannelEnabledRequest(channel_id="backup", enabled=False))
        assert default.disabled_reason == "disabled by an operator"


async def test_set_channel_enabled_errors() -> None:
    async with serve(RouterService(parse(CATALOG, version=1))) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.SetChannelEnabled(pb.SetChannelEnabledRequest(channel_id="ghost", enabled=False))
        assert (info.value.code(), info.value.details()) == (grpc.StatusCode.NOT_FOUND, "unknown channel 'ghost'")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.SetChannelEnabled(pb.SetChannelEnabledRequest(channel_id="primary", enabled=False, reason="x" * 501))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_route_reflects_breaker_cooldown_and_credential_states() -> None:
    service = RouterService(parse(CATALOG, version=1), rng=random.Random(0))
    async with serve(service) as stub:
        for _ in range(5):
            service.table.record(outcome("primary", "error", http_status=500))
        route = await stub.Route(pb.RouteRequest(model="alpha"))
        assert [c.channel_id for c in route.candidates] == ["backup"]
        listed = {c.channel_id: c for c in (await stub.ListChannels(pb.ListChannelsRequest())).channels}
        assert listed["primary"].state == "open" and listed["primary"].cooldown_until_ms > 0
        assert "5 of the last 5 attempts failed" in listed["primary"].disabled_reason

        service.table.record(outcome("backup", "rate_limited", http_status=429, retry_after_s=30))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Route(pb.RouteRequest(model="vendor/alpha"))
        assert info.value.details() == "No available channel for model vendor/alpha"
        assert {c.channel_id: c.state for c in (await stub.ListChannels(pb.ListChannelsRequest())).channels} == {
            "primary": "open",
            "backup": "cooling_down",
        }
        await stub.SetChannelEnabled(pb.SetChannelEnabledRequest(channel_id="backup", enabled=True))
        service.table.record(outcome("backup", "auth_failed", http_status=403))
        status = {c.channel_id: c for c in (await stub.ListChannels(pb.ListChannelsRequest())).channels}["backup"]
        assert (status.state, status.disabled_reason) == ("disabled", "provider rejected the credential (HTTP 403)")


# -- the operator CLI against it ------------------------------------------------------


class QuietLog:
    def __getattr__(self, level: str):
        return lambda event, **kw: None


async def test_cli_channels_list_disable_enable(capsys: pytest.CaptureFixture[str]) -> None:
    service = RouterService(RoutingTable(parse(CATALOG, version=1), log=QuietLog()))
    service.table.record(outcome("primary", "ok", latency_ms=120))
    served = serve(service)
    async with served:
        addr = f"127.0.0.1:{served.port}"

        async def cli(*argv: str) -> tuple[int, str, str]:
            code = await asyncio.to_thread(tollgate_cli.main, ["--router", addr, *argv])
            out = capsys.readouterr()
            return code, out.out, out.err

        code, out, _ = await cli("channels", "disable", "backup", "--reason", "quota exhausted")
        assert code == 0 and out.strip() == "channel backup is disabled: quota exhausted"
        code, out, _ = await cli("channels", "list")
        header, primary, backup, version = out.strip().splitlines()
        assert header.split() == ["CHANNEL", "PROVIDER", "STATE", "ERRORS", "SAMPLES", "LATENCY", "REASON"]
        assert primary.split() == ["primary", "openai", "closed", "0%", "1", "120", "ms", "-"]
        assert backup.split()[:5] == ["backup", "groq", "disabled", "0%", "0"] and backup.endswith("quota exhausted")
        assert version == "(routing table version 2)"
        code, out, _ = await cli("channels", "enable", "backup")
        assert code == 0 and out.strip() == "channel backup is closed"
        code, out, err = await cli("channels", "enable", "ghost")
        assert code == 1 and err.strip() == "error: unknown channel 'ghost'" and "Traceback" not in err


async def test_route_carries_each_channels_own_price_and_limits(router) -> None:
    """A channel's own price for the model (else none: the route's price applies) and its RPM/TPM."""
    primary, backup = (await router.Route(pb.RouteRequest(model="alpha"))).candidates
    assert not primary.HasField("price") and (primary.rpm, primary.tpm) == (0, 0)
    assert backup.price == pb.Price(
        input_per_mtok_micros=900_000,
        output_per_mtok_micros=2_000_000,
        cached_input_per_mtok_micros=250_000,
        cache_write_per_mtok_micros=1_250_000,
        version="backup/b1",
    )
    assert (backup.rpm, backup.tpm) == (60, 90_000)


async def test_route_carries_a_channels_kind_settings() -> None:
    azure = CATALOG.decode() + (
        '\n[[channels]]\nid = "azure"\nprovider = "azure"\nbase_url = "https://res.openai.azure.com"\n'
        'api_version = "2024-10-21"\nauth = "entra"\npriority = 20\nmodels = { "alpha" = "my-deployment" }\n'
    )
    server = grpc.aio.server()
    pb_grpc.add_RouterServicer_to_server(RouterService(parse(azure.encode(), version=1), rng=random.Random(0)), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            resp = await pb_grpc.RouterStub(channel).Route(pb.RouteRequest(model="alpha"))
    finally:
        await server.stop(None)
    first = resp.candidates[0]
    assert (first.channel_id, first.upstream_model, dict(first.settings)) == (
        "azure",
        "my-deployment",
        {"api_version": "2024-10-21", "auth": "entra"},
    )
    assert all(not c.settings for c in resp.candidates[1:])
