"""One exception hierarchy for the whole gateway.

Every class knows its HTTP status, its gRPC status code and the OpenAI-style error
``type``/``code`` it renders as. Services raise these; edges render them; gRPC
servicers abort with them; gRPC clients map status codes back to them.
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

import grpc

from tollgate import error_bodies


class TollgateError(Exception):
    status: ClassVar[int] = 500
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    error_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.headers = headers or {}

    def to_openai(self) -> dict[str, Any]:
        return error_bodies.openai(self)


class BadRequest(TollgateError):
    status = 400
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    error_type = "invalid_request_error"
    default_code = "invalid_request"


class RequestTimeout(TollgateError):
    """The client did not send its request in time (its headers, at the HTTP server)."""

    status = 408
    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED
    error_type = "invalid_request_error"
    default_code = "request_timeout"


class PayloadTooLarge(TollgateError):
    """The request's body (an upload) is over the endpoint's size limit."""

    status = 413
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    error_type = "invalid_request_error"
    default_code = "request_too_large"


class Unauthorized(TollgateError):
    status = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class InsufficientQuota(TollgateError):
    status = 402
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    error_type = "insufficient_quota"
    default_code = "insufficient_quota"


class Forbidden(TollgateError):
    status = 403
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    error_type = "permission_error"
    default_code = "forbidden"


class NotFound(TollgateError):
    status = 404
    grpc_code = grpc.StatusCode.NOT_FOUND
    error_type = "invalid_request_error"
    default_code = "not_found"


class Conflict(TollgateError):
    status = 409
    grpc_code = grpc.StatusCode.ALREADY_EXISTS
    error_type = "invalid_request_error"
    default_code = "conflict"


class RateLimited(TollgateError):
    status = 429
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class ModelNotFound(NotFound):
    """The catalog has no model (nor alias) of that name: answered as the providers do (404),
    so SDKs do not retry it."""

    default_code = "model_not_found"


class ModelUnavailable(TollgateError):
    """The model exists but no channel can serve it now (every channel unhealthy, disabled or
    excluded by the request's provider preferences)."""

    status = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE
    error_type = "invalid_request_error"
    default_code = "model_unavailable"


class ModelNotInGroup(TollgateError):
    """The model is not among those the caller's pricing group shows (issue 17): answered as
    the hosted gateways Tollgate imitates do, ``{"error": {"code": "model_not_found",
    "message": "No available channel for model X under group G", "type": "new_api_error"}}``
    with 503. FAILED_PRECONDITION over gRPC keeps it apart from a model without a channel."""

    status = 503
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    error_type = "new_api_error"
    default_code = "model_not_found"


class ServiceUnavailable(TollgateError):
    status = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE
    error_type = "server_error"
    default_code = "service_unavailable"


class UpstreamError(TollgateError):
    status = 502
    grpc_code = grpc.StatusCode.UNAVAILABLE
    error_type = "upstream_error"
    default_code = "upstream_error"


class UpstreamTimeout(TollgateError):
    status = 504
    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED
    error_type = "upstream_error"
    default_code = "upstream_timeout"


# gRPC status -> the error class a client should raise. NOT_FOUND is contextual
# (unknown model vs unknown account) so callers may pass their own override.
_FROM_GRPC: dict[grpc.StatusCode, type[TollgateError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: BadRequest,
    grpc.StatusCode.UNAUTHENTICATED: Unauthorized,
    grpc.StatusCode.PERMISSION_DENIED: Forbidden,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: Conflict,
    grpc.StatusCode.RESOURCE_EXHAUSTED: InsufficientQuota,
    grpc.StatusCode.UNAVAILABLE: ServiceUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: ServiceUnavailable,
}


def from_grpc(err: grpc.aio.AioRpcError, overrides: dict[grpc.StatusCode, type[TollgateError]] | None = None) -> TollgateError:
    """The error a Tollgate servicer raised (``abort`` tags it with ERROR_CODE_METADATA). An
    untagged status came from gRPC itself — the transport, a message or metadata size limit
    (RESOURCE_EXHAUSTED), a deadline, an unhandled servicer exception — and is never taken
    for a caller's error (a quota, a bad request): it is an internal service failure, and
    its ``details()`` (transport text) is never passed on."""
    code = err.code()
    error_code = next((v for k, v in (err.trailing_metadata() or ()) if k == ERROR_CODE_METADATA and isinstance(v, str)), None)
    if error_code is None:
        return ServiceUnavailable(f"internal service unavailable ({code.name.lower()})")
    cls = (overrides or {}).get(code) or _FROM_GRPC.get(code, TollgateError)
    message = err.details() or code.name.lower()
    if cls is ServiceUnavailable:
        message = f"internal service unavailable ({code.name.lower()})"
    return cls(message, code=error_code or None)


ERROR_CODE_METADATA = "tollgate-error-code"  # carries the error's ``code`` (e.g. expired_api_key) across gRPC


MAX_DETAILS_CHARS = 2000  # gRPC carries details in metadata (16 KiB in all): a message quoting a huge input must not overflow it


async def abort(context: grpc.aio.ServicerContext[Any, Any], err: TollgateError) -> NoReturn:
    message = err.message if len(err.message) <= MAX_DETAILS_CHARS else err.message[: MAX_DETAILS_CHARS - 1] + "…"
    await context.abort(err.grpc_code, message, trailing_metadata=((ERROR_CODE_METADATA, (err.code or "")[:200]),))
