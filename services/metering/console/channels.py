"""The admin console's Channels: health as the router reports it, enable / disable, and a
test request through the edge pinned to one channel.

    GET  /console/api/admin/channels                         Router.ListChannels
    GET  /console/api/admin/models                           Router.ListModels (the catalog's served models, prices)
    POST /console/api/admin/channels/{id}/enabled {"enabled", "reason"}   Router.SetChannelEnabled
    POST /console/api/admin/channels/{id}/test?account_id= {"model"}
         a one-token chat completion through the edge with provider.only = [id] and no
         fallback, billed to the chosen account (the playground's console key); the answer:
         {"ok", "status", "channel_id", "model", "latency_ms", "request_id", "error"}

A disabled channel is out of routing at once: the router publishes the routing change and
edges drop their cached routes (so a test of a disabled channel answers 503).
"""

from __future__ import annotations

import time

import grpc
import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery

from services.metering.accounts_api import decode_body, error_response
from services.metering.auth import Authorizer, Viewer
from services.metering.console.playground import Playground
from tollgate.errors import BadRequest, Forbidden, TollgateError, from_grpc
from tollgate.protojson import to_data
from tollgate.rpc import router_pb2 as pb
from tollgate.rpc import router_pb2_grpc as pb_grpc

TEST_PROMPT = "Reply with the single word: ok"


class EnabledBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool
    reason: str = ""


class TestBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    model: str = ""  # "" = the channel's first model


def authorize(viewer: Viewer, action: str, account_id: str | None = None) -> str:
    """Only the platform's admin manages channels; a test request is billed to the account
    the admin names."""
    if not viewer.admin:
        raise Forbidden("Only an administrator may manage channels.", code="admin_required")
    if action == "test":
        if not account_id:
            raise BadRequest("Choose the account a test request is billed to (account_id).", code="missing_account_id")
        return account_id
    return ""


class ChannelsConsole:
    def __init__(self, auth: Authorizer, router_addr: str, playground: Playground, timeout_s: float = 10.0):
        self._auth = auth
        self._addr = router_addr
        self._playground = playground
        self._timeout_s = timeout_s
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> pb_grpc.RouterStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._addr)
        return pb_grpc.RouterStub(self._channel)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    async def _router(self, method: str, message):
        try:
            return await getattr(self._stub(), method)(message, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise from_grpc(exc) from None

    async def test(self, account_id: str, channel_id: str, model: str) -> dict:
        listed = await self._router("ListChannels", pb.ListChannelsRequest())
        channel = next((c for c in listed.channels if c.channel_id == channel_id), None)
        if channel is None:
            raise BadRequest(f"unknown channel {channel_id!r}", code="channel_not_found")
        model = model or (channel.models[0] if channel.models else "")
        if model not in channel.models:
            raise BadRequest(f"channel {channel_id} does not serve {model!r}", code="invalid_model")
        body = {
            "model": model,
            "messages": [{"role": "user", "content": TEST_PROMPT}],
            "max_tokens": 1,
            "stream": False,
            "provider": {"only": [channel_id], "allow_fallbacks": False},
        }
        started = time.monotonic()
        response = await self._playground.send(account_id, "POST", "/v1/chat/completions", body)
        raw = await response.aread()
        await response.aclose()
        latency_ms = round((time.monotonic() - started) * 1000, 1)
        error = ""
        if response.status_code != 200:
            try:
                error = msgspec.json.decode(raw).get("error", {}).get("message", "")[:500]
            except (msgspec.DecodeError, AttributeError):
                error = f"HTTP {response.status_code}"
        return {
            "ok": response.status_code == 200,
            "status": response.status_code,
            "channel_id": response.headers.get("x-tollgate-channel", ""),
            "model": model,
            "latency_ms": latency_ms,
            "request_id": response.headers.get("x-request-id", ""),
            "error": error,
        }

    def handlers(self) -> list[HTTPRouteHandler]:
        auth, router, test = self._auth, self._router, self.test

        @get("/console/api/admin/channels")
        async def list_channels(request: Request) -> Response:
            try:
                authorize(await auth.viewer(request), "list")
                return Response(to_data(await router("ListChannels", pb.ListChannelsRequest())))
            except TollgateError as exc:
                return error_response(exc)

        @get("/console/api/admin/models")
        async def list_models(request: Request) -> Response:
            try:
                authorize(await auth.viewer(request), "list")
                return Response(to_data(await router("ListModels", pb.ListModelsRequest())))
            except TollgateError as exc:
                return error_response(exc)

        @post("/console/api/admin/channels/{channel_id:str}/enabled")
        async def set_enabled(request: Request, channel_id: FromPath[str]) -> Response:
            try:
                authorize(await auth.viewer(request), "enable")
                body = await decode_body(request, EnabledBody)
                message = pb.SetChannelEnabledRequest(channel_id=channel_id[:200], enabled=body.enabled, reason=body.reason.strip()[:500])
                return Response(to_data(await router("SetChannelEnabled", message)), status_code=200)
            except TollgateError as exc:
                return error_response(exc)

        @post("/console/api/admin/channels/{channel_id:str}/test")
        async def test_channel(request: Request, channel_id: FromPath[str], account_id: FromQuery[str] = "") -> Response:
            try:
                account = authorize(await auth.viewer(request), "test", account_id)
                body = await decode_body(request, TestBody)
                return Response(await test(account, channel_id[:200], body.model[:200]), status_code=200)
            except TollgateError as exc:
                return error_response(exc)

        return [list_channels, list_models, set_enabled, test_channel]


def from_settings(settings, auth: Authorizer, playground: Playground) -> ChannelsConsole:
    return ChannelsConsole(auth, settings.router_addr, playground)
