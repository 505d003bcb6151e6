"""The azure, cohere, jina and voyage kinds end to end: official SDKs (and plain HTTP for
rerank, which has no SDK method) through the edge to the simulator speaking each vendor's
wire format, each request metered exactly once. The chat contract of the azure kind
(deployment URLs) runs in test_contract.py and test_error_contract.py; here: its v1 API with
an Entra token, its embeddings, and the native retrieval kinds."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types as gtypes

from tests.e2e.test_contract import wait_for_usage
from tools.provider_sim.common import embedding

RETRIEVAL = ("cohere", "jina", "voyage")
TEXTS = ["alpha beta", "gamma delta epsilon"]  # 2 + 3 words
DOCUMENTS = ["a green pear", "a red apple", "red wine"]
QUESTION = [{"role": "user", "content": "Say something nice"}]  # 3 words
PRICE_IN, PRICE_OUT = 3, 7  # micro-USD per token in the test catalog


def sim_seen(stack) -> dict:
    return httpx.get(f"{stack.sim_url.removesuffix('/v1')}/_sim/stats", timeout=5).json()["headers"]


def test_azure_v1_api_with_an_entra_token_from_every_door(stack, new_account):
    account_id, key = new_account()
    oai = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    whole = oai.chat.completions.create(model="azure-v1", messages=QUESTION, max_tokens=4)
    assert whole.choices[0].message.content == "the quick brown fox"
    assert sim_seen(stack)["azure-auth"] == "entra"  # the channel's secret went as a bearer token, not an api-key
    chunks = list(
        oai.chat.completions.create(model="azure-v1", messages=QUESTION, max_tokens=3, stream=True, stream_options={"include_usage": True})
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "the quick brown"
    assert chunks[-1].usage.completion_tokens == 3
    claude = anthropic.Anthropic(base_url=stack.edge_url.removesuffix("/v1"), api_key=key, max_retries=0)
    msg = claude.messages.create(model="azure-v1", max_tokens=2, messages=QUESTION)
    assert msg.content[0].text == "the quick" and (msg.usage.input_tokens, msg.usage.output_tokens) == (3, 2)
    gemini = genai.Client(api_key=key, http_options=gtypes.HttpOptions(base_url=stack.edge_url.removesuffix("/v1") + "/gemini"))
    reply = gemini.models.generate_content(
        model="azure-v1", contents="Say something nice", config=gtypes.GenerateContentConfig(max_output_tokens=2)
    )
    assert reply.text == "the quick"
    stored = wait_for_usage(stack, account_id, 4)
    assert stored["requests"] == 4
    assert (stored["prompt_tokens"], stored["completion_tokens"]) == (4 * 3, 4 + 3 + 2 + 2)


def test_azure_v1_api_serves_the_responses_api_natively(stack, new_account):
    account_id, key = new_account()
    oai = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    whole = oai.responses.create(model="azure-v1", input="Say something nice", max_output_tokens=4)
    assert whole.id.startswith("resp_sim"), "Azure's own Response, passed through"
    assert whole.output_text == "the quick brown fox" and (whole.usage.input_tokens, whole.usage.output_tokens) == (3, 4)
    assert whole.model == "azure-v1"  # the model the client asked for
    events = list(oai.responses.create(model="azure-v1", input="Say something nice", max_output_tokens=3, stream=True))
    done = events[-1]
    assert done.type == "response.completed" and done.response.output_text == "the quick brown"
    assert sim_seen(stack)["azure-auth"] == "entra"
    stored = wait_for_usage(stack, account_id, 2)
    assert (stored["requests"], stored["prompt_tokens"], stored["completion_tokens"]) == (2, 6, 7)


def test_azure_embeddings_with_the_openai_sdk(stack, new_account):
    account_id, key = new_account()
    oai = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    result = oai.embeddings.create(model="embed-azure", input=TEXTS)  # the SDK asks for base64: Azure encodes it
    assert [d.embedding for d in result.data] == [embedding(t) for t in TEXTS]
    assert result.usage.prompt_tokens == 5
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["prompt_tokens"], stored["cost_micros"]) == (1, 5, 5 * PRICE_IN)


@pytest.mark.parametrize("kind", RETRIEVAL)
def test_native_embeddings_with_the_openai_sdk(stack, new_account, kind):
    account_id, key = new_account()
    oai = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    packed = oai.embeddings.create(model=f"embed-{kind}", input=TEXTS)  # base64, encoded by the edge from the vendor's floats
    floats = oai.embeddings.create(model=f"embed-{kind}", input=TEXTS[0], encoding_format="float")
    assert [d.embedding for d in packed.data] == [embedding(t) for t in TEXTS]
    assert floats.data[0].embedding == embedding(TEXTS[0])
    assert (packed.usage.prompt_tokens, floats.usage.prompt_tokens) == (5, 2)
    stored = wait_for_usage(stack, account_id, 2)
    assert (stored["requests"], stored["prompt_tokens"], stored["completion_tokens"]) == (2, 7, 0)
    assert stored["cost_micros"] == 7 * PRICE_IN


@pytest.mark.parametrize("kind", [*RETRIEVAL, "azure"])
def test_embeddings_with_the_google_sdk(stack, new_account, kind):
    account_id, key = new_account()
    gemini = genai.Client(api_key=key, http_options=gtypes.HttpOptions(base_url=stack.edge_url.removesuffix("/v1") + "/gemini"))
    result = gemini.models.embed_content(model=f"embed-{kind}", contents=TEXTS)
    assert [e.values for e in result.embeddings] == [embedding(t) for t in TEXTS]
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["prompt_tokens"]) == (1, 5)


@pytest.mark.parametrize("kind", RETRIEVAL)
def test_native_rerank_through_v1_rerank(stack, new_account, kind):
    account_id, key = new_account()
    body = {"model": f"rerank-{kind}", "query": "red apple", "documents": DOCUMENTS, "top_n": 2, "return_documents": True}
    r = httpx.post(f"{stack.edge_url}/rerank", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert [(x["index"], x["relevance_score"]) for x in answer["results"]] == [(1, 1.0), (2, 0.5)]
    assert [x["document"] for x in answer["results"]] == [{"text": "a red apple"}, {"text": "red wine"}]  # Cohere's: from the request
    if kind == "cohere":  # Cohere v2 bills rerank in search units (one query, up to 100 documents)
        assert answer["usage"] == {"search_units": 1}
        billed = 1
    else:  # Jina and Voyage count tokens: the query once per document, plus the documents
        billed = 2 * 3 + (3 + 3 + 2)
        assert answer["usage"] == {"total_tokens": billed}
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["prompt_tokens"], stored["cost_micros"]) == (1, billed, billed * PRICE_IN)


# mode -> (status the client sees, error code)
FAILURES = {
    "error-400": (400, "upstream_bad_request"),  # the request's own fault: passed back with the vendor's message
    "error-401": (502, "upstream_error"),  # the channel's credential: every channel failed
    "error-429": (429, "upstream_rate_limited"),
    "error-500": (502, "upstream_error"),
}


@pytest.mark.parametrize("mode", sorted(FAILURES))
@pytest.mark.parametrize("kind", RETRIEVAL)
def test_native_rerank_errors_in_openai_shape_metered_once(stack, new_account, kind, mode):
    account_id, key = new_account()
    body = {"model": f"rerank-{kind}-{mode}", "query": "q", "documents": ["d"]}
    r = httpx.post(f"{stack.edge_url}/rerank", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    status, code = FAILURES[mode]
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert set(r.json()["error"]) >= {"message", "type", "code"}
    if mode == "error-400":
        assert "simulated HTTP 400" in r.json()["error"]["message"]  # read from the vendor's own error shape
    if mode == "error-429":
        assert r.headers["retry-after"] == "1"
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["errors"], stored["prompt_tokens"]) == (1, 1, 0)


def test_a_retrieval_kind_serves_no_chat_and_bad_input_is_a_400(stack, new_account):
    account_id, key = new_account()
    oai = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as refused:
        oai.chat.completions.create(model="rerank-cohere", messages=QUESTION)
    assert refused.value.status_code == 503 and "does not serve this endpoint" in refused.value.message
    with pytest.raises(openai.BadRequestError) as tokens:
        oai.embeddings.create(model="embed-voyage", input=[[1, 2, 3]])  # token arrays: Voyage embeds text
    assert "embeds text" in tokens.value.message
    r = httpx.post(
        f"{stack.edge_url}/rerank",
        json={"model": "rerank-jina", "query": "q", "documents": [{"image": "x.png"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_documents"
    assert wait_for_usage(stack, account_id, 1, timeout=1.5)["requests"] == 0  # no upstream was reached: nothing metered


def test_azure_content_filter_refusal_reaches_the_client(stack, new_account):
    account_id, key = new_account()
    oai = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        oai.chat.completions.create(model="openai-azure-error-400", messages=QUESTION)
    assert "content filter" in refused.value.message and "content_filter" in refused.value.message
    body = json.loads(refused.value.response.text)
    assert set(body["error"]) >= {"message", "type", "code"}
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["errors"]) == (1, 1)  # the upstream was reached: metered once
