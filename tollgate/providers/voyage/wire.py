"""Voyage AI's embeddings and rerank wire formats (``POST /v1/embeddings``, ``POST /v1/rerank``)."""

from __future__ import annotations

import msgspec


class EmbeddingsRequest(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    model: str
    input: list[str]
    input_type: str | None = None  # query | document
    truncation: bool | None = None
    output_dimension: int | None = None


class RerankRequest(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    model: str
    query: str
    documents: list[str]
    top_k: int | None = None
    return_documents: bool | None = None
    truncation: bool | None = None


class Usage(msgspec.Struct, frozen=True):
    total_tokens: int | float | None = None


class Embedding(msgspec.Struct, frozen=True):
    embedding: list[float]
    index: int = 0


class EmbeddingsResponse(msgspec.Struct, frozen=True):
    data: list[Embedding]
    model: str = ""
    usage: Usage | None = None


class RerankResult(msgspec.Struct, frozen=True):
    index: int
    relevance_score: float
    document: str | None = None


class RerankResponse(msgspec.Struct, frozen=True):
    data: list[RerankResult]
    model: str = ""
    usage: Usage | None = None
