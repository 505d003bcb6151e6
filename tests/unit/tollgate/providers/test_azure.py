"""The azure adapter: its two URL styles, its auth, what it keeps and drops of an OpenAI body,
its settings' validation, and how it reads Azure's errors and annotated answers."""

from __future__ import annotations

import json

import pytest

from tollgate.canonical import ChatRequest, Message
from tollgate.providers import REGISTRY, adapter_for
from tollgate.providers.azure import Azure, settings_of
from tollgate.providers.base import RESPONSES_PROTOCOL, NotSupported
from tollgate.sse import Event

BASE = "https://res.openai.azure.com"
BODY = {"model": "client-name", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5, "stream": True}


def deployment(version: str = "2024-10-21", auth: str = "") -> Azure:
    adapter = adapter_for("azure", {"api_version": version, **({"auth": auth} if auth else {})})
    assert isinstance(adapter, Azure)
    return adapter


def test_deployment_urls_carry_the_deployment_and_api_version() -> None:
    req = deployment().native_request(BASE, "key-1", "my gpt/4o", BODY, stream=True)
    assert req.url == f"{BASE}/openai/deployments/my%20gpt%2F4o/chat/completions?api-version=2024-10-21"
    assert req.headers == {"content-type": "application/json", "api-key": "key-1"}
    sent = json.loads(req.body)
    assert "model" not in sent  # the path names the deployment
    assert sent["messages"] == BODY["messages"] and sent["temperature"] == 0.5
    assert sent["stream_options"] == {"include_usage": True}
    assert BODY["model"] == "client-name"  # the caller's body is not mutated


def test_api_versions_before_stream_usage_get_no_stream_options() -> None:
    sent = json.loads(deployment("2024-06-01").native_request(BASE, "k", "d", {**BODY, "stream_options": {"x": 1}}, stream=True).body)
    assert "stream_options" not in sent
    assert "stream_options" in json.loads(deployment("2025-04-01-preview").native_request(BASE, "k", "d", BODY, stream=True).body)


def test_the_v1_api_puts_the_deployment_in_the_body() -> None:
    adapter = REGISTRY["azure"]  # no settings: the v1 API
    req = adapter.native_request(f"{BASE}/openai/v1", "key-1", "dep-1", BODY, stream=False)
    assert req.url == f"{BASE}/openai/v1/chat/completions"
    assert json.loads(req.body)["model"] == "dep-1"
    assert req.headers["api-key"] == "key-1" and "authorization" not in req.headers


def test_entra_auth_sends_the_token_as_a_bearer() -> None:
    req = deployment(auth="entra").native_request(BASE, "eyJtoken", "d", BODY, stream=False)
    assert req.headers["authorization"] == "Bearer eyJtoken" and "api-key" not in req.headers


def test_a_canonical_request_is_sent_in_openai_shape() -> None:
    request = ChatRequest(model="m", messages=[Message(role="user", content="hello")], max_tokens=5)
    sent = json.loads(deployment().chat_request(BASE, "k", "d", request, stream=False).body)
    assert sent["messages"] == [{"role": "user", "content": "hello"}] and sent["max_tokens"] == 5 and "model" not in sent


def test_embeddings_on_both_url_styles() -> None:
    body = {"model": "client", "input": ["a"], "encoding_format": "base64"}
    req = deployment().embeddings_request(BASE, "k", "emb-dep", body)
    assert req.url == f"{BASE}/openai/deployments/emb-dep/embeddings?api-version=2024-10-21"
    assert json.loads(req.body) == {"input": ["a"], "encoding_format": "base64"}
    v1 = REGISTRY["azure"].embeddings_request(f"{BASE}/openai/v1", "k", "emb-dep", body)
    assert v1.url == f"{BASE}/openai/v1/embeddings" and json.loads(v1.body)["model"] == "emb-dep"
    with pytest.raises(NotSupported):
        REGISTRY["azure"].rerank_request(BASE, "k", "d", {"query": "q", "documents": ["x"]})


@pytest.mark.parametrize(
    "settings, problem",
    [
        ({"api_version": "latest"}, "api_version"),
        ({"api_version": "2024-10-21", "auth": "oauth"}, "auth"),
        ({"region": "eu"}, "region"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        settings_of(settings)
    with pytest.raises(ValueError, match=problem):
        adapter_for("azure", settings)


def test_other_kinds_take_no_settings() -> None:
    with pytest.raises(ValueError, match="takes no api_version"):
        adapter_for("openai", {"api_version": "2024-10-21"})


def test_errors_are_read_from_azure_shapes() -> None:
    adapter = REGISTRY["azure"]
    filtered = {
        "error": {
            "message": "The response was filtered",
            "code": "content_filter",
            "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {"hate": {"filtered": True}}},
        }
    }
    message = adapter.error_message(json.dumps(filtered).encode())
    assert "content filter" in message and "content_filter" in message and "The response was filtered" in message
    assert adapter.error_message(b'{"error": {"code": "429", "message": "Rate limit is exceeded. Try again in 6 seconds."}}').startswith(
        "Rate limit"
    )
    assert adapter.error_message(b'{"statusCode": 401, "message": "Access denied due to invalid subscription key."}').startswith("Access")
    assert adapter.error_message(b"<html>bad gateway</html>") == ""


def test_annotated_answers_and_streams_are_read() -> None:
    adapter = REGISTRY["azure"]
    whole = {
        "id": "c1",
        "created": 1,
        "model": "gpt-4o",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop", "content_filter_results": {}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    response, usage = adapter.chat_response(json.dumps(whole).encode())
    assert response.choices[0].message.content == "hi" and (usage.prompt_tokens, usage.completion_tokens) == (3, 1)
    decoder = adapter.stream_decoder("m")
    first = {"id": "", "object": "", "created": 0, "model": "", "choices": [], "prompt_filter_results": []}
    assert decoder.feed(Event(data=json.dumps(first).encode()))[0].choices == []
    decoder.feed(Event(data=json.dumps({"id": "c", "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 5}}).encode()))
    assert decoder.usage is not None and decoder.usage.completion_tokens == 5


def test_the_v1_api_passes_the_responses_api_through() -> None:
    view = REGISTRY["azure"].native_for(RESPONSES_PROTOCOL)
    assert view is not None and view.kind == "azure"
    req = view.native_request(f"{BASE}/openai/v1", "key-1", "dep-1", {"model": "client", "input": "hi", "stream": True}, stream=True)
    assert req.url == f"{BASE}/openai/v1/responses"
    assert req.headers["api-key"] == "key-1" and "authorization" not in req.headers
    assert json.loads(req.body) == {"model": "dep-1", "input": "hi", "stream": True, "store": False}
    assert deployment().native_for(RESPONSES_PROTOCOL) is None  # dated API versions: translated to chat completions
