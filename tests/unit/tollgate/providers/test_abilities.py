"""Every provider kind declares its abilities; an ability it lacks raises NotSupported, and the
edge's unary path skips such a channel (typed dispatch, no method lookups by name)."""

from __future__ import annotations

import pytest

from tollgate.canonical import ChatRequest
from tollgate.providers import REGISTRY
from tollgate.providers.base import (
    ABILITIES,
    CHAT,
    COUNT_TOKENS,
    EMBEDDINGS,
    EMBEDDINGS_OPERATION,
    RERANK,
    RERANK_OPERATION,
    STREAM,
    NotSupported,
)

CALLS = {
    EMBEDDINGS: lambda a: a.embeddings_request("http://u.test", "k", "m", {"input": ["x"]}),
    RERANK: lambda a: a.rerank_request("http://u.test", "k", "m", {"query": "q", "documents": ["d"]}),
    COUNT_TOKENS: lambda a: a.count_tokens_request("http://u.test", "k", "m", {"messages": []}),
}


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_abilities_are_declared_and_honoured(kind: str) -> None:
    adapter = REGISTRY[kind]
    assert adapter.abilities <= ABILITIES and adapter.abilities
    assert (CHAT in adapter.abilities) is (STREAM in adapter.abilities)  # a chat kind streams; a retrieval-only kind does neither
    if CHAT not in adapter.abilities:
        with pytest.raises(NotSupported):
            adapter.chat_request("http://u.test", "k", "m", ChatRequest(model="m", messages=[]), stream=False)
        with pytest.raises(NotSupported):
            adapter.native_request("http://u.test", "k", "m", {"messages": []}, stream=True)
    for ability, make in CALLS.items():
        if ability in adapter.abilities:
            assert make(adapter).url.startswith("http://u.test")
        else:
            with pytest.raises(NotSupported) as caught:
                make(adapter)
            assert caught.value.ability == ability and kind in str(caught.value)


def test_known_abilities() -> None:
    assert REGISTRY["anthropic"].abilities == {CHAT, STREAM, COUNT_TOKENS}
    assert REGISTRY["gemini"].abilities == {CHAT, STREAM, EMBEDDINGS}
    assert REGISTRY["openai"].abilities == {CHAT, STREAM, EMBEDDINGS, RERANK}
    assert REGISTRY["azure"].abilities == {CHAT, STREAM, EMBEDDINGS}
    assert REGISTRY["cohere"].abilities == REGISTRY["jina"].abilities == REGISTRY["voyage"].abilities == {EMBEDDINGS, RERANK}
    assert EMBEDDINGS_OPERATION.serves(REGISTRY["gemini"]) and not RERANK_OPERATION.serves(REGISTRY["gemini"])
    assert not EMBEDDINGS_OPERATION.serves(REGISTRY["anthropic"])
