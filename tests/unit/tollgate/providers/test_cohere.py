"""The cohere adapter: OpenAI-shaped embeddings and rerank bodies as Cohere v2 requests
(its parameter table), Cohere's answers back in the edge's shapes, billed units metered."""

from __future__ import annotations

import json

import pytest

from tollgate.errors import BadRequest
from tollgate.providers import REGISTRY
from tollgate.providers.base import EMBEDDINGS_OPERATION, RERANK_OPERATION
from tollgate.providers.cohere import EMBED_PARAMS

COHERE = REGISTRY["cohere"]
BASE = "https://api.cohere.com"


def test_embeddings_request() -> None:
    body = {"model": "alias", "input": ["a b", "c"], "encoding_format": "base64", "dimensions": 256, "user": "u-1"}
    req = COHERE.embeddings_request(BASE, "co-key", "embed-v4.0", body)
    assert req.url == f"{BASE}/v2/embed"
    assert req.headers["authorization"] == "Bearer co-key"
    assert json.loads(req.body) == {
        "model": "embed-v4.0",
        "texts": ["a b", "c"],
        "input_type": "search_document",  # required by v3+; the default when the client sends none
        "embedding_types": ["float"],
        "output_dimension": 256,
    }
    assert EMBED_PARAMS.dropped(body, frozenset({"model", "input"})) == ["encoding_format", "user"]
    asked = json.loads(COHERE.embeddings_request(BASE, "k", "m", {"input": "q", "input_type": "search_query"}).body)
    assert asked["input_type"] == "search_query" and asked["texts"] == ["q"]


@pytest.mark.parametrize(
    "body",
    [{"input": [[1, 2, 3]]}, {"input": ["a"], "dimensions": "wide"}, {"input": ["a"], "encoding_format": "int8"}, {"input": 5}],
    ids=["token arrays", "bad dimensions", "bad encoding", "number"],
)
def test_embeddings_inputs_cohere_cannot_take_are_400s(body: dict) -> None:
    with pytest.raises(BadRequest):
        COHERE.embeddings_request(BASE, "k", "m", body)


def test_embeddings_result_float_and_base64() -> None:
    payload = json.dumps(
        {
            "id": "e1",
            "embeddings": {"float": [[0.5, -0.25], [1.0, 0.0]]},
            "texts": ["a b", "c"],
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 3}},
            "response_type": "embeddings_by_type",
        }
    ).encode()
    result, usage = EMBEDDINGS_OPERATION.result(COHERE, payload, {"input": ["a b", "c"]})
    assert isinstance(result, dict)
    assert [d["embedding"] for d in result["data"]] == [[0.5, -0.25], [1.0, 0.0]]
    assert result["usage"] == {"prompt_tokens": 3, "total_tokens": 3} and usage.prompt_tokens == 3
    encoded, _ = EMBEDDINGS_OPERATION.result(COHERE, payload, {"input": ["a b", "c"], "encoding_format": "base64"})
    assert isinstance(encoded, dict) and encoded["data"][0]["embedding"] == "AAAAPwAAgL4="  # little-endian float32 0.5, -0.25


def test_rerank_request_and_result_meter_search_units() -> None:
    body = {"model": "alias", "query": "q", "documents": ["x", {"text": "y"}], "top_n": 1, "return_documents": True}
    req = COHERE.rerank_request(BASE, "k", "rerank-v3.5", body)
    assert req.url == f"{BASE}/v2/rerank"
    assert json.loads(req.body) == {"model": "rerank-v3.5", "query": "q", "documents": ["x", "y"], "top_n": 1}
    payload = b'{"id": "r1", "results": [{"index": 1, "relevance_score": 0.9}], "meta": {"billed_units": {"search_units": 2}}}'
    result, usage = RERANK_OPERATION.result(COHERE, payload, {**body, "return_documents": False})
    assert result == {"id": "r1", "results": [{"index": 1, "relevance_score": 0.9}], "usage": {"search_units": 2}}
    assert usage.prompt_tokens == 2  # what Cohere bills rerank by: search units
    with_documents, _ = RERANK_OPERATION.result(COHERE, payload, body)  # asked for: filled in from the request
    assert isinstance(with_documents, dict) and with_documents["results"] == [
        {"index": 1, "relevance_score": 0.9, "document": {"text": "y"}}
    ]


def test_rerank_documents_must_be_text() -> None:
    with pytest.raises(BadRequest, match="ranks text"):
        COHERE.rerank_request(BASE, "k", "m", {"query": "q", "documents": [{"image": "x"}]})


def test_unreadable_answers_and_errors() -> None:
    with pytest.raises(ValueError):
        COHERE.rerank_result(b'{"results": "nope"}')
    with pytest.raises(ValueError):
        COHERE.embeddings_result(b'{"embeddings": {"int8": [[1]]}}')
    assert COHERE.error_message(b'{"message": "invalid api token"}') == "invalid api token"
    assert COHERE.error_message(b"oops") == ""
