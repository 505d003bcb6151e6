"""The console's Playground: chat with the account's models through the edge, as the account.

The browser never holds an API key for it: metering keeps, per account, a key of its own
("console-playground:<this metering>", minted with the admin credential on first use,
``rpm_limit`` = the web's limit, so the edge holds the page to 120 requests/min like any
key) in memory only, and calls the edge's ``/v1/chat/completions`` with it; a restart
mints a new one and revokes the earlier ones of the same name. Requests are billed to the
account like any other, and metered the same way (no content is kept here or logged).

    GET  /console/api/playground/models?account_id=      the edge's /v1/models for the account
    POST /console/api/playground/chat?account_id=        {"model", "messages", "max_tokens", "stream"}
                                                         the edge's answer, streamed as it comes
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromQuery
from litestar.response import Stream

from services.metering.accounts_api import decode_body, error_response
from services.metering.auth import Authorizer, Viewer
from tollgate import credentials
from tollgate.errors import BadRequest, TollgateError, from_grpc
from tollgate.rpc import accounts_pb2 as apb
from tollgate.rpc import accounts_pb2_grpc as apb_grpc

KEY_NAME = "console-playground"
MAX_MESSAGES = 100
MAX_CHARS = 100_000
ROLES = frozenset({"system", "user", "assistant"})


class Message(msgspec.Struct, forbid_unknown_fields=True):
    role: str
    content: str


class ChatBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    model: str
    messages: list[Message]
    max_tokens: int = 256
    stream: bool = True
    temperature: float | None = None


def authorize(viewer: Viewer, account_id: str | None) -> str:
    """The account the playground chats as: the viewer's own, or the admin's pick. A console
    session's member chats only as their role allows (owner, admin, developer: a viewer or
    billing member does not spend on models)."""
    viewer.require("playground.use")
    return viewer.one_account(account_id)


def check(body: ChatBody) -> dict[str, Any]:
    if not body.model or len(body.model) > 200:
        raise BadRequest("model is required", code="missing_model")
    if not 1 <= len(body.messages) <= MAX_MESSAGES:
        raise BadRequest(f"messages must hold 1 to {MAX_MESSAGES} messages")
    if any(m.role not in ROLES for m in body.messages):
        raise BadRequest(f"a message's role is one of {', '.join(sorted(ROLES))}")
    if sum(len(m.content) for m in body.messages) > MAX_CHARS:
        raise BadRequest(f"the conversation is longer than {MAX_CHARS} characters")
    if not 1 <= body.max_tokens <= 32_000:
        raise BadRequest("max_tokens must be between 1 and 32000")
    request: dict[str, Any] = {
        "model": body.model,
        "messages": [msgspec.structs.asdict(m) for m in body.messages],
        "max_tokens": body.max_tokens,
        "stream": body.stream,
    }
    if body.stream:
        request["stream_options"] = {"include_usage": True}  # the page shows what the answer counted
    if body.temperature is not None:
        request["temperature"] = body.temperature
    return request


class ConsoleKeys:
    """The per-account keys metering calls the edge with (secrets in memory only)."""

    def __init__(self, accounts_addr: str, admin_credential: str, *, rpm: int, instance: str, timeout_s: float = 10.0):
        self._addr = accounts_addr
        self._admin = admin_credential
        self._rpm = rpm
        self.name = f"{KEY_NAME}:{instance}"
        self._timeout_s = timeout_s
        self._secrets: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> apb_grpc.AccountsStub:
        if self._channel is None:
            self._channel = credentials.aio_channel(self._addr, self._admin)
        return apb_grpc.AccountsStub(self._channel)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    def forget(self, account_id: str, secret: str) -> None:
        if self._secrets.get(account_id) == secret:
            del self._secrets[account_id]

    async def secret(self, account_id: str) -> str:
        if account_id in self._secrets:
            return self._secrets[account_id]
        async with self._locks.setdefault(account_id, asyncio.Lock()):
            if account_id not in self._secrets:
                self._secrets[account_id] = await self._mint(account_id)
            return self._secrets[account_id]

    async def _mint(self, account_id: str) -> str:
        stub = self._stub()
        try:
            listed = await stub.ListKeys(apb.ListKeysRequest(account_id=account_id), timeout=self._timeout_s)
            created = await stub.CreateKey(
                apb.CreateKeyRequest(account_id=account_id, name=self.name, rpm_limit=self._rpm), timeout=self._timeout_s
            )
            for old in listed.keys:  # this metering's keys from before a restart: their secrets are gone
                if old.name == self.name and not old.revoked_at_ms:
                    await stub.RevokeKey(apb.RevokeKeyRequest(key_id=old.key_id), timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise from_grpc(exc) from None
        return created.secret


class Playground:
    def __init__(self, auth: Authorizer, keys: ConsoleKeys, edge_url: str, *, timeout_s: float = 300.0):
        self._auth = auth
        self.keys = keys
        self._edge = edge_url.rstrip("/")
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(self._timeout_s, connect=10.0), trust_env=False)
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        await self.keys.close()

    async def send(self, account_id: str, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """A request to the edge as the account (its console key; minted again once if the
        key was revoked meanwhile), the response's body not yet read."""
        for attempt in range(2):
            secret = await self.keys.secret(account_id)
            request = self._http().build_request(method, f"{self._edge}{path}", json=body, headers={"authorization": f"Bearer {secret}"})
            try:
                response = await self._http().send(request, stream=True)
            except httpx.HTTPError as exc:
                raise TollgateError(f"the gateway did not answer: {type(exc).__name__}", code="gateway_unavailable") from None
            if response.status_code != 401 or attempt:
                return response
            await response.aclose()
            self.keys.forget(account_id, secret)
        raise AssertionError("unreachable")

    async def relay(self, response: httpx.Response) -> Response:
        """The edge's answer as it is: a stream is passed on piece by piece."""
        headers = {k: v for k, v in response.headers.items() if k in ("x-request-id", "x-tollgate-channel", "retry-after")}
        if response.headers.get("content-type", "").startswith("text/event-stream") and response.status_code == 200:

            async def pieces() -> AsyncIterator[bytes]:
                try:
                    async for chunk in response.aiter_raw():
                        yield chunk
                finally:
                    await response.aclose()

            return Stream(pieces(), media_type="text/event-stream", headers=headers | {"cache-control": "no-cache"}, status_code=200)
        body = await response.aread()
        await response.aclose()
        return Response(body, status_code=response.status_code, media_type="application/json", headers=headers)

    def handlers(self) -> list[HTTPRouteHandler]:
        auth, send, relay = self._auth, self.send, self.relay

        @get("/console/api/playground/models")
        async def models(request: Request, account_id: FromQuery[str] = "") -> Response:
            try:
                account = authorize(await auth.viewer(request), account_id)
                return await relay(await send(account, "GET", "/v1/models"))
            except TollgateError as exc:
                return error_response(exc)

        @post("/console/api/playground/chat")
        async def chat(request: Request, account_id: FromQuery[str] = "") -> Response:
            try:
                account = authorize(await auth.viewer(request), account_id)
                body = check(await decode_body(request, ChatBody, limit=MAX_CHARS * 2))
                return await relay(await send(account, "POST", "/v1/chat/completions", body))
            except TollgateError as exc:
                return error_response(exc)

        return [models, chat]


def edge_url(settings) -> str:
    if settings.console_edge_url:
        return settings.console_edge_url
    host = "127.0.0.1" if settings.edge_host in ("0.0.0.0", "::", "") else settings.edge_host
    return f"http://{host}:{settings.edge_port}"


def from_settings(settings, auth: Authorizer) -> Playground:
    instance = f"{socket.gethostname()}:{settings.metering_port}"
    keys = ConsoleKeys(settings.accounts_addr, settings.admin_credential, rpm=settings.console_web_rpm, instance=instance)
    return Playground(auth, keys, edge_url(settings))
