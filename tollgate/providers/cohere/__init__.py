"""Cohere's native embed (v2) and rerank (v2) behind the edge's /v1/embeddings and /v1/rerank.

``base_url`` is the API host (``https://api.cohere.com``); the adapter adds ``/v2/embed`` and
``/v2/rerank``. Metering reads Cohere's ``meta.billed_units``: ``input_tokens`` for embed, and
for rerank ``search_units`` (what Cohere bills rerank by), carried in the usage event's
``prompt_tokens``: a Cohere rerank model's catalog price is per million search units.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tollgate.providers import retrieval
from tollgate.providers.base import EMBEDDINGS, RERANK, UpstreamRequest, Usage
from tollgate.providers.cohere import wire

__all__ = ["ADAPTERS", "EMBED_PARAMS", "RERANK_PARAMS", "Cohere"]

# Edge field -> Cohere field; any other edge field is dropped (``encoding_format``: floats are
# asked for and base64 is encoded by the edge; ``user``; rerank's ``return_documents``: v2
# answers carry no documents, so the edge fills them in from the request; ``rank_fields``:
# v2 takes documents as strings only).
EMBED_PARAMS = retrieval.ParamTable(
    mapped={"input_type": "input_type", "dimensions": "output_dimension", "truncate": "truncate", "max_tokens": "max_tokens"}
)
RERANK_PARAMS = retrieval.ParamTable(mapped={"top_n": "top_n", "max_tokens_per_doc": "max_tokens_per_doc"})
DEFAULT_INPUT_TYPE = "search_document"  # embed v3+ requires one; OpenAI's body has none

_EMBED = msgspec.json.Decoder(wire.EmbedResponse)
_RERANK = msgspec.json.Decoder(wire.RerankResponse)


def _count(value: int | float | None) -> int:
    return int(value or 0)


class Cohere(retrieval.Native):
    kind = "cohere"
    protocol = "cohere"
    abilities = frozenset({EMBEDDINGS, RERANK})

    def embeddings_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        ask = retrieval.embeddings_ask(body)
        fields = {"input_type": DEFAULT_INPUT_TYPE, **EMBED_PARAMS.apply(body)}
        fields |= {"model": upstream_model, "texts": retrieval.texts_of(ask, self.kind), "embedding_types": ["float"]}
        return self.post(base_url + "/v2/embed", secret, fields, wire.EmbedRequest)

    def embeddings_result(self, payload: bytes) -> tuple[dict[str, Any], Usage]:
        answer = _EMBED.decode(payload)
        if answer.embeddings.float_ is None:
            raise ValueError("cohere answered without float embeddings")
        tokens = _count(answer.meta.billed_units.input_tokens if answer.meta and answer.meta.billed_units else None)
        return retrieval.embeddings_list(answer.embeddings.float_, "", tokens), Usage(prompt_tokens=tokens)

    def rerank_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        ask = retrieval.rerank_ask(body)
        fields = {**RERANK_PARAMS.apply(body), "model": upstream_model, "query": ask.query}
        fields["documents"] = retrieval.document_texts(ask, self.kind)
        return self.post(base_url + "/v2/rerank", secret, fields, wire.RerankRequest)

    def rerank_result(self, payload: bytes) -> tuple[dict[str, Any], Usage]:
        answer = _RERANK.decode(payload)
        units = _count(answer.meta.billed_units.search_units if answer.meta and answer.meta.billed_units else None)
        results = [{"index": r.index, "relevance_score": r.relevance_score} for r in answer.results]
        return retrieval.rerank_answer(answer.id, "", results, {"search_units": units}), Usage(prompt_tokens=units)


ADAPTERS = {"cohere": Cohere()}
