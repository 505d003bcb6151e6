"""The Anthropic front door: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

Requests reaching an Anthropic channel pass through natively; for any other upstream
they are translated to the canonical OpenAI shape and the answers (whole or streamed)
back into Anthropic messages and events.

This folder holds both directions: ``inbound`` (the request translation, and what it
drops) and ``render`` (answers, stream events, errors). ``count_tokens`` goes through the
doors' one counting path (``services.edge.counting``: an Anthropic channel counts natively,
else the one estimator answers).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from services.edge import counting, limits, proxy
from services.edge.errors import error_handlers
from services.edge.frontends.anthropic import render
from services.edge.frontends.anthropic.inbound import to_canonical_request
from services.edge.frontends.base import Parsed
from services.edge.frontends.openai import bearer, decode_object
from tollgate import error_bodies
from tollgate.canonical import ChatRequest, ChatResponse
from tollgate.errors import BadRequest, TollgateError, Unauthorized

__all__ = ["FRONTEND", "ROUTES", "AnthropicFrontend"]

# Messages-only generation settings Anthropic's count_tokens endpoint does not accept.
NOT_COUNTED = ("max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences", "metadata", "service_tier")


class AnthropicFrontend:
    protocol = "anthropic"
    endpoint = "messages"

    def forward_headers(self, request: Request) -> tuple[tuple[str, str], ...]:
        """The SDK's API version and beta flags reach an Anthropic upstream unchanged (printable
        ASCII, as every real value is; anything else is refused, not sent on)."""
        forwarded = tuple((name, request.headers[name]) for name in ("anthropic-version", "anthropic-beta") if request.headers.get(name))
        for name, value in forwarded:
            if len(value) > 1000 or not (value.isascii() and value.isprintable()):
                raise BadRequest(f"{name}: must be printable ASCII of at most 1000 characters", code=f"invalid_{name.replace('-', '_')}")
        return forwarded

    def api_key(self, request: Request) -> str:
        key = request.headers.get("x-api-key", "").strip() or bearer(request)
        if not key:  # named as the Anthropic SDK sends it, not as a Bearer header
            raise Unauthorized("You didn't provide an API key. Send it in the 'x-api-key' header.", code="missing_api_key")
        return key

    def parse(self, raw: bytes, *, model: str | None = None, stream: bool | None = None) -> Parsed:
        body = decode_object(raw)
        model = model or body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("model: Field required", code="missing_model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("messages: must be a non-empty array", code="invalid_messages")
        if body.get("max_tokens") is None:
            raise BadRequest("max_tokens: Field required (a positive integer)", code="invalid_max_tokens")
        limits.cost_bounds(body)
        limits.check_model_name(model)
        if "stream" in body and not isinstance(body["stream"], bool):
            raise BadRequest("stream: must be a boolean", code="invalid_stream")
        return Parsed(model=model, stream=bool(body.get("stream")) if stream is None else stream, body=body)

    def to_canonical(self, parsed: Parsed) -> ChatRequest:
        return to_canonical_request(parsed.body, parsed.model, stream=parsed.stream)

    def from_canonical(self, response: ChatResponse, model: str) -> dict[str, Any]:
        return render.message(response, model)

    def stream_encoder(self, parsed: Parsed) -> render.Encoder:
        return render.Encoder(parsed.model)

    def passthrough_end(self) -> bytes:
        return b""

    def error_body(self, err: TollgateError) -> dict[str, Any]:
        return error_bodies.anthropic(err)


FRONTEND = AnthropicFrontend()


@post("/v1/messages", status_code=200, exception_handlers=error_handlers(FRONTEND))
async def messages(request: Request) -> Response:
    return await proxy.chat(request, FRONTEND)


@post("/v1/messages/count_tokens", status_code=200, exception_handlers=error_handlers(FRONTEND))
async def count_tokens(request: Request) -> Response:
    """Anthropic channels count natively; otherwise the answer is the one estimator's."""
    await counting.authorized(request, FRONTEND)
    body = decode_object(await request.body())
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required", code="missing_model")
    limits.check_model_name(model)
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise BadRequest("messages: must be a non-empty array", code="invalid_messages")
    return await counting.count(
        request,
        FRONTEND,
        model,
        {k: v for k, v in body.items() if k not in NOT_COUNTED},
        canonical=lambda: to_canonical_request({**body, "max_tokens": 1}, model, stream=False),  # max_tokens: not counted
        render=lambda tokens: {"input_tokens": tokens},
    )


ROUTES = [messages, count_tokens]
