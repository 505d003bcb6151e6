"""The simulator's vendor modes (``tools/provider_sim/azure.py`` and ``retrieval.py``) check
what the vendors check and answer in their shapes: Azure through the openai SDK's own Azure
client (its URL, header and api-version conventions), Cohere, Jina and Voyage over HTTP."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.unit.tools.test_provider_sim import base  # the running simulator
from tools.provider_sim.common import embedding

__all__ = ["base"]
MESSAGES = [{"role": "user", "content": "say something nice"}]  # 3 words


def azure(base: str, version: str = "2024-10-21", key: str = "az-key") -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=f"{base}/azure", api_key=key, api_version=version, max_retries=0)


def test_azure_deployment_urls_through_the_sdks_azure_client(base: str) -> None:
    client = azure(base)
    reply = client.chat.completions.create(model="sim-1", messages=MESSAGES, max_tokens=4)  # model = the deployment
    assert reply.choices[0].message.content == "the quick brown fox"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3, 4)
    assert reply.model_extra["prompt_filter_results"][0]["prompt_index"] == 0
    chunks = list(
        client.chat.completions.create(model="sim-1", messages=MESSAGES, max_tokens=3, stream=True, stream_options={"include_usage": True})
    )
    assert chunks[0].choices == [] and "prompt_filter_results" in chunks[0].model_extra
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "the quick brown"
    assert chunks[-1].usage.completion_tokens == 3
    vectors = client.embeddings.create(model="sim-embed", input=["alpha beta"], encoding_format="float")
    assert vectors.data[0].embedding == embedding("alpha beta")
    assert httpx.get(f"{base}/_sim/stats", timeout=5).json()["headers"]["azure-auth"] == "api-key"


def test_azure_v1_api_and_entra_tokens(base: str) -> None:
    client = openai.OpenAI(base_url=f"{base}/azure/openai/v1", api_key="eyJ.entra.token", max_retries=0)  # sends a bearer
    reply = client.chat.completions.create(model="sim-1", messages=MESSAGES, max_tokens=2)
    assert reply.choices[0].message.content == "the quick"
    response = client.responses.create(model="sim-1", input="say something nice", max_output_tokens=2)
    assert response.output_text == "the quick" and response.usage.input_tokens == 3
    assert httpx.get(f"{base}/_sim/stats", timeout=5).json()["headers"]["azure-auth"] == "entra"


def test_azure_checks_what_azure_checks(base: str) -> None:
    url = f"{base}/azure/openai/deployments/sim-1/chat/completions"
    body = {"messages": MESSAGES}
    assert httpx.post(url, params={"api-version": "2024-10-21"}, json=body, timeout=5).status_code == 401  # no api-key
    assert httpx.post(url, json=body, headers={"api-key": "k"}, timeout=5).status_code == 404  # no api-version
    unsupported = httpx.post(url, params={"api-version": "2023-99-99"}, json=body, headers={"api-key": "k"}, timeout=5)
    assert unsupported.status_code == 400 and unsupported.json()["error"]["message"] == "API version not supported"
    old = httpx.post(
        url, params={"api-version": "2024-06-01"}, json={**body, "stream_options": {"include_usage": True}}, headers={"api-key": "k"}
    )
    assert old.status_code == 400 and "stream_options" in old.json()["error"]["message"]
    with pytest.raises(openai.BadRequestError) as refused:
        azure(base).chat.completions.create(model="sim-error-400", messages=MESSAGES)
    assert refused.value.code == "content_filter"
    with pytest.raises(openai.RateLimitError) as limited:
        azure(base).chat.completions.create(model="sim-error-429", messages=MESSAGES)
    assert limited.value.response.headers["retry-after"] == "1"


def post(base: str, path: str, body: dict, key: str | None = "k") -> httpx.Response:
    return httpx.post(f"{base}{path}", json=body, headers={"authorization": f"Bearer {key}"} if key else {}, timeout=5)


def test_cohere_embed_and_rerank(base: str) -> None:
    body = {"model": "embed-v4.0", "texts": ["a b", "c"], "input_type": "search_document", "embedding_types": ["float"]}
    answer = post(base, "/cohere/v2/embed", body).json()
    assert answer["embeddings"]["float"] == [embedding("a b"), embedding("c")]
    assert answer["meta"]["billed_units"] == {"input_tokens": 3}
    assert post(base, "/cohere/v2/embed", {**body, "input_type": None}).status_code == 400  # required by v3+
    assert post(base, "/cohere/v2/embed", {**body, "encoding_format": "float"}).json() == {"message": "unknown field(s): encoding_format"}
    assert post(base, "/cohere/v2/embed", body, key=None).status_code == 401
    ranked = post(base, "/cohere/v2/rerank", {"model": "rerank-v3.5", "query": "fox", "documents": ["a dog", "the fox"], "top_n": 1}).json()
    assert ranked["results"] == [{"index": 1, "relevance_score": 1.0}]
    assert ranked["meta"]["billed_units"] == {"search_units": 1}
    many = post(base, "/cohere/v2/rerank", {"model": "rerank-v3.5", "query": "q", "documents": ["d"] * 101}).json()
    assert many["meta"]["billed_units"] == {"search_units": 2}  # one unit per 100 documents
    assert post(base, "/cohere/v2/rerank", {"model": "sim-error-429", "query": "q", "documents": ["d"]}).headers["retry-after"] == "1"


def test_jina_embeddings_and_rerank(base: str) -> None:
    answer = post(base, "/jina/v1/embeddings", {"model": "jina-embeddings-v3", "input": ["a b"], "task": "retrieval.query"}).json()
    assert answer["data"][0]["embedding"] == embedding("a b") and answer["usage"]["total_tokens"] == 2
    assert post(base, "/jina/v1/embeddings", {"model": "m", "input": ["a"], "dimensions": 8, "user": "u"}).status_code == 400
    ranked = post(base, "/jina/v1/rerank", {"model": "jr", "query": "fox", "documents": ["a dog", "the fox"]}).json()
    assert ranked["results"][0] == {"index": 1, "relevance_score": 1.0, "document": {"text": "the fox"}}  # documents by default
    assert ranked["usage"] == {"total_tokens": 1 * 2 + 4}
    assert post(base, "/jina/v1/rerank", {"model": "m", "query": "q", "documents": ["d"]}, key=None).json() == {
        "detail": "invalid api token"
    }


def test_voyage_embeddings_and_rerank(base: str) -> None:
    answer = post(base, "/voyage/v1/embeddings", {"model": "voyage-3.5", "input": "a b", "input_type": "query"}).json()
    assert answer["data"] == [{"object": "embedding", "embedding": embedding("a b"), "index": 0}] and answer["usage"] == {"total_tokens": 2}
    assert post(base, "/voyage/v1/embeddings", {"model": "m", "input": "a", "input_type": "passage"}).status_code == 400
    ranked = post(base, "/voyage/v1/rerank", {"model": "rerank-2.5", "query": "fox", "documents": ["a dog", "the fox"], "top_k": 1}).json()
    assert ranked["data"] == [{"relevance_score": 1.0, "index": 1}]
    assert post(base, "/voyage/v1/rerank", {"model": "m", "query": "q", "documents": ["d"], "top_n": 1}).status_code == 400  # top_k
