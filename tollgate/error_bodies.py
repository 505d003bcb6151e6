"""Every client protocol's error body, rendered in one place: the edge's doors, metering's
APIs (OpenAI's shape) and the provider simulator all call these, so a protocol's error
shape and its status tables are written once.

- OpenAI: ``{"error": {"message", "type", "code", "param"}}``
- Anthropic: ``{"type": "error", "error": {"type", "message"}}`` (``type`` from the status)
- Google (Gemini): ``{"error": {"code", "message", "status"}}`` (``status`` a google.rpc.Code name)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tollgate.errors import TollgateError

# HTTP status -> Anthropic's error ``type``.
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}

# HTTP status -> google.rpc.Code name, as Google's error bodies carry it.
GOOGLE_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "RESOURCE_EXHAUSTED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def anthropic_error_type(status: int) -> str:
    return ANTHROPIC_ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def google_status(status: int) -> str:
    return GOOGLE_STATUSES.get(status) or ("INTERNAL" if status >= 500 else "INVALID_ARGUMENT")


def openai_type(status: int) -> str:
    """The OpenAI error ``type`` for an error known only by its HTTP status."""
    return "invalid_request_error" if status < 500 else "server_error"


def openai_body(message: str, kind: str, code: str | None = None, *, param: bool = True) -> dict[str, Any]:
    """OpenAI's error object; ``param=False`` leaves out its ``param`` (always null here), as
    metering's accounts API documents its errors."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if param:
        error["param"] = None
    return {"error": error}


def anthropic_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": anthropic_error_type(status), "message": message}}


def gemini_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": google_status(status)}}


def openai(err: TollgateError, *, param: bool = True) -> dict[str, Any]:
    return openai_body(err.message, err.error_type, err.code, param=param)


def anthropic(err: TollgateError) -> dict[str, Any]:
    return anthropic_body(err.status, err.message)


def gemini(err: TollgateError) -> dict[str, Any]:
    return gemini_body(err.status, err.message)
