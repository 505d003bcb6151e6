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
    IMAGES,
    MODERATIONS,
    RERANK,
    RERANK_OPERATION,
    RESPONSES,
    RESPONSES_PROTOCOL,
    SPEECH,
    STREAM,
    UPLOADS,
    NotSupported,
    as_asked,
    with_documents,
)
from tollgate.providers.media import IMAGES_OPERATION, MODERATIONS_OPERATION

CALLS = {
    EMBEDDINGS: lambda a: a.embeddings_request("http://u.test", "k", "m", {"input": ["x"]}),
    RERANK: lambda a: a.rerank_request("http://u.test", "k", "m", {"query": "q", "documents": ["d"]}),
    COUNT_TOKENS: lambda a: a.count_tokens_request("http://u.test", "k", "m", {"messages": []}),
    IMAGES: lambda a: a.images_request("http://u.test", "k", "m", {"prompt": "p"}),
    MODERATIONS: lambda a: a.moderations_request("http://u.test", "k", "m", {"input": "x"}),
    SPEECH: lambda a: a.speech_request("http://u.test", "k", "m", {"input": "x", "voice": "alloy"}),
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
    for ability in UPLOADS:  # multipart uploads: where the form goes, its headers (the form's own content-type is added)
        if ability in adapter.abilities:
            url, headers = adapter.upload_target(ability, "http://u.test", "k", "m")
            assert url.startswith("http://u.test/") and "content-type" not in headers
        else:
            with pytest.raises(NotSupported):
                adapter.upload_target(ability, "http://u.test", "k", "m")


def test_known_abilities() -> None:
    assert REGISTRY["anthropic"].abilities == {CHAT, STREAM, COUNT_TOKENS}
    assert REGISTRY["gemini"].abilities == {CHAT, STREAM, EMBEDDINGS, COUNT_TOKENS, IMAGES}  # images: Imagen's :predict
    assert REGISTRY["openai"].abilities == {CHAT, STREAM, EMBEDDINGS, RERANK, RESPONSES, IMAGES, MODERATIONS, SPEECH, *UPLOADS}
    assert REGISTRY["simulator"].abilities >= UPLOADS and not REGISTRY["deepseek"].abilities & UPLOADS
    assert REGISTRY["deepseek"].abilities == {CHAT, STREAM, EMBEDDINGS, RERANK}
    assert REGISTRY["xai"].abilities == REGISTRY["together"].abilities - {RESPONSES} == {CHAT, STREAM, EMBEDDINGS, RERANK, IMAGES}
    assert REGISTRY["azure"].abilities == {CHAT, STREAM, EMBEDDINGS, RESPONSES, IMAGES, SPEECH, *UPLOADS}  # the v1 API
    assert REGISTRY["azure"].configured({"api_version": "2024-10-21"}).abilities == {
        CHAT,
        STREAM,
        EMBEDDINGS,
        IMAGES,
        SPEECH,
        *UPLOADS,
    }  # deployment URLs
    assert IMAGES_OPERATION.serves(REGISTRY["openai"]) and not IMAGES_OPERATION.serves(REGISTRY["deepseek"])
    assert MODERATIONS_OPERATION.serves(REGISTRY["openai"]) and not MODERATIONS_OPERATION.serves(REGISTRY["azure"])
    assert REGISTRY["cohere"].abilities == REGISTRY["jina"].abilities == REGISTRY["voyage"].abilities == {EMBEDDINGS, RERANK}
    assert EMBEDDINGS_OPERATION.serves(REGISTRY["gemini"]) and not RERANK_OPERATION.serves(REGISTRY["gemini"])
    assert not EMBEDDINGS_OPERATION.serves(REGISTRY["anthropic"])


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_native_for_is_the_adapter_itself_or_a_view_for_the_responses_api(kind: str) -> None:
    adapter = REGISTRY[kind]
    assert adapter.native_for(adapter.protocol) is adapter
    assert adapter.native_for("no-such-protocol") is None
    view = adapter.native_for(RESPONSES_PROTOCOL)
    assert (view is not None) == (RESPONSES in adapter.abilities)
    if view is not None:
        assert view.protocol == RESPONSES_PROTOCOL and view.kind == kind


def test_answers_come_back_as_the_client_asked() -> None:
    """The edge's shapes hold whatever the provider returned: base64 embeddings when asked
    (from floats), rerank documents when asked (from the request); upstream bytes pass as they are."""
    floats = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}], "model": "m"}
    assert as_asked(floats, {"encoding_format": "base64"})["data"][0]["embedding"] == "AAAAPwAAgL4="
    assert as_asked(floats, {}) is floats and as_asked(b"raw", {"encoding_format": "base64"}) == b"raw"
    ranked = {
        "results": [{"index": 1, "relevance_score": 0.5}, {"index": 0, "relevance_score": 0.1, "document": {"text": "kept"}}, {"index": 9}]
    }
    body = {"documents": ["a", {"text": "b", "id": "x"}], "return_documents": True}
    assert with_documents(ranked, body)["results"] == [
        {"index": 1, "relevance_score": 0.5, "document": {"text": "b", "id": "x"}},
        {"index": 0, "relevance_score": 0.1, "document": {"text": "kept"}},
        {"index": 9},  # out of range: left as the provider sent it
    ]
    assert with_documents(ranked, {**body, "return_documents": False}) is ranked
