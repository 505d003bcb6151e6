"""What the native embeddings and rerank kinds (cohere, jina, voyage) share: the edge's
OpenAI-shaped bodies read as typed structs, a parameter table per provider (which edge fields
it takes, under which name; everything else is dropped), and the edge's answer shapes.

The edge's ``/v1/embeddings`` answers in OpenAI's shape (``encoding_format: base64`` is
little-endian float32, encoded here from the provider's floats); ``/v1/rerank`` answers
``{"id", "model", "results": [{"index", "relevance_score", "document"?}], "usage"}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import msgspec

from tollgate.errors import BadRequest
from tollgate.providers.base import EMBEDDINGS, RERANK, NoChat, UpstreamRequest, Usage

__all__ = [
    "EmbeddingsAsk",
    "Native",
    "ParamTable",
    "RerankAsk",
    "TokenCounted",
    "document_texts",
    "embeddings_ask",
    "embeddings_list",
    "rerank_answer",
    "rerank_ask",
    "texts_of",
]


class ParamTable(msgspec.Struct, frozen=True):
    """How one provider takes the edge's optional fields: ``mapped`` is edge field -> provider
    field (kept, renamed where the names differ); every edge field not listed is dropped.
    ``model`` and the texts are set by the adapter itself."""

    mapped: dict[str, str]

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        return {dst: body[src] for src, dst in self.mapped.items() if body.get(src) is not None}

    def dropped(self, body: dict[str, Any], own: frozenset[str]) -> list[str]:
        """The body's fields this provider does not take (for tests and docs)."""
        return sorted(k for k in body if k not in self.mapped and k not in own)


class EmbeddingsAsk(msgspec.Struct, frozen=True):
    """The edge's ``/v1/embeddings`` body, as far as a native provider needs it."""

    input: str | list[Any]
    encoding_format: str = "float"


class RerankAsk(msgspec.Struct, frozen=True):
    """The edge's ``/v1/rerank`` body (Cohere/Jina shape)."""

    query: str
    documents: list[Any]
    top_n: int | None = None
    return_documents: bool = False


def _read(body: dict[str, Any], kind: type[msgspec.Struct], what: str) -> Any:
    try:
        return msgspec.convert(body, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid {what} request: {exc}", code="invalid_request") from None


def embeddings_ask(body: dict[str, Any]) -> EmbeddingsAsk:
    ask: EmbeddingsAsk = _read(body, EmbeddingsAsk, "embeddings")
    if ask.encoding_format not in ("float", "base64"):
        raise BadRequest("'encoding_format' must be 'float' or 'base64'", code="invalid_encoding_format")
    return ask


def rerank_ask(body: dict[str, Any]) -> RerankAsk:
    return _read(body, RerankAsk, "rerank")


def texts_of(ask: EmbeddingsAsk, kind: str) -> list[str]:
    """The input as texts: these providers embed text, not OpenAI token arrays."""
    texts = [ask.input] if isinstance(ask.input, str) else ask.input
    if not texts or not all(isinstance(t, str) for t in texts):
        raise BadRequest(f"provider {kind!r} embeds text: 'input' must be a string or an array of strings", code="invalid_input")
    return texts


def document_texts(ask: RerankAsk, kind: str) -> list[str]:
    """Documents as strings (a ``{"text": ...}`` object is its text)."""
    texts = [d.get("text") if isinstance(d, dict) else d for d in ask.documents]
    if not all(isinstance(t, str) for t in texts):
        message = f'provider {kind!r} ranks text: each document must be a string or a {{"text": ...}} object'
        raise BadRequest(message, code="invalid_documents")
    return texts  # type: ignore[return-value]  # checked just above


def embeddings_list(vectors: list[list[float]], model: str, tokens: int) -> dict[str, Any]:
    """OpenAI's embeddings answer (floats) from the provider's float vectors."""
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def rerank_answer(ident: str, model: str, results: list[dict[str, Any]], usage: dict[str, int]) -> dict[str, Any]:
    answer: dict[str, Any] = {"id": ident, "model": model, "results": results, "usage": usage}
    return {k: v for k, v in answer.items() if v or k == "results"}


class Native(NoChat):
    """A native retrieval upstream: bearer auth, JSON bodies built as its typed wire structs
    (a client value of the wrong type is a 400 naming the field), errors read from ``detail``
    or ``message``."""

    def headers(self, secret: str) -> dict[str, str]:
        return {"content-type": "application/json", "accept": "application/json", "authorization": f"Bearer {secret}"}

    def post(self, url: str, secret: str, fields: dict[str, Any], kind: type[msgspec.Struct]) -> UpstreamRequest:
        try:
            typed = msgspec.convert(fields, kind, strict=True)
        except msgspec.ValidationError as exc:
            raise BadRequest(f"invalid request for {self.kind}: {exc}", code="invalid_request") from None
        return UpstreamRequest(url, self.headers(secret), _ENCODE.encode(typed))

    def error_message(self, payload: bytes) -> str:
        try:
            error = _ERROR.decode(payload)
        except msgspec.DecodeError:
            return ""
        return error.detail if isinstance(error.detail, str) else error.message


class TokenCounted(Native):
    """A retrieval upstream at ``{base_url}/v1/embeddings`` and ``/v1/rerank`` that counts tokens
    for both (Jina, Voyage): a subclass is data — its parameter tables, wire structs, fixed
    embedding fields — plus how its rerank answer lists results and how its usage counts tokens."""

    abilities = frozenset({EMBEDDINGS, RERANK})
    embed_params: ClassVar[ParamTable]
    rerank_params: ClassVar[ParamTable]
    embed_fields: ClassVar[tuple[tuple[str, Any], ...]] = ()  # sent with every embeddings request (e.g. floats asked for)
    embed_request: ClassVar[type[msgspec.Struct]]
    rerank_request_type: ClassVar[type[msgspec.Struct]]
    embed_answer: ClassVar[msgspec.json.Decoder[Any]]
    rerank_answer: ClassVar[msgspec.json.Decoder[Any]]

    def tokens(self, usage: Any) -> int:
        raise NotImplementedError

    def rerank_rows(self, answer: Any) -> Iterable[tuple[int, float, str | None]]:
        """(index, relevance score, document text or None) of each result."""
        raise NotImplementedError

    def embeddings_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        ask = embeddings_ask(body)
        fields = {**self.embed_params.apply(body), "model": upstream_model, "input": texts_of(ask, self.kind), **dict(self.embed_fields)}
        return self.post(base_url + "/v1/embeddings", secret, fields, self.embed_request)

    def embeddings_result(self, payload: bytes) -> tuple[dict[str, Any], Usage]:
        answer = self.embed_answer.decode(payload)
        vectors = [e.embedding for e in sorted(answer.data, key=lambda e: e.index)]
        tokens = self.tokens(answer.usage)
        return embeddings_list(vectors, answer.model, tokens), Usage(prompt_tokens=tokens)

    def rerank_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        ask = rerank_ask(body)
        fields = {
            **self.rerank_params.apply(body),
            "model": upstream_model,
            "query": ask.query,
            "documents": document_texts(ask, self.kind),
        }
        return self.post(base_url + "/v1/rerank", secret, fields, self.rerank_request_type)

    def rerank_result(self, payload: bytes) -> tuple[dict[str, Any], Usage]:
        answer = self.rerank_answer.decode(payload)
        results: list[dict[str, Any]] = []
        for index, score, text in self.rerank_rows(answer):
            result: dict[str, Any] = {"index": index, "relevance_score": score}
            if text is not None:
                result["document"] = {"text": text}
            results.append(result)
        tokens = self.tokens(answer.usage)
        return rerank_answer("", answer.model, results, {"total_tokens": tokens}), Usage(prompt_tokens=tokens)


class _ErrorBody(msgspec.Struct, frozen=True):
    detail: str | list[msgspec.Raw] | dict[str, msgspec.Raw] | None = None  # FastAPI-style (Jina, Voyage)
    message: str = ""  # Cohere


_ERROR = msgspec.json.Decoder(_ErrorBody)
_ENCODE = msgspec.json.Encoder()
