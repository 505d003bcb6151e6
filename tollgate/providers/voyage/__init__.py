"""Voyage AI's native embeddings and rerank behind the edge's /v1/embeddings and /v1/rerank.

``base_url`` is the API host (``https://api.voyageai.com``); the adapter adds ``/v1/embeddings``
and ``/v1/rerank``. Voyage counts tokens for both (``usage.total_tokens``): that is what is
metered. Its rerank answers in ``data`` with ``top_k``; the edge's shape is ``results``/``top_n``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tollgate.providers import retrieval
from tollgate.providers.base import EMBEDDINGS, RERANK, UpstreamRequest, Usage
from tollgate.providers.voyage import wire

__all__ = ["ADAPTERS", "EMBED_PARAMS", "RERANK_PARAMS", "Voyage"]

# Edge field -> Voyage field; any other edge field is dropped (``encoding_format``: floats are
# asked for, base64 is encoded by the edge; ``user``; ``task``).
EMBED_PARAMS = retrieval.ParamTable(mapped={"dimensions": "output_dimension", "input_type": "input_type", "truncation": "truncation"})
RERANK_PARAMS = retrieval.ParamTable(mapped={"top_n": "top_k", "return_documents": "return_documents", "truncation": "truncation"})

_EMBED = msgspec.json.Decoder(wire.EmbeddingsResponse)
_RERANK = msgspec.json.Decoder(wire.RerankResponse)


def _tokens(usage: wire.Usage | None) -> int:
    return int(usage.total_tokens or 0) if usage else 0


class Voyage(retrieval.Native):
    kind = "voyage"
    protocol = "voyage"
    abilities = frozenset({EMBEDDINGS, RERANK})

    def embeddings_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        ask = retrieval.embeddings_ask(body)
        fields = {**EMBED_PARAMS.apply(body), "model": upstream_model, "input": retrieval.texts_of(ask, self.kind)}
        return self.post(base_url + "/v1/embeddings", secret, fields, wire.EmbeddingsRequest)

    def embeddings_result(self, payload: bytes) -> tuple[dict[str, Any], Usage]:
        answer = _EMBED.decode(payload)
        vectors = [e.embedding for e in sorted(answer.data, key=lambda e: e.index)]
        tokens = _tokens(answer.usage)
        return retrieval.embeddings_list(vectors, answer.model, tokens), Usage(prompt_tokens=tokens)

    def rerank_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        ask = retrieval.rerank_ask(body)
        fields = {**RERANK_PARAMS.apply(body), "model": upstream_model, "query": ask.query}
        fields["documents"] = retrieval.document_texts(ask, self.kind)
        return self.post(base_url + "/v1/rerank", secret, fields, wire.RerankRequest)

    def rerank_result(self, payload: bytes) -> tuple[dict[str, Any], Usage]:
        answer = _RERANK.decode(payload)
        results: list[dict[str, Any]] = []
        for r in answer.data:
            result: dict[str, Any] = {"index": r.index, "relevance_score": r.relevance_score}
            if r.document is not None:
                result["document"] = {"text": r.document}
            results.append(result)
        tokens = _tokens(answer.usage)
        return retrieval.rerank_answer("", answer.model, results, {"total_tokens": tokens}), Usage(prompt_tokens=tokens)


ADAPTERS = {"voyage": Voyage()}
