"""services/edge/counting.py through the Gemini door's ``:countTokens``: a Gemini channel counts
natively (the wrapped request naming the upstream model), other channels leave it to the one
estimator; the Anthropic door's cases are in frontends/test_anthropic.py."""

from __future__ import annotations

import json

import httpx
from litestar import Litestar

from services.edge.frontends import gemini
from services.edge.middleware import timing_middleware
from tests.unit.edge.frontends.test_anthropic import FakeEdge
from tollgate.rpc import router_pb2 as pb

APP = Litestar(route_handlers=gemini.ROUTES, middleware=[timing_middleware])
CONTENTS = [{"role": "user", "parts": [{"text": "123456789"}]}]  # 9 characters: 3 tokens estimated


async def _count(edge: FakeEdge, body: dict) -> httpx.Response:
    APP.state.edge = edge
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://edge.test") as client:
        return await client.post("/gemini/v1beta/models/alias:countTokens", json=body, headers={"x-goog-api-key": "sk-tollgate"})


async def test_a_gemini_channel_counts_natively(monkeypatch) -> None:
    monkeypatch.setenv("TEST_GEMINI_KEY", "g-key")
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"totalTokens": 41, "promptTokensDetails": []})

    other = pb.Candidate(channel_id="ant", provider="anthropic", base_url="http://a.test", upstream_model="claude")
    channel = pb.Candidate(
        channel_id="gem", provider="gemini", base_url="http://g.test", api_key_env="TEST_GEMINI_KEY", upstream_model="gemini-x"
    )
    body = {"generateContentRequest": {"model": "models/alias", "contents": CONTENTS}}
    answer = await _count(FakeEdge([other, channel], upstream), body)
    assert answer.status_code == 200 and answer.json() == {"totalTokens": 41, "promptTokensDetails": []}
    assert (answer.headers["x-tollgate-token-count"], answer.headers["x-tollgate-channel"]) == ("upstream", "gem")
    (request,) = seen  # the Anthropic channel cannot count a Gemini-shaped question: not asked
    assert str(request.url) == "http://g.test/v1beta/models/gemini-x:countTokens" and request.headers["x-goog-api-key"] == "g-key"
    assert json.loads(request.content) == {"generateContentRequest": {"model": "models/gemini-x", "contents": CONTENTS}}


async def test_without_a_gemini_channel_the_one_estimator_answers() -> None:
    seen: list[httpx.Request] = []
    other = pb.Candidate(channel_id="oai", provider="openai", base_url="http://o.test", upstream_model="gpt")
    edge = FakeEdge([other], lambda r: seen.append(r) or httpx.Response(500))
    answer = await _count(edge, {"contents": CONTENTS})
    assert answer.status_code == 200 and answer.json() == {"totalTokens": 3} and not seen
    assert answer.headers["x-tollgate-token-count"] == "estimate"
    wrapped = await _count(edge, {"generateContentRequest": {"contents": CONTENTS}})
    assert wrapped.json() == {"totalTokens": 3}


async def test_counting_errors_are_in_gemini_shape() -> None:
    edge = FakeEdge([], lambda r: httpx.Response(500))
    bad = await _count(edge, {"contents": []})
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    broke = await _count(FakeEdge([], lambda r: httpx.Response(500), balance=0), {"contents": CONTENTS})
    assert broke.status_code == 402 and broke.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
