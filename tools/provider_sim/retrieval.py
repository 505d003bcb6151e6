"""Native embeddings and rerank vendors, each under its own prefix, each checking what the
vendor checks (a bearer key; its own request fields, no others; required fields) and
answering in its own shapes, with the same deterministic vectors, scores and counts as the
OpenAI-shaped endpoints (``embeddings.py``):

- ``/cohere/v2/embed`` and ``/cohere/v2/rerank`` (Cohere v2: ``texts`` + ``input_type`` +
  ``embedding_types``; answers ``embeddings.float`` and ``meta.billed_units``: input tokens
  for embed, search units for rerank, one per 100 documents);
- ``/jina/v1/embeddings`` and ``/jina/v1/rerank`` (documents returned unless
  ``return_documents`` is false; ``usage.total_tokens``);
- ``/voyage/v1/embeddings`` and ``/voyage/v1/rerank`` (``top_k``; answers in ``data``).

Errors: Cohere ``{"message"}``, Jina and Voyage ``{"detail"}``; ``sim-error-429`` carries
``retry-after``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from litestar import Request, Response, post

from tools.provider_sim.common import Sim, decode_object, embedding, error_headers, words
from tools.provider_sim.embeddings import relevance

Check = Callable[[dict[str, Any]], str | None]  # the body's problem, or None

COHERE_EMBED_FIELDS = frozenset(
    {"model", "texts", "images", "inputs", "input_type", "embedding_types", "truncate", "output_dimension", "max_tokens"}
)
COHERE_INPUT_TYPES = frozenset({"search_document", "search_query", "classification", "clustering", "image"})


def _error(vendor: str, status: int, message: str) -> Response:
    body = {"message": message} if vendor == "cohere" else {"detail": message}
    return Response(body, status_code=status, headers=error_headers(status))


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


async def _admit(sim: Sim, request: Request, vendor: str, allowed: frozenset[str], check: Check) -> tuple[dict[str, Any], str] | Response:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer ") or len(auth) == len("Bearer "):
        return _error(vendor, 401, "invalid api token")
    body = decode_object(await request.body())
    if body is None:
        return _error(vendor, 400, "invalid JSON body")
    unknown = sorted(set(body) - allowed)
    if unknown:
        return _error(vendor, 400, f"unknown field(s): {', '.join(unknown)}")
    if not isinstance(body.get("model"), str) or not body["model"]:
        return _error(vendor, 400, "model is required")
    problem = check(body)
    if problem:
        return _error(vendor, 400, problem)
    status = await sim.admit(body["model"])
    if status is not None:
        return _error(vendor, status, f"simulated HTTP {status}")
    return body, body["model"]


def _ranked(query: str, texts: list[str], top: Any) -> list[tuple[float, int]]:
    scored = sorted(((relevance(query, t), i) for i, t in enumerate(texts)), key=lambda s: (-s[0], s[1]))
    return scored[:top] if isinstance(top, int) and top > 0 else scored


def _rerank_tokens(query: str, texts: list[str]) -> int:
    return words(query) * len(texts) + sum(words(t) for t in texts)


def _cohere_embed_check(body: dict[str, Any]) -> str | None:
    if not _strings(body.get("texts")):
        return "texts must be a non-empty list of strings"
    if body.get("input_type") not in COHERE_INPUT_TYPES:
        return "input_type is required for embed v3 and later models"
    types = body.get("embedding_types", ["float"])
    return None if _strings(types) and set(types) <= {"float", "int8", "uint8", "binary", "ubinary"} else "invalid embedding_types"


def _rerank_check(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("query"), str) or not _strings(body.get("documents")):
        return "query (string) and documents (a non-empty list of strings) are required"
    return None


def _input_check(body: dict[str, Any]) -> str | None:
    texts = body.get("input")
    return None if isinstance(texts, str) or _strings(texts) else "input must be a string or a non-empty list of strings"


def routes(sim: Sim) -> list:
    @post("/cohere/v2/embed", status_code=200)
    async def cohere_embed(request: Request) -> Response:
        admission = await _admit(sim, request, "cohere", COHERE_EMBED_FIELDS, _cohere_embed_check)
        if isinstance(admission, Response):
            return admission
        body, _ = admission
        texts = body["texts"]
        return Response(
            {
                "id": f"embed-sim{sim.next_id()}",
                "embeddings": {"float": [embedding(t) for t in texts]},
                "texts": texts,
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": sum(words(t) for t in texts)}},
                "response_type": "embeddings_by_type",
            }
        )

    @post("/cohere/v2/rerank", status_code=200)
    async def cohere_rerank(request: Request) -> Response:
        allowed = frozenset({"model", "query", "documents", "top_n", "max_tokens_per_doc"})
        admission = await _admit(sim, request, "cohere", allowed, _rerank_check)
        if isinstance(admission, Response):
            return admission
        body, _ = admission
        results = [{"index": i, "relevance_score": score} for score, i in _ranked(body["query"], body["documents"], body.get("top_n"))]
        units = math.ceil(len(body["documents"]) / 100)
        meta = {"api_version": {"version": "2"}, "billed_units": {"search_units": units}}
        return Response({"id": f"rerank-sim{sim.next_id()}", "results": results, "meta": meta})

    @post("/jina/v1/embeddings", status_code=200)
    async def jina_embeddings(request: Request) -> Response:
        allowed = frozenset({"model", "input", "embedding_type", "task", "dimensions", "normalized", "late_chunking", "truncate"})
        admission = await _admit(sim, request, "jina", allowed, _input_check)
        if isinstance(admission, Response):
            return admission
        body, model = admission
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        if body.get("embedding_type", "float") != "float":
            return _error("jina", 400, "the simulator answers embedding_type float only")
        data = [{"object": "embedding", "index": i, "embedding": embedding(t)} for i, t in enumerate(texts)]
        tokens = sum(words(t) for t in texts)
        return Response({"model": model, "object": "list", "usage": {"total_tokens": tokens, "prompt_tokens": tokens}, "data": data})

    @post("/jina/v1/rerank", status_code=200)
    async def jina_rerank(request: Request) -> Response:
        allowed = frozenset({"model", "query", "documents", "top_n", "return_documents"})
        admission = await _admit(sim, request, "jina", allowed, _rerank_check)
        if isinstance(admission, Response):
            return admission
        body, model = admission
        texts, with_docs = body["documents"], body.get("return_documents", True) is not False
        results = [
            {"index": i, "relevance_score": score, **({"document": {"text": texts[i]}} if with_docs else {})}
            for score, i in _ranked(body["query"], texts, body.get("top_n"))
        ]
        return Response({"model": model, "usage": {"total_tokens": _rerank_tokens(body["query"], texts)}, "results": results})

    @post("/voyage/v1/embeddings", status_code=200)
    async def voyage_embeddings(request: Request) -> Response:
        allowed = frozenset({"model", "input", "input_type", "truncation", "output_dimension", "output_dtype", "encoding_format"})
        admission = await _admit(sim, request, "voyage", allowed, _input_check)
        if isinstance(admission, Response):
            return admission
        body, model = admission
        if body.get("input_type") not in (None, "query", "document"):
            return _error("voyage", 400, "input_type must be null, 'query' or 'document'")
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        data = [{"object": "embedding", "embedding": embedding(t), "index": i} for i, t in enumerate(texts)]
        return Response({"object": "list", "data": data, "model": model, "usage": {"total_tokens": sum(words(t) for t in texts)}})

    @post("/voyage/v1/rerank", status_code=200)
    async def voyage_rerank(request: Request) -> Response:
        allowed = frozenset({"model", "query", "documents", "top_k", "return_documents", "truncation"})
        admission = await _admit(sim, request, "voyage", allowed, _rerank_check)
        if isinstance(admission, Response):
            return admission
        body, model = admission
        texts, with_docs = body["documents"], body.get("return_documents") is True
        data = [
            {"relevance_score": score, "index": i, **({"document": texts[i]} if with_docs else {})}
            for score, i in _ranked(body["query"], texts, body.get("top_k"))
        ]
        return Response({"object": "list", "data": data, "model": model, "usage": {"total_tokens": _rerank_tokens(body["query"], texts)}})

    return [cohere_embed, cohere_rerank, jina_embeddings, jina_rerank, voyage_embeddings, voyage_rerank]
