"""Voyage AI's native embeddings and rerank behind the edge's /v1/embeddings and /v1/rerank.

``base_url`` is the API host (``https://api.voyageai.com``); the adapter adds ``/v1/embeddings``
and ``/v1/rerank``. Voyage counts tokens for both (``usage.total_tokens``): that is what is
metered. Its rerank answers in ``data`` with ``top_k``; the edge's shape is ``results``/``top_n``.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from tollgate.providers import retrieval
from tollgate.providers.voyage import wire

__all__ = ["ADAPTERS", "EMBED_PARAMS", "RERANK_PARAMS", "Voyage"]

# Edge field -> Voyage field; any other edge field is dropped (``encoding_format``: floats are
# asked for, base64 is encoded by the edge; ``user``; ``task``).
EMBED_PARAMS = retrieval.ParamTable(mapped={"dimensions": "output_dimension", "input_type": "input_type", "truncation": "truncation"})
RERANK_PARAMS = retrieval.ParamTable(mapped={"top_n": "top_k", "return_documents": "return_documents", "truncation": "truncation"})


class Voyage(retrieval.TokenCounted):
    kind = "voyage"
    protocol = "voyage"
    embed_params = EMBED_PARAMS
    rerank_params = RERANK_PARAMS
    embed_request = wire.EmbeddingsRequest
    rerank_request_type = wire.RerankRequest
    embed_answer = msgspec.json.Decoder(wire.EmbeddingsResponse)
    rerank_answer = msgspec.json.Decoder(wire.RerankResponse)

    def tokens(self, usage: wire.Usage | None) -> int:
        return int(usage.total_tokens or 0) if usage else 0

    def rerank_rows(self, answer: wire.RerankResponse) -> Iterable[tuple[int, float, str | None]]:
        return ((r.index, r.relevance_score, r.document) for r in answer.data)


ADAPTERS = {"voyage": Voyage()}
