"""Jina AI's native embeddings and rerank behind the edge's /v1/embeddings and /v1/rerank.

``base_url`` is the API host (``https://api.jina.ai``); the adapter adds ``/v1/embeddings`` and
``/v1/rerank``. Jina counts tokens for both (``usage.total_tokens``): that is what is metered.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from tollgate.providers import retrieval
from tollgate.providers.jina import wire

__all__ = ["ADAPTERS", "EMBED_PARAMS", "RERANK_PARAMS", "Jina"]

# Edge field -> Jina field; any other edge field is dropped (``encoding_format``: floats are
# asked for, base64 is encoded by the edge; ``user``).
EMBED_PARAMS = retrieval.ParamTable(
    mapped={k: k for k in ("dimensions", "task", "normalized", "late_chunking", "truncate")}  # same names
)
RERANK_PARAMS = retrieval.ParamTable(mapped={"top_n": "top_n", "return_documents": "return_documents"})


class Jina(retrieval.TokenCounted):
    kind = "jina"
    protocol = "jina"
    embed_params = EMBED_PARAMS
    rerank_params = RERANK_PARAMS
    embed_fields = (("embedding_type", "float"),)
    embed_request = wire.EmbeddingsRequest
    rerank_request_type = wire.RerankRequest
    embed_answer = msgspec.json.Decoder(wire.EmbeddingsResponse)
    rerank_answer = msgspec.json.Decoder(wire.RerankResponse)

    def tokens(self, usage: wire.Usage | None) -> int:
        return int((usage.total_tokens or usage.prompt_tokens or 0) if usage else 0)

    def rerank_rows(self, answer: wire.RerankResponse) -> Iterable[tuple[int, float, str | None]]:
        return ((r.index, r.relevance_score, r.document.text if r.document is not None else None) for r in answer.results)


ADAPTERS = {"jina": Jina()}
