"""The edge's Litestar application: routes, per-protocol error rendering, middleware."""

from __future__ import annotations

import structlog
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import HTTPException

from services.edge import proxy
from services.edge.context import Edge
from services.edge.frontends.base import Frontend
from services.edge.frontends.openai import OpenAIFrontend, bearer
from services.edge.middleware import timing_middleware
from tollgate.errors import BadRequest, Forbidden, NotFound, RateLimited, TollgateError, Unauthorized

log = structlog.get_logger(service="edge")

OPENAI = OpenAIFrontend()

# Framework errors (unknown route, wrong method, body too large) as our own classes.
_HTTP_ERRORS: dict[int, type[TollgateError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound, 429: RateLimited}
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


def as_tollgate(exc: Exception) -> TollgateError:
    if isinstance(exc, TollgateError):
        return exc
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        cls = _HTTP_ERRORS.get(exc.status_code, BadRequest)
        return cls(exc.detail, code=_HTTP_CODES.get(exc.status_code, cls.default_code))
    # Only the exception's type is logged: its text may quote request content.
    log.error("unhandled error", error=type(exc).__name__)
    return TollgateError("The server had an error while processing your request.")


def error_handlers(frontend: Frontend) -> dict:
    def render(_request: Request, exc: Exception) -> Response:
        err = as_tollgate(exc)
        return Response(content=frontend.error_body(err), status_code=err.status, headers=err.headers, media_type="application/json")

    return {Exception: render}


@post("/v1/chat/completions", status_code=200)
async def chat_completions(request: Request) -> Response:
    return await proxy.chat(request, OPENAI)


@get("/v1/models")
async def list_models(request: Request) -> dict:
    edge: Edge = request.app.state.edge
    await edge.auth.principal(bearer(request))
    models = await edge.routes.models()
    return {"object": "list", "data": [{"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by} for m in models]}


@get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


def create_app(edge: Edge) -> Litestar:
    app = Litestar(
        route_handlers=[chat_completions, list_models, healthz],
        middleware=[timing_middleware],
        exception_handlers=error_handlers(OPENAI),
        request_max_body_size=32 * 1024 * 1024,
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
    app.state.edge = edge
    return app
