"""Embeddings through the openai SDK and rerank over plain HTTP, both metered."""

from __future__ import annotations

import httpx
import openai

from tests.e2e.test_contract import wait_for_usage


def test_embeddings_with_the_openai_sdk(stack, new_account):
    account_id, key = new_account()
    c = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    texts = ["alpha beta", "gamma delta epsilon"]
    result = c.embeddings.create(model="embed-1", input=texts)  # the SDK asks for base64 and decodes it
    assert [d.index for d in result.data] == [0, 1]
    assert all(len(d.embedding) == 8 and all(-1 <= x <= 1 for x in d.embedding) for d in result.data)
    assert result.data[0].embedding != result.data[1].embedding
    again = c.embeddings.create(model="tollgate/embed-1", input=texts[0], encoding_format="float")
    assert again.data[0].embedding == result.data[0].embedding  # deterministic, and aliases work
    assert result.usage.prompt_tokens == 5
    stored = wait_for_usage(stack, account_id, 2)
    assert (stored["requests"], stored["prompt_tokens"], stored["completion_tokens"]) == (2, 7, 0)
    assert stored["cost_micros"] == 5 + 2  # at $1 per million tokens a token costs one micro-USD


def test_rerank_over_http(stack, new_account):
    account_id, key = new_account()
    body = {
        "model": "rerank-1",
        "query": "red apple",
        "documents": ["a green pear", "a red apple", "red wine"],
        "top_n": 2,
        "return_documents": True,
    }
    r = httpx.post(f"{stack.edge_url}/rerank", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == [1, 2]
    assert results[0]["relevance_score"] == 1.0 and results[0]["document"]["text"] == "a red apple"
    assert r.headers["x-request-id"]
    stored = wait_for_usage(stack, account_id, 1)
    assert stored["requests"] == 1 and stored["prompt_tokens"] == r.json()["usage"]["total_tokens"] > 0


def test_bad_rerank_body_is_a_400_in_openai_shape(stack, new_account):
    _, key = new_account()
    r = httpx.post(
        f"{stack.edge_url}/rerank", json={"model": "rerank-1", "query": "x"}, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_documents"


def test_embeddings_with_the_google_sdk(stack, new_account):
    """Gemini's embed actions, served here by an OpenAI-protocol upstream (translated)."""
    from google import genai
    from google.genai import types

    account_id, key = new_account()
    client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=stack.edge_url.removesuffix("/v1") + "/gemini"))
    result = client.models.embed_content(model="embed-1", contents=["alpha beta", "gamma delta epsilon"])
    assert len(result.embeddings) == 2 and all(len(e.values) == 8 for e in result.embeddings)
    direct = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0).embeddings.create(model="embed-1", input="alpha beta")
    assert result.embeddings[0].values == direct.data[0].embedding
    stored = wait_for_usage(stack, account_id, 2)
    assert stored["requests"] == 2 and stored["prompt_tokens"] == 5 + 2
