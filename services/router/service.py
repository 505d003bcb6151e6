"""The Router gRPC servicer: model catalog and ordered channel candidates."""

from __future__ import annotations

import random

import grpc

from services.router.catalog import Catalog, Price
from tollgate.errors import ModelUnavailable, abort
from tollgate.rpc import router_pb2 as pb
from tollgate.rpc import router_pb2_grpc as pb_grpc


def price_msg(price: Price) -> pb.Price:
    return pb.Price(
        input_per_mtok_micros=price.input_per_mtok_micros,
        output_per_mtok_micros=price.output_per_mtok_micros,
        cached_input_per_mtok_micros=price.cached_input_per_mtok_micros,
        version=price.version,
    )


class RouterService(pb_grpc.RouterServicer):
    def __init__(self, catalog: Catalog, rng: random.Random | None = None):
        self.catalog = catalog
        self._rng = rng or random.Random()

    async def Route(self, request: pb.RouteRequest, context: grpc.aio.ServicerContext) -> pb.RouteResponse:
        catalog = self.catalog
        model = catalog.resolve(request.model)
        candidates = catalog.candidates(model.id, self._rng) if model else []
        if not candidates:
            await abort(context, ModelUnavailable(f"No available channel for model {request.model}"))
        return pb.RouteResponse(
            model=model.id,
            price=price_msg(model.price),
            table_version=catalog.version,
            candidates=[
                pb.Candidate(
                    channel_id=c.id,
                    provider=c.provider,
                    base_url=c.base_url,
                    api_key_env=c.api_key_env,
                    upstream_model=c.models[model.id],
                    priority=c.priority,
                    weight=c.weight,
                )
                for c in candidates
            ],
        )

    async def ListModels(self, request: pb.ListModelsRequest, context) -> pb.ListModelsResponse:
        catalog = self.catalog
        served = {model_id for channel in catalog.channels for model_id in channel.models}
        return pb.ListModelsResponse(
            table_version=catalog.version,
            models=[
                pb.Model(id=m.id, aliases=m.aliases, owned_by=m.owned_by, created=m.created, price=price_msg(m.price))
                for m in catalog.models.values()
                if m.id in served
            ],
        )
