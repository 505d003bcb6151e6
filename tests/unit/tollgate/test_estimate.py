"""The one token estimator (tollgate.estimate): characters per token over the canonical request,
so every door's request (and each count endpoint) is estimated alike."""

from __future__ import annotations

from services.edge.frontends.anthropic.inbound import to_canonical_request as from_anthropic
from services.edge.frontends.gemini.inbound import to_canonical_request as from_gemini
from tollgate import estimate
from tollgate.canonical import from_openai


def test_one_rate_of_characters_per_token() -> None:
    assert [estimate.tokens(n) for n in (0, 1, 4, 5)] == [0, 1, 1, 2]


def test_what_counts_as_text() -> None:
    request = from_openai(
        {
            "messages": [
                {"role": "system", "content": "abcd"},  # 4
                {"role": "user", "content": [{"type": "text", "text": "abcdefgh"}, {"type": "image_url", "image_url": {"url": "data:x"}}]},
                {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "w", "arguments": '{"a":1}'}}]},
                {"role": "tool", "tool_call_id": "t", "content": "xy"},  # 2
            ],
            "tools": [{"type": "function", "function": {"name": "w"}}],  # {"type":"function","function":{"name":"w"}}: 43
        }
    )
    assert estimate.request_chars(request) == 4 + 8 + (1 + 7) + 2 + 43
    assert estimate.request_tokens(request) == 17  # ceil(65 / 4)


def test_the_same_conversation_is_the_same_estimate_at_every_door() -> None:
    openai = from_openai({"messages": [{"role": "system", "content": "abcd"}, {"role": "user", "content": "abcde"}]})
    body = {"model": "m", "system": "abcd", "max_tokens": 1, "messages": [{"role": "user", "content": "abcde"}]}
    anthropic = from_anthropic(body, "m", stream=False)
    gemini = from_gemini({"systemInstruction": {"parts": [{"text": "abcd"}]}, "contents": [{"parts": [{"text": "abcde"}]}]}, "m", False)
    assert estimate.request_tokens(openai) == estimate.request_tokens(anthropic) == estimate.request_tokens(gemini) == 3


def test_an_unreadable_body_is_bounded_by_its_size() -> None:
    assert estimate.unreadable_tokens({"x": "abcdefgh"}) == 4  # {"x":"abcdefgh"}: 16 characters
