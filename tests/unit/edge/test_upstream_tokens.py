"""The upstream loop and minted credentials: a Vertex channel's request carries its cached
access token (never the service-account file), for the adapter of the model's publisher; a
channel whose token cannot be minted is skipped without a call; a 401 drops the token."""

from __future__ import annotations

import json

import httpx
import msgspec
import pytest

from services.edge import upstream
from services.edge.routes import Route
from tests.unit.edge.upstream_fakes import HandlerClient
from tollgate.canonical import ChatRequest
from tollgate.errors import ModelUnavailable
from tollgate.providers.tokens import TokenBroker, TokenError
from tollgate.rpc import router_pb2 as pb

SA_FILE = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----"}'
BASE = "http://vertex.test/v1/projects/p-123456/locations/us-east5"
REQUEST = msgspec.convert({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}, ChatRequest)


def candidate(channel: str, model: str) -> pb.Candidate:
    return pb.Candidate(channel_id=channel, provider="vertex", base_url=BASE, api_key_env="SA_JSON", upstream_model=model)


class Minters:
    def __init__(self, refuse: bool = False) -> None:
        self.secrets: list[str] = []
        self.refuse = refuse
        self.count = 0

    def factory(self, secret: str):
        self.secrets.append(secret)

        def mint() -> tuple[str, float]:
            if self.refuse:
                raise TokenError("the token endpoint refused or failed (RefreshError)")
            self.count += 1
            return f"ya29.test-{self.count}", 3600.0

        return mint


def build(c: pb.Candidate, adapter, secret: str):
    return adapter.chat_request(c.base_url, secret, c.upstream_model, REQUEST, stream=False)


async def call(client: HandlerClient, plan: list[pb.Candidate], tokens: TokenBroker):
    route = Route(model="m", price=pb.Price(), candidates=tuple(plan))
    plan_ = [(route, c) for c in plan]
    env = {"SA_JSON": SA_FILE}
    return await upstream.call(client, plan_, build, report=lambda _o: None, max_attempts=4, deadline_s=30, environ=env, tokens=tokens)


async def test_the_token_goes_out_for_the_publishers_adapter() -> None:
    minters = Minters()
    tokens = TokenBroker({"vertex": minters.factory})
    client = HandlerClient(lambda request: httpx.Response(200, json={}))
    claude = await call(client, [candidate("v1", "anthropic/claude-x@1")], tokens)
    gemini = await call(client, [candidate("v1", "gemini-2.5-flash")], tokens)
    assert (claude.adapter.protocol, gemini.adapter.protocol) == ("anthropic", "gemini")
    (first, _), (second, _) = client.sent
    assert first.url.path.endswith("/publishers/anthropic/models/claude-x@1:rawPredict")
    assert second.url.path.endswith("/publishers/google/models/gemini-2.5-flash:generateContent")
    assert first.headers["authorization"] == second.headers["authorization"] == "Bearer ya29.test-1"  # one token per channel
    assert "PRIVATE KEY" not in first.content.decode() + json.dumps(dict(first.headers))
    assert minters.secrets == [SA_FILE] and minters.count == 1


async def test_no_token_skips_the_channel_and_a_401_drops_the_token() -> None:
    refusing = Minters(refuse=True)
    client = HandlerClient(lambda request: httpx.Response(200, json={}))
    with pytest.raises(upstream.CallFailed) as failed:
        await call(client, [candidate("v1", "gemini-x")], TokenBroker({"vertex": refusing.factory}))
    assert failed.value.attempts == 0 and not client.sent and isinstance(failed.value.error, ModelUnavailable)
    assert "no access token: the token endpoint refused" in failed.value.error.message

    minters = Minters()
    tokens = TokenBroker({"vertex": minters.factory})
    statuses = iter([401, 200])
    client = HandlerClient(lambda request: httpx.Response(next(statuses), json={}))
    with pytest.raises(upstream.CallFailed) as failed:
        await call(client, [candidate("v1", "gemini-x")], tokens)
    assert failed.value.attempts == 1
    await call(client, [candidate("v1", "gemini-x")], tokens)
    assert [r.headers["authorization"] for r, _ in client.sent] == ["Bearer ya29.test-1", "Bearer ya29.test-2"]
