"""The Router gRPC servicer: model catalog, ordered channel candidates and channel health."""

from __future__ import annotations

import random

import grpc

from services.router.catalog import Catalog, Channel, Price
from services.router.groups import DEFAULT, Group
from services.router.health import ChannelView
from services.router.policies import DataPolicy
from services.router.table import RoutingTable
from tollgate.errors import BadRequest, ModelNotFound, ModelNotInGroup, ModelUnavailable, NotFound, abort
from tollgate.rpc import router_pb2 as pb
from tollgate.rpc import router_pb2_grpc as pb_grpc

MAX_REASON = 500


def sensitivity(value: str) -> str:
    """The catalog's sensitivity as the RPCs carry it: "high", or "" for a normal model."""
    return "" if value == "normal" else value


def price_msg(price: Price, group: Group | None = None) -> pb.Price:
    """The price a caller in ``group`` pays: the catalog's times the group's multiplier (every unit's)."""
    marked = group is not None and group.marks_prices
    scale = group.scale if group is not None and marked else (lambda micros: micros)
    return pb.Price(
        input_per_mtok_micros=scale(price.input_per_mtok_micros),
        output_per_mtok_micros=scale(price.output_per_mtok_micros),
        cached_input_per_mtok_micros=scale(price.cached_input_per_mtok_micros),
        version=f"{price.version}+group:{group.name}" if group is not None and marked else price.version,
        cache_write_per_mtok_micros=scale(price.cache_write_per_mtok_micros),
        per_request_micros=scale(price.per_request_micros),
        per_image_micros={variant: scale(micros) for variant, micros in price.per_image_micros.items()},
        per_audio_second_micros=scale(price.per_audio_second_micros),
        per_mchar_micros=scale(price.per_mchar_micros),
    )


def policy_msg(policy: DataPolicy) -> pb.DataPolicy:
    return pb.DataPolicy(zdr=policy.zdr, trains_on_data=policy.trains_on_data, retention_days=policy.retention_days, vendor=policy.vendor)


def status_msg(channel: Channel, view: ChannelView) -> pb.ChannelStatus:
    return pb.ChannelStatus(
        channel_id=channel.id,
        provider=channel.provider,
        state=view.state,
        error_rate=view.error_rate,
        samples=view.samples,
        latency_ewma_ms=view.latency_ewma_ms,
        disabled_reason=view.reason,
        cooldown_until_ms=view.cooldown_until_ms,
        models=list(channel.models),
        data_policy=policy_msg(channel.data_policy),
    )


class RouterService(pb_grpc.RouterServicer):
    def __init__(self, catalog: Catalog | RoutingTable, rng: random.Random | None = None):
        self.table = catalog if isinstance(catalog, RoutingTable) else RoutingTable(catalog)
        self._rng = rng or random.Random()

    @property
    def catalog(self) -> Catalog:
        return self.table.catalog

    @catalog.setter
    def catalog(self, catalog: Catalog) -> None:
        self.table.swap(catalog)

    def _group(self, name: str) -> tuple[str, Group | None]:
        name = name or DEFAULT
        return name, self.table.catalog.groups.get(name)

    async def Route(self, request: pb.RouteRequest, context: grpc.aio.ServicerContext) -> pb.RouteResponse:
        model, serving = self.table.route(request.model, self._rng)
        if model is None or not any(model.id in c.models for c in self.table.catalog.channels):
            await abort(context, ModelNotFound(f"The model {request.model} does not exist"))
        group_name, group = self._group(request.group)
        if group is None or not group.shows([request.model, model.id, *model.aliases]):
            await abort(context, ModelNotInGroup(f"No available channel for model {request.model} under group {group_name}"))
        if not serving:
            await abort(context, ModelUnavailable(f"No available channel for model {request.model}"))
        t = model.timeouts
        return pb.RouteResponse(
            model=model.id,
            price=price_msg(model.price, group),
            table_version=self.table.version,
            timeouts=pb.Timeouts(connect_ms=t.connect_ms, first_byte_ms=t.first_byte_ms, total_ms=t.total_ms, idle_ms=t.idle_ms),
            capabilities=model.capabilities,
            context_length=model.context_length,
            max_output_tokens=model.max_output_tokens,
            sensitivity=sensitivity(model.sensitivity),
            candidates=[
                pb.Candidate(
                    channel_id=c.id,
                    provider=c.provider,
                    base_url=c.base_url,
                    api_key_env=c.api_key_env,
                    api_key_file=c.api_key_file,
                    settings=c.settings,
                    upstream_model=c.models[model.id],
                    priority=c.priority,
                    weight=c.weight,
                    data_policy=policy_msg(c.data_policy),
                    region=c.region,
                    state=view.state,
                    latency_ewma_ms=view.latency_ewma_ms,
                    price=price_msg(c.prices[model.id], group) if model.id in c.prices else None,
                    rpm=c.rpm,
                    tpm=c.tpm,
                )
                for c, view in serving
            ],
        )

    async def ListModels(self, request: pb.ListModelsRequest, context) -> pb.ListModelsResponse:
        catalog = self.table.catalog
        served = {model_id for channel in catalog.channels for model_id in channel.models}
        _, group = self._group(request.group)
        return pb.ListModelsResponse(
            table_version=self.table.version,
            models=[
                pb.Model(
                    id=m.id,
                    aliases=m.aliases,
                    owned_by=m.owned_by,
                    created=m.created,
                    price=price_msg(m.price, group),
                    context_length=m.context_length,
                    max_output_tokens=m.max_output_tokens,
                    capabilities=m.capabilities,
                    sensitivity=sensitivity(m.sensitivity),
                )
                for m in catalog.models.values()
                if m.id in served and group is not None and group.shows([m.id, *m.aliases])
            ],
        )

    async def ListGroups(self, request: pb.ListGroupsRequest, context) -> pb.ListGroupsResponse:
        return pb.ListGroupsResponse(
            table_version=self.table.version,
            groups=[
                pb.Group(name=g.name, multiplier_numerator=g.numerator, multiplier_denominator=g.denominator, models=g.patterns)
                for g in self.table.catalog.groups.values()
            ],
        )

    async def ListChannels(self, request: pb.ListChannelsRequest, context) -> pb.ListChannelsResponse:
        channels = self.table.channels()
        return pb.ListChannelsResponse(table_version=self.table.version, channels=[status_msg(c, view) for c, view in channels])

    async def SetChannelEnabled(self, request: pb.SetChannelEnabledRequest, context) -> pb.ChannelStatus:
        if len(request.reason) > MAX_REASON:
            await abort(context, BadRequest(f"reason is longer than {MAX_REASON} characters"))
        try:
            self.table.set_enabled(request.channel_id, request.enabled, request.reason.strip())
        except KeyError:
            await abort(context, NotFound(f"unknown channel {request.channel_id!r}"))
        channel = self.table.catalog.channel(request.channel_id)
        if channel is None:  # set_enabled found it: the catalog it read is the one read here
            await abort(context, NotFound(f"unknown channel {request.channel_id!r}"))
        return status_msg(channel, self.table.health.view(channel.id))
