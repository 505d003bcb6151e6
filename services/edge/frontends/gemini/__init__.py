"""The Gemini front door: ``/gemini/v1beta/models/{model}:{action}`` (and ``/gemini/v1/...``),
so the ``google-genai`` SDK works with ``http_options.base_url=<edge>/gemini``.

Actions: ``generateContent``, ``streamGenerateContent`` (always answered as SSE, as with
``?alt=sse``, which the SDK always sends) and ``countTokens`` (a Gemini channel's own count,
else the one estimator's, ``services.edge.counting``; nothing is metered), ``embedContent``
and ``batchEmbedContents`` (served by any upstream with embeddings, through the OpenAI
embeddings shape). Unknown actions are a Google-shaped 404.

This folder holds both directions: ``inbound.py`` (the request translation: it lists what
is translated and what is knowingly dropped) and ``render.py`` (canonical answers, stream
chunks and errors in Google's shapes); this module parses requests and serves the routes.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.params import FromPath

from services.edge import counting, limits, proxy
from services.edge.errors import error_handlers
from services.edge.frontends.base import Parsed
from services.edge.frontends.gemini import imagen
from services.edge.frontends.gemini.inbound import get, parts, to_canonical_request
from services.edge.frontends.gemini.render import Encoder, error_event, from_canonical_response, usage_metadata
from services.edge.frontends.openai import bearer, decode_object
from tollgate.canonical import ChatRequest, ChatResponse
from tollgate.errors import BadRequest, NotFound, TollgateError, Unauthorized
from tollgate.providers.base import EMBEDDINGS_OPERATION

__all__ = ["ACTIONS", "FRONTEND", "ROUTES", "GeminiFrontend", "error_event", "from_canonical_response", "usage_metadata"]


class GeminiFrontend:
    protocol = "gemini"
    endpoint = "gemini"

    def forward_headers(self, request: Request) -> tuple[tuple[str, str], ...]:
        return ()

    def api_key(self, request: Request) -> str:
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key") or bearer(request)
        if not key:  # named as the GenAI SDK sends it, not as a Bearer header
            raise Unauthorized(
                "You didn't provide an API key. Send it in the 'x-goog-api-key' header (or the 'key' query parameter).",
                code="missing_api_key",
            )
        return key

    def parse(self, raw: bytes, *, model: str | None = None, stream: bool | None = None) -> Parsed:
        body = decode_object(raw)
        if not model:
            raise BadRequest("The model name is missing from the URL.", code="missing_model")
        check_contents(body)
        limits.cost_bounds(body)
        return Parsed(model=model, stream=bool(stream), body=body)

    def to_canonical(self, parsed: Parsed) -> ChatRequest:
        return to_canonical_request(parsed.body, parsed.model, parsed.stream)

    def from_canonical(self, response: ChatResponse, model: str) -> dict[str, Any]:
        return from_canonical_response(response, model)

    def stream_encoder(self, parsed: Parsed) -> Encoder:
        return Encoder(parsed.model)

    def passthrough_end(self) -> bytes:
        return b""

    def error_body(self, err: TollgateError) -> dict[str, Any]:
        return error_event(err)


def check_contents(body: dict[str, Any]) -> None:
    contents = get(body, "contents")
    if not isinstance(contents, list) or not contents or not all(isinstance(c, dict) for c in contents):
        raise BadRequest("'contents' must be a non-empty array of Content objects.", code="invalid_contents")


FRONTEND = GeminiFrontend()


# --- countTokens and embeddings helpers -------------------------------------------------


def _content_text(content: Any) -> str:
    return "".join(p["text"] for p in parts(content) if isinstance(p.get("text"), str))


def embed_request_to_openai(action: str, body: dict[str, Any]) -> list[str]:
    """The texts to embed for ``embedContent`` ({content}) or ``batchEmbedContents`` ({requests: [{content}]})."""
    if action == "embedContent":
        return [_content_text(get(body, "content"))]
    requests = get(body, "requests")
    if action != "batchEmbedContents" or not isinstance(requests, list) or not requests:
        raise BadRequest("'requests' must be a non-empty array of EmbedContentRequest objects.")
    return [_content_text(get(r, "content")) for r in requests]


def openai_embeddings_to_gemini(action: str, openai_response: dict[str, Any]) -> dict[str, Any]:
    data = sorted(openai_response.get("data") or (), key=lambda d: d.get("index") or 0)
    vectors = [{"values": d.get("embedding") or []} for d in data]
    if action == "embedContent":
        return {"embedding": vectors[0] if vectors else {"values": []}}
    return {"embeddings": vectors}


# --- routes -----------------------------------------------------------------------------


async def _count_tokens(request: Request, model: str) -> Response:
    """A Gemini channel counts natively; otherwise the answer is the one estimator's."""
    await counting.authorized(request, FRONTEND)
    body = decode_object(await request.body())
    inner = get(body, "generateContentRequest")
    counted = inner if isinstance(inner, dict) else body
    check_contents(counted)
    return await counting.count(
        request,
        FRONTEND,
        model,
        body,
        canonical=lambda: to_canonical_request(counted, model, False),
        render=lambda tokens: {"totalTokens": tokens},
    )


def _embed(action: str):
    async def handler(request: Request, model: str) -> Response:
        return await proxy.unary(
            request,
            FRONTEND,
            endpoint="embeddings",
            operation=EMBEDDINGS_OPERATION,
            parse=lambda raw: {"model": model, "input": embed_request_to_openai(action, decode_object(raw))},
            render=lambda result: openai_embeddings_to_gemini(action, result),
        )

    return handler


ACTIONS = {
    "generateContent": lambda request, model: proxy.chat(request, FRONTEND, model=model, stream=False),
    "streamGenerateContent": lambda request, model: proxy.chat(request, FRONTEND, model=model, stream=True),
    "countTokens": _count_tokens,
    "embedContent": _embed("embedContent"),
    "batchEmbedContents": _embed("batchEmbedContents"),
    "predict": lambda request, model: imagen.predict(request, model, FRONTEND),  # Imagen's image generation
}


@post(
    ["/gemini/v1beta/models/{target:path}", "/gemini/v1/models/{target:path}"], status_code=200, exception_handlers=error_handlers(FRONTEND)
)
async def gemini_models(request: Request, target: FromPath[str]) -> Response:
    model, _, action = target.lstrip("/").rpartition(":")
    handler = ACTIONS.get(action)
    if not model or handler is None:
        raise NotFound(f"Method not found: {target.lstrip('/')[: limits.MAX_MODEL_CHARS]!r}.")
    return await handler(request, limits.check_model_name(model))


ROUTES = [gemini_models]
