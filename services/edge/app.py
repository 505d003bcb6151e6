"""The edge's Litestar application: routes, per-protocol error rendering, middleware."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get, post

from services.edge import model_lists, proxy
from services.edge.context import Edge
from services.edge.errors import error_handlers
from services.edge.fastpath import FastRoutes
from services.edge.frontends import FRONTEND_ROUTES, anthropic, gemini
from services.edge.frontends.base import Frontend
from services.edge.frontends.openai import OpenAIFrontend, completions, media, parse_embeddings, parse_rerank, speech, uploads
from services.edge.middleware import timing_middleware
from tollgate import health
from tollgate.errors import TollgateError
from tollgate.providers.base import EMBEDDINGS_OPERATION, RERANK_OPERATION

OPENAI = OpenAIFrontend()
# Paths only the OpenAI door serves: their errors are OpenAI-shaped whatever headers come with them.
OPENAI_ONLY = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/rerank",
    "/v1/responses",
    "/v1/images/",
    "/v1/moderations",
    "/v1/audio/",
)


def door_for(path: str, headers: Mapping[str, str] | None = None) -> Frontend:
    """The front door a path belongs to, for errors raised outside its routes; an unknown
    ``/v1/`` path asked with the Anthropic SDK's headers is the Anthropic door's."""
    if path.startswith("/gemini/"):
        return gemini.FRONTEND
    if path.startswith(OPENAI_ONLY):
        return OPENAI
    if path.startswith("/v1/messages") or (headers is not None and ("anthropic-version" in headers or "x-api-key" in headers)):
        return anthropic.FRONTEND
    return OPENAI


def transport_error_body(path: str, err: TollgateError) -> bytes:
    """An error the HTTP server answers itself (a malformed request, slow headers), in the
    shape of the door the path names."""
    return msgspec.json.encode(door_for(path).error_body(err))


@post("/v1/chat/completions", status_code=200)
async def chat_completions(request: Request) -> Response:
    return await proxy.chat(request, OPENAI)


@post("/v1/embeddings", status_code=200)
async def embeddings(request: Request) -> Response:
    return await proxy.unary(request, OPENAI, endpoint="embeddings", operation=EMBEDDINGS_OPERATION, parse=parse_embeddings)


@post("/v1/rerank", status_code=200)
async def rerank(request: Request) -> Response:
    return await proxy.unary(request, OPENAI, endpoint="rerank", operation=RERANK_OPERATION, parse=parse_rerank)


@get("/healthz")
async def healthz() -> dict[str, Any]:
    return {"status": "ok"}


def create_app(edge: Edge) -> Litestar:
    app = Litestar(
        route_handlers=[
            chat_completions,
            embeddings,
            rerank,
            *model_lists.ROUTES,  # GET /v1/models[/{id}] (OpenAI or Anthropic shape), GET /gemini/v1beta/models[/{model}]
            healthz,
            *FRONTEND_ROUTES,
            *completions.ROUTES,  # POST /v1/completions (legacy text completions)
            *media.ROUTES,  # POST /v1/images/generations, /v1/moderations
            *speech.ROUTES,  # POST /v1/audio/speech
            *uploads.ROUTES,  # POST /v1/audio/transcriptions, /v1/audio/translations, /v1/images/edits (multipart, streamed)
            *health.http_routes(edge.readiness, None if edge.settings.edge_metrics_port else edge.metrics.registry),
        ],
        middleware=[timing_middleware],
        exception_handlers=error_handlers(door_for),
        request_max_body_size=32 * 1024 * 1024,
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
    app.state.edge = edge
    app.state.transport_error_body = transport_error_body
    return app


def create_server_app(edge: Edge) -> FastRoutes:
    """What the edge's HTTP server runs: the chat doors' hot paths without the framework
    (``fastpath``), everything else through the Litestar app."""
    return FastRoutes(create_app(edge), {"/v1/chat/completions": OPENAI, "/v1/messages": anthropic.FRONTEND})
