"""The voyage adapter: OpenAI-shaped embeddings and rerank bodies as Voyage's requests
(``top_n`` -> ``top_k``, ``dimensions`` -> ``output_dimension``), its answers (``data``)
back in the edge's shapes, its token counts metered."""

from __future__ import annotations

import json

import pytest

from tollgate.errors import BadRequest
from tollgate.providers import REGISTRY
from tollgate.providers.base import EMBEDDINGS_OPERATION, RERANK_OPERATION

VOYAGE = REGISTRY["voyage"]
BASE = "https://api.voyageai.com"


def test_embeddings_request_and_result() -> None:
    body = {"model": "alias", "input": ["a", "b c"], "dimensions": 512, "input_type": "document", "encoding_format": "base64"}
    req = VOYAGE.embeddings_request(BASE, "pa-key", "voyage-3.5", body)
    assert (req.url, req.headers["authorization"]) == (f"{BASE}/v1/embeddings", "Bearer pa-key")
    assert json.loads(req.body) == {"model": "voyage-3.5", "input": ["a", "b c"], "input_type": "document", "output_dimension": 512}
    data = [{"object": "embedding", "embedding": [1.0], "index": 1}, {"object": "embedding", "embedding": [0.5], "index": 0}]
    payload = json.dumps({"object": "list", "data": data, "model": "voyage-3.5", "usage": {"total_tokens": 3}}).encode()
    result, usage = EMBEDDINGS_OPERATION.result(VOYAGE, payload, body)
    assert isinstance(result, dict)
    assert [d["embedding"] for d in result["data"]] == ["AAAAPw==", "AACAPw=="]  # by index, base64 as asked
    assert usage.prompt_tokens == 3


def test_rerank_request_and_result() -> None:
    body = {"model": "alias", "query": "q", "documents": ["a", "b"], "top_n": 1, "return_documents": True}
    req = VOYAGE.rerank_request(BASE, "k", "rerank-2.5", body)
    assert req.url == f"{BASE}/v1/rerank"
    assert json.loads(req.body) == {"model": "rerank-2.5", "query": "q", "documents": ["a", "b"], "top_k": 1, "return_documents": True}
    data = [{"relevance_score": 0.75, "index": 1, "document": "b"}]
    payload = json.dumps({"object": "list", "data": data, "model": "rerank-2.5", "usage": {"total_tokens": 4}}).encode()
    result, usage = RERANK_OPERATION.result(VOYAGE, payload, body)
    assert result == {
        "model": "rerank-2.5",
        "results": [{"index": 1, "relevance_score": 0.75, "document": {"text": "b"}}],
        "usage": {"total_tokens": 4},
    }
    assert usage.prompt_tokens == 4


def test_bad_input_and_errors() -> None:
    with pytest.raises(BadRequest):
        VOYAGE.embeddings_request(BASE, "k", "m", {"input": []})
    with pytest.raises(BadRequest):
        VOYAGE.rerank_request(BASE, "k", "m", {"query": 3, "documents": ["a"]})
    assert VOYAGE.error_message(b'{"detail": "Provided API key is invalid."}') == "Provided API key is invalid."
