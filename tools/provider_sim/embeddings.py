"""OpenAI embeddings (``POST /v1/embeddings``) and Cohere/Jina-style rerank (``POST /v1/rerank``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from tools.provider_sim.common import Sim, embedding, embedding_base64, words
from tools.provider_sim.openai import admitted, openai_error


def relevance(query: str, document: str) -> float:
    """Share of the distinct lowercase query words that are also words of the document."""
    wanted = set(query.lower().split())
    if not wanted:
        return 0.0
    return len(wanted & set(document.lower().split())) / len(wanted)


def embeddings_answer(body: dict[str, Any], model: str) -> Response:
    """OpenAI's embeddings answer to an admitted body."""
    value = body.get("input")
    tokens_only = isinstance(value, list) and bool(value) and all(isinstance(t, int) for t in value)
    inputs = [value] if isinstance(value, str) or tokens_only else value
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str | list) for t in inputs):
        return openai_error(400, "input must be a string, a list of strings, a token array or a list of token arrays")
    texts = [t if isinstance(t, str) else " ".join(str(n) for n in t) for t in inputs]  # a token array: one word a token
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        return openai_error(400, "encoding_format must be 'float' or 'base64'")
    data = []
    for i, text in enumerate(texts):
        vector = embedding(text)
        data.append({"object": "embedding", "index": i, "embedding": vector if encoding == "float" else embedding_base64(vector)})
    tokens = sum(words(t) for t in texts)
    return Response({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def routes(sim: Sim) -> list:
    @post("/v1/embeddings", status_code=200)
    async def embeddings(request: Request) -> Response:
        admission = await admitted(sim, request)
        if isinstance(admission, Response):
            return admission
        return embeddings_answer(*admission)

    @post("/v1/rerank", status_code=200)
    async def rerank(request: Request) -> Response:
        admission = await admitted(sim, request)
        if isinstance(admission, Response):
            return admission
        body, model = admission
        query, documents = body.get("query"), body.get("documents")
        if not isinstance(query, str) or not isinstance(documents, list):
            return openai_error(400, "query (string) and documents (list) are required")
        texts = [d.get("text") if isinstance(d, dict) else d for d in documents]
        if not all(isinstance(t, str) for t in texts):
            return openai_error(400, 'documents must be strings or {"text": ...} objects')
        scored = sorted(((relevance(query, t), i) for i, t in enumerate(texts)), key=lambda s: (-s[0], s[1]))
        top_n = body.get("top_n")
        if isinstance(top_n, int) and top_n >= 0:
            scored = scored[:top_n]
        results = []
        for score, i in scored:
            result: dict[str, Any] = {"index": i, "relevance_score": score}
            if body.get("return_documents"):
                result["document"] = {"text": texts[i]}
            results.append(result)
        tokens = words(query) * len(texts) + sum(words(t) for t in texts)
        return Response({"id": f"rerank-sim{sim.next_id()}", "model": model, "results": results, "usage": {"total_tokens": tokens}})

    return [embeddings, rerank]
