"""The OpenAI front door: ``/v1/chat/completions``. Canonical already: checks, and the typed reading."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request

from services.edge import limits
from services.edge.frontends.base import Parsed
from services.edge.limits import decode_object
from tollgate import error_bodies
from tollgate.canonical import ChatChunk, ChatRequest, ChatResponse, from_openai, to_openai
from tollgate.credentials import bearer_token
from tollgate.errors import BadRequest, TollgateError

_ENCODE = msgspec.json.encode
DONE = b"data: [DONE]\n\n"


def bearer(request: Request) -> str:
    """The key in ``Authorization: Bearer <key>`` ("" when absent)."""
    return bearer_token(request.headers.get("authorization", ""))


class _Encoder:
    def __init__(self, wants_usage: bool, model: str):
        self._wants_usage = wants_usage
        self._model = model  # the id the client asked for, whatever the upstream calls it

    def encode(self, chunk: ChatChunk) -> bytes:
        if not chunk.choices and chunk.usage is not None and not self._wants_usage:
            return b""
        return b"data: " + _ENCODE({**to_openai(chunk), "model": self._model}) + b"\n\n"

    def finish(self) -> bytes:
        return DONE

    def error(self, err: TollgateError) -> bytes:
        return b"data: " + _ENCODE(error_bodies.openai(err)) + b"\n\n" + DONE


class OpenAIFrontend:
    protocol = "openai"
    endpoint = "chat"

    def forward_headers(self, request: Request) -> tuple[tuple[str, str], ...]:
        return ()

    def api_key(self, request: Request) -> str:
        return bearer(request)

    def parse(self, raw: bytes, *, model: str | None = None, stream: bool | None = None) -> Parsed:
        body = decode_object(raw)
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise BadRequest("you must provide a model parameter", code="missing_model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty array", code="invalid_messages")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise BadRequest("'stream' must be a boolean", code="invalid_stream")
        limits.check_model_name(body["model"])
        limits.cost_bounds(body)
        wants_usage = limits.stream_options(body)
        return Parsed(model=body["model"], stream=bool(body.get("stream")), body=body, wants_usage=wants_usage)

    def to_canonical(self, parsed: Parsed) -> ChatRequest:
        """The body read as typed (only when the upstream speaks another protocol): a shape it
        cannot take is a 400."""
        return from_openai(parsed.body)

    def from_canonical(self, response: ChatResponse, model: str) -> dict[str, Any]:
        return {**to_openai(response), "model": model}

    def stream_encoder(self, parsed: Parsed) -> _Encoder:
        return _Encoder(parsed.wants_usage, parsed.model)

    def passthrough_end(self) -> bytes:
        return DONE

    def error_body(self, err: TollgateError) -> dict[str, Any]:
        return error_bodies.openai(err)


def parse_embeddings(raw: bytes) -> dict[str, Any]:
    body = decode_object(raw)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("you must provide a model parameter", code="missing_model")
    if not embedding_inputs(body.get("input")):
        raise BadRequest(
            "'input' must be a string, an array of strings, an array of tokens (integers) or an array of token arrays, none empty",
            code="invalid_input",
        )
    return body


def _tokens(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in value)


def embedding_inputs(value: Any) -> list[str | list[int]]:
    """The inputs of an embeddings request, as OpenAI's API takes them: a string, an array of
    strings, one token array (``[15339, 1070]``) or an array of token arrays; [] when it is none."""
    if isinstance(value, str):
        return [value]
    if _tokens(value):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) or _tokens(v) for v in value):
        return value
    return []


def parse_rerank(raw: bytes) -> dict[str, Any]:
    body = decode_object(raw)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("you must provide a model parameter", code="missing_model")
    if not isinstance(body.get("query"), str) or not body["query"]:
        raise BadRequest("'query' must be a non-empty string", code="invalid_query")
    documents = body.get("documents")
    if not isinstance(documents, list) or not documents or not all(isinstance(d, (str, dict)) for d in documents):
        raise BadRequest("'documents' must be a non-empty array of strings or objects", code="invalid_documents")
    top_n = body.get("top_n")
    if top_n is not None and (not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1):
        raise BadRequest("'top_n' must be a positive integer", code="invalid_top_n")
    return body
