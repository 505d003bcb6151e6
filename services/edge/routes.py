"""Where a model goes: router answers, cached, refreshed when the router says so."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from services.edge.limits import check_model_name
from tollgate import errors, events
from tollgate.cache import CachedLookup
from tollgate.errors import ModelNotFound, ModelNotInGroup, ModelUnavailable
from tollgate.rpc import router_pb2 as pb
from tollgate.rpc import router_pb2_grpc as pb_grpc


@dataclass(frozen=True, slots=True)
class Route:
    model: str
    price: pb.Price
    candidates: tuple[pb.Candidate, ...]
    timeouts: pb.Timeouts | None = None
    max_output_tokens: int = 0  # 0 = unknown
    sensitivity: str = ""  # "high": the catalog marks the model high-sensitivity (risk rules watch it)

    def price_for(self, candidate: pb.Candidate | None) -> pb.Price:
        """What the model costs on ``candidate``: the channel's own price when it has one."""
        return candidate.price if candidate is not None and candidate.HasField("price") else self.price

    def prices(self) -> list[pb.Price]:
        """Every price a request on this route may be billed at (the model's, the channels' own)."""
        return [self.price, *(c.price for c in self.candidates if c.HasField("price"))]


class RouteTable:
    def __init__(self, stub: pb_grpc.RouterStub, *, ttl: float, maxsize: int):
        self._stub = stub
        self._routes: CachedLookup[str, Route] = CachedLookup(
            self._route, ttl=ttl, maxsize=maxsize, negative=(ModelNotFound, ModelUnavailable, ModelNotInGroup), negative_ttl=min(ttl, 5.0)
        )
        self._models: CachedLookup[str, list[pb.Model]] = CachedLookup(self._list_models, ttl=ttl, maxsize=256)  # per pricing group

    @property
    def cached(self) -> int:
        """Routes answered from memory without the router (what readiness falls back on)."""
        return len(self._routes)

    async def route(self, model: str, group: str = "default") -> Route:
        """Where ``model`` goes for a caller in pricing group ``group`` (its prices are the
        group's; a model outside it raises ``ModelNotInGroup``)."""
        name = check_model_name(model)  # a long name never reaches gRPC metadata
        return await self._routes.get(f"{group}\n{name}", name, group)

    async def models(self, group: str = "default") -> list[pb.Model]:
        return await self._models.get(group)

    async def _route(self, _key: str, model: str, group: str) -> Route:
        try:
            reply: pb.RouteResponse = await self._stub.Route(pb.RouteRequest(model=model, group=group), timeout=5)
        except grpc.aio.AioRpcError as err:
            # unknown model (404), known model without a healthy channel (503) and a model outside the group stay apart
            raise errors.from_grpc(
                err,
                {
                    grpc.StatusCode.NOT_FOUND: ModelNotFound,
                    grpc.StatusCode.UNAVAILABLE: ModelUnavailable,
                    grpc.StatusCode.FAILED_PRECONDITION: ModelNotInGroup,
                },
            ) from None
        timeouts = reply.timeouts if reply.HasField("timeouts") else None
        return Route(
            model=reply.model,
            price=reply.price,
            candidates=tuple(reply.candidates),
            timeouts=timeouts,
            max_output_tokens=reply.max_output_tokens,
            sensitivity=reply.sensitivity,
        )

    async def _list_models(self, group: str) -> list[pb.Model]:
        try:
            reply: pb.ListModelsResponse = await self._stub.ListModels(pb.ListModelsRequest(group=group), timeout=5)
        except grpc.aio.AioRpcError as err:
            raise errors.from_grpc(err) from None
        return list(reply.models)

    def on_routing_changed(self, _event: events.RoutingTableChanged) -> None:
        self._routes.clear()
        self._models.clear()
