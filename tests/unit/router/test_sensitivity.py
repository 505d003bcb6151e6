"""A catalog model's ``sensitivity``: validated, and carried by Route and ListModels for the
edges (which put it on each usage event, for the risk engine's rules)."""

from __future__ import annotations

import grpc
import pytest

from services.router.catalog import CatalogError, parse
from services.router.service import RouterService
from tollgate.rpc import router_pb2 as pb
from tollgate.rpc import router_pb2_grpc as pb_grpc

CATALOG = b"""
[[models]]
id = "reasoner"
sensitivity = "high"

[[models]]
id = "plain"
sensitivity = "normal"

[[models]]
id = "unmarked"

[[channels]]
id = "c"
provider = "openai"
base_url = "https://x.test/v1"
models = { "reasoner" = "r", "plain" = "p", "unmarked" = "u" }
"""


def test_an_unknown_sensitivity_is_refused() -> None:
    with pytest.raises(CatalogError, match="sensitivity must be one of"):
        parse(CATALOG.replace(b'sensitivity = "normal"', b'sensitivity = "extreme"'), 1)


async def test_route_and_model_list_carry_it() -> None:
    server = grpc.aio.server()
    pb_grpc.add_RouterServicer_to_server(RouterService(parse(CATALOG, 1)), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.RouterStub(channel)
            routes = {m: (await stub.Route(pb.RouteRequest(model=m))).sensitivity for m in ("reasoner", "plain", "unmarked")}
            listed = {m.id: m.sensitivity for m in (await stub.ListModels(pb.ListModelsRequest())).models}
    finally:
        await server.stop(None)
    assert routes == listed == {"reasoner": "high", "plain": "", "unmarked": ""}
