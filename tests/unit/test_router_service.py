"""RouterService over a real grpc.aio server and client."""

from __future__ import annotations

import random

import grpc
import pytest

from services.router.catalog import parse
from services.router.service import RouterService
from tollgate.rpc import router_pb2 as pb
from tollgate.rpc import router_pb2_grpc as pb_grpc

CATALOG = b"""
[[models]]
id = "alpha"
aliases = ["vendor/alpha", "a"]
owned_by = "vendor"
created = 1700000000
price = { input_per_mtok_micros = 1_000_000, output_per_mtok_micros = 2_000_000, cached_input_per_mtok_micros = 250_000, version = "v-alpha" }

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
priority = 10
weight = 3
models = { "alpha" = "alpha-2024-01-01", "beta" = "beta-up" }

[[channels]]
id = "backup"
provider = "groq"
base_url = "https://backup.test/openai/v1"
priority = 1
models = { "alpha" = "alpha-backup" }
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
    )
    assert (backup.provider, backup.upstream_model, backup.api_key_env, backup.priority, backup.weight) == ("groq", "alpha-backup", "", 1, 1)


async def test_route_canonical_id_uses_that_models_upstream_name(router) -> None:
    resp = await router.Route(pb.RouteRequest(model="beta"))
    assert resp.model == "beta"
    assert [(c.channel_id, c.upstream_model) for c in resp.candidates] == [("primary", "beta-up")]
    assert (resp.price.input_per_mtok_micros, resp.price.output_per_mtok_micros, resp.price.version) == (3, 4, "v-beta")


@pytest.mark.parametrize("model", ["does-not-exist", "orphan", "nobody-serves-me", ""])
async def test_route_unavailable_model_is_not_found(router, model: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await router.Route(pb.RouteRequest(model=model))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == f"No available channel for model {model}"


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
