"""Cohere's v2 embed and rerank wire formats (``POST /v2/embed``, ``POST /v2/rerank``)."""

from __future__ import annotations

import msgspec


class EmbedRequest(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    model: str
    texts: list[str]
    input_type: str  # required by embed v3 and later: search_document | search_query | classification | clustering
    embedding_types: list[str]
    output_dimension: int | None = None
    truncate: str | None = None  # NONE | START | END
    max_tokens: int | None = None


class RerankRequest(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    model: str
    query: str
    documents: list[str]
    top_n: int | None = None
    max_tokens_per_doc: int | None = None


class BilledUnits(msgspec.Struct, frozen=True):
    """What Cohere bills: input tokens for embed, search units for rerank (one query with up
    to 100 documents is one unit)."""

    input_tokens: int | float | None = None
    output_tokens: int | float | None = None
    search_units: int | float | None = None


class Meta(msgspec.Struct, frozen=True):
    billed_units: BilledUnits | None = None


class EmbeddingsByType(msgspec.Struct, frozen=True):
    float_: list[list[float]] | None = msgspec.field(default=None, name="float")


class EmbedResponse(msgspec.Struct, frozen=True):
    embeddings: EmbeddingsByType
    id: str = ""
    meta: Meta | None = None


class RerankResult(msgspec.Struct, frozen=True):
    index: int
    relevance_score: float


class RerankResponse(msgspec.Struct, frozen=True):
    results: list[RerankResult]
    id: str = ""
    meta: Meta | None = None
