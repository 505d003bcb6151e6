"""The edge's Litestar application: routes, error rendering, middleware."""

from __future__ import annotations

import structlog
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import HTTPException

from services.edge.chat import bearer, chat_completions
from services.edge.context import Edge
from services.edge.middleware import timing_middleware
from tollgate.errors import TollgateError

log = structlog.get_logger(service="edge")

_HTTP_TYPES = {401: "invalid_request_error", 403: "permission_error", 404: "invalid_request_error", 429: "rate_limit_error"}


def openai_error(status: int, message: str, err_type: str, code: str | None, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"message": message, "type": err_type, "code": code, "param": None}}
    return Response(content=body, status_code=status, headers=headers or {}, media_type="application/json")


def on_tollgate_error(_request: Request, exc: TollgateError) -> Response:
    return openai_error(exc.status, exc.message, exc.error_type, exc.code, exc.headers)


def on_http_error(_request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if status >= 500:
        return openai_error(status, "The server had an error while processing your request.", "server_error", "internal_error")
    err_type = _HTTP_TYPES.get(status, "invalid_request_error")
    code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(status, "invalid_request")
    return openai_error(400 if status not in (401, 403, 404, 429) else status, exc.detail, err_type, code)


def on_unexpected(request: Request, exc: Exception) -> Response:
    # Only the exception's type: its text may quote request content.
    log.error("unhandled error", path=request.url.path, error=type(exc).__name__)
    return openai_error(500, "The server had an error while processing your request.", "server_error", "internal_error")


@post("/v1/chat/completions", status_code=200)
async def chat(request: Request) -> Response:
    return await chat_completions(request)


@get("/v1/models")
async def list_models(request: Request) -> dict:
    edge: Edge = request.app.state.edge
    await authorize_key_only(edge, request)
    models = await edge.routes.models()
    return {"object": "list", "data": [{"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by} for m in models]}


async def authorize_key_only(edge: Edge, request: Request) -> None:
    await edge.auth.principal(bearer(request))


@get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


def create_app(edge: Edge) -> Litestar:
    app = Litestar(
        route_handlers=[chat, list_models, healthz],
        middleware=[timing_middleware],
        exception_handlers={TollgateError: on_tollgate_error, HTTPException: on_http_error, Exception: on_unexpected},
        request_max_body_size=32 * 1024 * 1024,
        openapi_config=None, logging_config=None,
        debug=False,
    )
    app.state.edge = edge
    return app
