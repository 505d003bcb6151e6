"""The policies written once in tollgate/ and shared by the services: the credential parser,
the error renderers, the channel ordering and the token estimator."""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace

import pytest

from tollgate import error_bodies, estimate
from tollgate.credentials import bearer_token, presented
from tollgate.errors import BadRequest, ModelUnavailable, RateLimited
from tollgate.ordering import by_priority


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer sk-1", "sk-1"), ("bearer sk-1", "sk-1"), ("BEARER  sk-1 ", "sk-1"), ("Bearer", ""), ("Bearer ", ""),
        ("Basic c2stMQ==", ""), ("Bearersk-1", ""), ("Bearer\tsk-1", ""), ("", ""), ("sk-1", ""),
    ],
)  # fmt: skip
def test_one_bearer_parser_for_http_and_grpc(value: str, token: str) -> None:
    assert bearer_token(value) == token
    assert presented((("x-other", "Bearer no"), ("authorization", value))) == token


def test_error_bodies_per_protocol() -> None:
    err = RateLimited("slow down")
    assert error_bodies.openai(err) == {"error": {"message": "slow down", "type": "rate_limit_error", "code": err.code, "param": None}}
    assert error_bodies.openai(err) == err.to_openai()
    assert error_bodies.openai(err, param=False) == {"error": {"message": "slow down", "type": "rate_limit_error", "code": err.code}}
    assert error_bodies.anthropic(err) == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    assert error_bodies.gemini(err) == {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
    assert error_bodies.anthropic(ModelUnavailable("x"))["error"]["type"] == "overloaded_error"
    assert error_bodies.anthropic_error_type(402) == "billing_error" and error_bodies.anthropic_error_type(502) == "api_error"
    assert error_bodies.google_status(418) == "INVALID_ARGUMENT" and error_bodies.google_status(502) == "INTERNAL"
    assert error_bodies.gemini(BadRequest("no"))["error"]["status"] == "INVALID_ARGUMENT"


def _channel(name: str, priority: int = 0, weight: int = 1, half_open: bool = False):
    return SimpleNamespace(name=name, priority=priority, weight=weight, half_open=half_open)


def test_ordering_tiers_weights_and_demotion() -> None:
    rng = random.Random(3)
    channels = [_channel("low", 0), _channel("probe", 5, half_open=True), _channel("heavy", 5, weight=9), _channel("light", 5, weight=1)]

    def order():
        ordered = by_priority(channels, rng, priority=lambda c: c.priority, weight=lambda c: c.weight, demoted=lambda c: c.half_open)
        return [c.name for c in ordered]

    runs = [order() for _ in range(2000)]
    assert all(r[-1] == "low" and r[2] == "probe" for r in runs)
    firsts = Counter(r[0] for r in runs)
    assert 0.85 < firsts["heavy"] / 2000 < 0.95  # 9 : 1 within the tier
    same = [by_priority(channels, random.Random(7), priority=lambda c: c.priority, weight=lambda c: c.weight) for _ in range(2)]
    assert same[0] == same[1]


def test_one_rate_of_characters_per_token() -> None:
    assert [estimate.tokens(n) for n in (0, 1, 4, 5)] == [0, 1, 1, 2]
    assert estimate.prompt_tokens({"model": "m", "messages": [{"role": "user", "content": "abcdefgh"}]}) == 2
    assert estimate.anthropic_tokens({"system": "abcd", "messages": [{"role": "user", "content": "abcd"}]}) == 2
    body = {"systemInstruction": {"parts": [{"text": "abcd"}]}, "contents": [{"parts": [{"text": "abcde"}]}]}
    assert estimate.gemini_tokens(body) == 3 and estimate.gemini_tokens({"generateContentRequest": body}) == 3
