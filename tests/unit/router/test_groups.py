"""Pricing groups (services/router/groups.py): parsed from the catalog's [[groups]], the
models each shows, prices times the multiplier (rounded up, version marked), and the
seed's "No available channel for model X under group G" over gRPC."""

from __future__ import annotations

import grpc
import pytest

from services.router.catalog import CatalogError, parse
from services.router.groups import Group
from services.router.service import RouterService
from tests.unit.router.test_service import CATALOG, serve
from tollgate.rpc import router_pb2 as pb

GROUPS = b"""
[[groups]]
name = "default"
models = ["beta"]

[[groups]]
name = "vip"
multiplier = "0.8"
models = ["alpha", "beta"]

[[groups]]
name = "resale"
multiplier = "7/3"
models = ["vendor/*"]
"""


def test_groups_parse_with_exact_multipliers_and_an_implicit_default() -> None:
    plain = parse(CATALOG, version=1)
    assert list(plain.groups) == ["default"] and plain.groups["default"].implicit
    assert not plain.groups["default"].marks_prices
    catalog = parse(CATALOG + GROUPS, version=1)
    vip, resale = catalog.groups["vip"], catalog.groups["resale"]
    assert (vip.numerator, vip.denominator, vip.multiplier) == (4, 5, "4/5")
    assert (resale.numerator, resale.denominator) == (7, 3)
    assert resale.scale(3) == 7 and resale.scale(1) == 3  # rounded up to a whole micro-USD
    assert Group("g", 3, 2).scale(1_000_001) == 1_500_002
    assert catalog.groups["default"].marks_prices is False  # written, but multiplier 1: prices as they are


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        (b'[[groups]]\nname = "x"\nmultiplier = 1.5\n', "multiplier"),  # a float: money is never a float
        (b'[[groups]]\nname = "x"\nmultiplier = "1.5e3"\n', "exact decimal"),
        (b'[[groups]]\nname = "x"\nmultiplier = "0"\n', "positive"),
        (b'[[groups]]\nname = "x"\nmultiplier = -2\n', "positive"),
        (b'[[groups]]\nname = "x"\nmultiplier = "1/3000000000"\n', "too precise"),
        (b'[[groups]]\nname = "x"\nmodels = []\n', "shows no model"),
        (b'[[groups]]\nname = "x"\nmodels = ["gamma*"]\n', "matches no model"),
        (b'[[groups]]\nname = "a b"\n', "group name"),
        (b'[[groups]]\nname = "x"\n[[groups]]\nname = "x"\n', "defined twice"),
        (b'[[groups]]\nname = "x"\nprice = 2\n', "invalid catalog"),
    ],
)
def test_bad_groups_are_refused_with_the_reason(groups: bytes, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse(CATALOG + groups, version=1)


async def test_route_and_list_models_per_group() -> None:
    async with serve(RouterService(parse(CATALOG + GROUPS, version=1))) as stub:
        # The default group shows only beta; alpha answers like the seed.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Route(pb.RouteRequest(model="alpha"))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert refused.value.details() == "No available channel for model alpha under group default"
        beta = await stub.Route(pb.RouteRequest(model="beta"))
        assert (beta.price.input_per_mtok_micros, beta.price.version) == (3, "v-beta")
        # vip pays 0.8 of every price (the model's and a channel's own), marked in the version.
        alpha = await stub.Route(pb.RouteRequest(model="a", group="vip"))
        assert (alpha.price.input_per_mtok_micros, alpha.price.output_per_mtok_micros) == (800_000, 1_600_000)
        assert (alpha.price.cached_input_per_mtok_micros, alpha.price.version) == (200_000, "v-alpha+group:vip")
        backup = next(c for c in alpha.candidates if c.channel_id == "backup")
        assert (backup.price.input_per_mtok_micros, backup.price.cache_write_per_mtok_micros) == (720_000, 1_000_000)
        assert backup.price.version == "backup/b1+group:vip"
        # A group's patterns match aliases too; an unknown model is still 404; an unknown group shows nothing.
        assert (await stub.Route(pb.RouteRequest(model="vendor/alpha", group="resale"))).price.input_per_mtok_micros == 2_333_334
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.Route(pb.RouteRequest(model="nope", group="vip"))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as nowhere:
            await stub.Route(pb.RouteRequest(model="beta", group="gone"))
        assert nowhere.value.details() == "No available channel for model beta under group gone"
        listed = {g: [m.id for m in (await stub.ListModels(pb.ListModelsRequest(group=g))).models] for g in ("", "vip", "resale", "gone")}
        assert listed == {"": ["beta"], "vip": ["alpha", "beta"], "resale": ["alpha"], "gone": []}
        vip_models = (await stub.ListModels(pb.ListModelsRequest(group="vip"))).models
        assert vip_models[0].price.version == "v-alpha+group:vip"
        groups = (await stub.ListGroups(pb.ListGroupsRequest())).groups
        assert [(g.name, g.multiplier_numerator, g.multiplier_denominator, list(g.models)) for g in groups] == [
            ("default", 1, 1, ["beta"]),
            ("vip", 4, 5, ["alpha", "beta"]),
            ("resale", 7, 3, ["vendor/*"]),
        ]


async def test_groups_change_with_a_reloaded_catalog() -> None:
    service = RouterService(parse(CATALOG + GROUPS, version=1))
    async with serve(service) as stub:
        assert (await stub.Route(pb.RouteRequest(model="beta", group="vip"))).price.version == "v-beta+group:vip"
        before = service.table.version
        service.catalog = parse(
            CATALOG + GROUPS.replace(b'multiplier = "0.8"\nmodels = ["alpha", "beta"]', b'models = ["alpha"]'), version=2
        )
        assert service.table.version > before  # edges are told to drop their cached routes and lists
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Route(pb.RouteRequest(model="beta", group="vip"))
        assert refused.value.details() == "No available channel for model beta under group vip"
        alpha = await stub.Route(pb.RouteRequest(model="alpha", group="vip"))
        assert (alpha.price.input_per_mtok_micros, alpha.price.version) == (1_000_000, "v-alpha+group:vip")
