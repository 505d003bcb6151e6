"""Rendering any exception as the calling protocol's own error body."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.types import ExceptionHandlersMap

from tollgate.errors import BadRequest, Forbidden, NotFound, RateLimited, TollgateError, Unauthorized

if TYPE_CHECKING:  # only a type here: importing the doors would import this module back
    from services.edge.frontends.base import Frontend

log = structlog.get_logger(service="edge")


class MethodNotAllowed(BadRequest):
    status = 405


class RequestTooLarge(BadRequest):
    status = 413


# Framework errors (unknown route, wrong method, body too large) as our own classes.
_HTTP_ERRORS: dict[int, type[TollgateError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: RequestTooLarge,
    429: RateLimited,
}
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


def error_handlers(frontend: Frontend | Callable[[str, Mapping[str, str]], Frontend]) -> ExceptionHandlersMap:
    """Litestar ``exception_handlers`` for routes of one front door; or, given a function of
    the request path (the app-level handler: unknown routes, wrong methods), of the door the
    path names."""

    def render(request: Request, exc: Exception) -> Response:
        err = as_tollgate(exc)
        door = frontend(request.url.path, request.headers) if callable(frontend) else frontend
        return Response(content=door.error_body(err), status_code=err.status, headers=err.headers, media_type="application/json")

    return {Exception: render}
