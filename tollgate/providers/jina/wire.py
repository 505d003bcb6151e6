"""Jina AI's embeddings and rerank wire formats (``POST /v1/embeddings``, ``POST /v1/rerank``)."""

from __future__ import annotations

import msgspec


class EmbeddingsRequest(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    model: str
    input: list[str]
    embedding_type: str | None = None  # float | base64 | binary | ubinary (the adapter asks for float)
    task: str | None = None  # e.g. retrieval.query, retrieval.passage (jina-embeddings-v3)
    dimensions: int | None = None
    normalized: bool | None = None
    late_chunking: bool | None = None
    truncate: bool | None = None


class RerankRequest(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    model: str
    query: str
    documents: list[str]
    top_n: int | None = None
    return_documents: bool | None = None


class Usage(msgspec.Struct, frozen=True):
    total_tokens: int | float | None = None
    prompt_tokens: int | float | None = None


class Embedding(msgspec.Struct, frozen=True):
    embedding: list[float]
    index: int = 0


class EmbeddingsResponse(msgspec.Struct, frozen=True):
    data: list[Embedding]
    model: str = ""
    usage: Usage | None = None


class Document(msgspec.Struct, frozen=True):
    text: str = ""


class RerankResult(msgspec.Struct, frozen=True):
    index: int
    relevance_score: float
    document: Document | None = None


class RerankResponse(msgspec.Struct, frozen=True):
    results: list[RerankResult]
    model: str = ""
    usage: Usage | None = None
