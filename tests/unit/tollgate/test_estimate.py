"""The one token estimator (tollgate.estimate): characters per token, for every protocol's body."""

from __future__ import annotations

from tollgate import estimate


def test_one_rate_of_characters_per_token() -> None:
    assert [estimate.tokens(n) for n in (0, 1, 4, 5)] == [0, 1, 1, 2]
    assert estimate.prompt_tokens({"model": "m", "messages": [{"role": "user", "content": "abcdefgh"}]}) == 2
    assert estimate.anthropic_tokens({"system": "abcd", "messages": [{"role": "user", "content": "abcd"}]}) == 2
    body = {"systemInstruction": {"parts": [{"text": "abcd"}]}, "contents": [{"parts": [{"text": "abcde"}]}]}
    assert estimate.gemini_tokens(body) == 3 and estimate.gemini_tokens({"generateContentRequest": body}) == 3
