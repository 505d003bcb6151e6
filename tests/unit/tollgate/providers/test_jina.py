"""The jina adapter: OpenAI-shaped embeddings and rerank bodies as Jina's requests, its
answers back in the edge's shapes, its token counts metered."""

from __future__ import annotations

import json

import pytest

from tollgate.errors import BadRequest
from tollgate.providers import REGISTRY
from tollgate.providers.base import EMBEDDINGS_OPERATION, RERANK_OPERATION

JINA = REGISTRY["jina"]
BASE = "https://api.jina.ai"


def test_embeddings_request_and_result() -> None:
    body = {"model": "alias", "input": "hello there", "dimensions": 64, "task": "retrieval.query", "encoding_format": "base64", "user": "u"}
    req = JINA.embeddings_request(BASE, "jina-key", "jina-embeddings-v3", body)
    assert (req.url, req.headers["authorization"]) == (f"{BASE}/v1/embeddings", "Bearer jina-key")
    assert json.loads(req.body) == {
        "model": "jina-embeddings-v3",
        "input": ["hello there"],
        "embedding_type": "float",
        "task": "retrieval.query",
        "dimensions": 64,
    }
    data = [{"object": "embedding", "index": 0, "embedding": [0.25]}]
    usage_ = {"total_tokens": 2, "prompt_tokens": 2}
    payload = json.dumps({"model": "jina-embeddings-v3", "object": "list", "usage": usage_, "data": data}).encode()
    result, usage = EMBEDDINGS_OPERATION.result(JINA, payload, {"input": "hello there"})
    assert isinstance(result, dict) and result["data"][0]["embedding"] == [0.25] and result["model"] == "jina-embeddings-v3"
    assert usage.prompt_tokens == 2


def test_rerank_request_and_result() -> None:
    body = {"model": "alias", "query": "q", "documents": [{"text": "a"}, "b"], "top_n": 2, "return_documents": False}
    req = JINA.rerank_request(BASE, "k", "jina-reranker-v2-base-multilingual", body)
    assert req.url == f"{BASE}/v1/rerank"
    sent = json.loads(req.body)
    assert sent == {
        "model": "jina-reranker-v2-base-multilingual",
        "query": "q",
        "documents": ["a", "b"],
        "top_n": 2,
        "return_documents": False,
    }
    payload = b'{"model": "jr", "usage": {"total_tokens": 7}, "results": [{"index": 1, "relevance_score": 0.5, "document": {"text": "b"}}]}'
    result, usage = RERANK_OPERATION.result(JINA, payload, body)
    assert result == {
        "model": "jr",
        "results": [{"index": 1, "relevance_score": 0.5, "document": {"text": "b"}}],
        "usage": {"total_tokens": 7},
    }
    assert usage.prompt_tokens == 7


def test_bad_input_and_errors() -> None:
    with pytest.raises(BadRequest):
        JINA.embeddings_request(BASE, "k", "m", {"input": [[1, 2]]})
    with pytest.raises(BadRequest):
        JINA.rerank_request(BASE, "k", "m", {"query": "q", "documents": ["a"], "top_n": "three"})
    assert JINA.error_message(b'{"detail": "Invalid API key"}') == "Invalid API key"
    assert JINA.error_message(b'{"detail": [{"loc": ["body"], "msg": "bad"}]}') == ""
