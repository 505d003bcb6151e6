"""OpenAI's legacy text completions, ``POST /v1/completions`` (what FIM and autocomplete tools
call), served for every model.

- An OpenAI-compatible channel whose profile has a completions path (``Profile.completions_path``)
  gets the client's body as it is (``model`` replaced), whole or streamed.
- Any other channel gets a chat request: the prompt as the user message, a ``suffix`` as a
  system instruction to write only what goes before it; the answer comes back in the
  ``text_completion`` shape (``choices[].text``, ``finish_reason``, ``usage``), whole or
  streamed, ``echo`` prepending the prompt.
- Refused with a clear 400: ``logprobs`` (no translation can produce them, and the edge
  does not pass them half-way), ``best_of`` above 1, token-array prompts, and several prompts
  in one request unless a channel of the model serves completions natively (a chat upstream
  answers one prompt per request).

One request, one usage event, its cost bound by ``max_tokens`` (16 when absent, OpenAI's
default for this endpoint) times ``n``.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.response import Stream

from services.edge import limits, proxy
from services.edge.context import Edge, timer_of
from services.edge.errors import error_handlers
from services.edge.frontends.base import Parsed
from services.edge.frontends.openai import DONE, OpenAIFrontend
from tollgate import error_bodies
from tollgate.canonical import ChatChunk, ChatRequest, ChatResponse
from tollgate.errors import BadRequest, TollgateError
from tollgate.providers import adapter_for
from tollgate.providers.base import Adapter, UpstreamRequest
from tollgate.providers.openai_compat import OpenAICompatible
from tollgate.rpc import router_pb2 as pb

ENDPOINT = "completions"
DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions
SUFFIX_INSTRUCTION = (
    "Continue the user's text. Reply with only the text that goes right after it and right before this ending (do not repeat either):\n"
)
# The completions fields a chat request takes under the same name and meaning.
CARRIED_TO_CHAT = ("stop", "temperature", "top_p", "n", "presence_penalty", "frequency_penalty", "seed", "user")
_ENCODE = msgspec.json.encode


class CompletionRequest(msgspec.Struct):
    """The fields this door reads (others pass through to a native upstream untouched)."""

    model: str
    prompt: str | list[str]
    suffix: str | None = None
    max_tokens: int | None = None
    stop: str | list[str] | None = None
    stream: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    echo: bool | None = None
    logprobs: int | None = None
    best_of: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    user: str | None = None

    @property
    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else self.prompt


def read(body: dict[str, Any]) -> CompletionRequest:
    """The body checked: each refusal says what to send instead."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("you must provide a model parameter", code="missing_model")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and prompt and all(isinstance(p, int | list) for p in prompt):
        raise BadRequest("Token-array prompts are not supported here: send the prompt as text.", code="invalid_prompt")
    if not (isinstance(prompt, str) or (isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt))):
        raise BadRequest("'prompt' must be a string or a non-empty array of strings.", code="invalid_prompt")
    if body.get("logprobs") is not None:
        raise BadRequest("'logprobs' is not supported by this gateway's completions endpoint; leave it out.", code="unsupported_logprobs")
    limits.cost_bounds(body)  # max_tokens and n: integers in range, each with its own code
    try:
        request = msgspec.convert(body, CompletionRequest)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"Invalid request: {exc}", code="invalid_request") from None
    if request.best_of not in (None, 1):
        raise BadRequest("'best_of' above 1 is not supported; use 'n' for several completions.", code="unsupported_best_of")
    if not any(request.prompts) and not request.suffix:
        raise BadRequest("'prompt' must not be empty (or give a 'suffix').", code="invalid_prompt")
    limits.check_model_name(request.model)
    return request


def serves_natively(adapter: Adapter | None) -> bool:
    """Whether the channel's upstream has ``/completions`` (its OpenAI-compatible profile says so)."""
    return isinstance(adapter, OpenAICompatible) and bool(adapter.profile.completions_path)


def to_chat(request: CompletionRequest, *, stream: bool) -> ChatRequest:
    """One prompt as a chat request (the suffix, when given, as a system instruction)."""
    messages = [{"role": "system", "content": SUFFIX_INSTRUCTION + request.suffix}] if request.suffix else []
    messages.append({"role": "user", "content": request.prompts[0]})
    carried = {name: getattr(request, name) for name in CARRIED_TO_CHAT if getattr(request, name) is not None}
    chat: dict[str, Any] = {"model": request.model, "messages": messages, "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS, **carried}
    if stream:
        chat |= {"stream": True, "stream_options": {"include_usage": True}}
    return msgspec.convert(chat, ChatRequest)


def completion_id(chat_id: str) -> str:
    return "cmpl-" + chat_id.removeprefix("chatcmpl-").removeprefix("msg_") if chat_id else "cmpl-tollgate"


def from_chat(response: ChatResponse, request: CompletionRequest, model: str) -> dict[str, Any]:
    """A chat answer as a ``text_completion``."""
    echo = request.prompts[0] if request.echo else ""
    choices = [
        {
            "text": echo + (c.message.content if isinstance(c.message.content, str) else ""),
            "index": c.index,
            "logprobs": None,
            "finish_reason": c.finish_reason or "stop",
        }
        for c in response.choices
    ]
    out: dict[str, Any] = {
        "id": completion_id(response.id),
        "object": "text_completion",
        "created": response.created or int(time.time()),
        "model": model,
        "choices": choices,
    }
    if response.usage is not None:
        out["usage"] = response.usage.to_openai()
    return out


class Encoder:
    """Canonical chunks as ``text_completion`` stream events (the usage chunk when asked)."""

    def __init__(self, request: CompletionRequest, model: str, wants_usage: bool):
        self._echo = request.prompts[0] if request.echo else ""
        self._echoed: set[int] = set()
        self._model = model
        self._wants_usage = wants_usage

    def encode(self, chunk: ChatChunk) -> bytes:
        head = {
            "id": completion_id(chunk.id),
            "object": "text_completion",
            "created": chunk.created or int(time.time()),
            "model": self._model,
        }
        out = b""
        for c in chunk.choices:
            text = c.delta.content if isinstance(c.delta.content, str) else ""
            if self._echo and c.index not in self._echoed:
                self._echoed.add(c.index)
                text = self._echo + text
            if text or c.finish_reason:
                choice = {"text": text, "index": c.index, "logprobs": None, "finish_reason": c.finish_reason}
                out += b"data: " + _ENCODE({**head, "choices": [choice]}) + b"\n\n"
        if chunk.usage is not None and self._wants_usage:
            out += b"data: " + _ENCODE({**head, "choices": [], "usage": chunk.usage.to_openai()}) + b"\n\n"
        return out

    def finish(self) -> bytes:
        return DONE

    def error(self, err: TollgateError) -> bytes:
        return b"data: " + _ENCODE(error_bodies.openai(err)) + b"\n\n" + DONE


class CompletionsFrontend(OpenAIFrontend):
    """The OpenAI door's completions endpoint for the shared request path (``proxy.complete``
    and ``proxy.relay``): OpenAI's keys, errors and stream end, the text_completion shape."""

    endpoint = ENDPOINT

    def __init__(self, request: CompletionRequest):
        self.request = request

    def to_canonical(self, parsed: Parsed) -> ChatRequest:
        return to_chat(self.request, stream=parsed.stream)

    def from_canonical(self, response: ChatResponse, model: str) -> dict[str, Any]:
        return from_chat(response, self.request, model)

    def stream_encoder(self, parsed: Parsed) -> Encoder:  # type: ignore[override]  # a text_completion encoder
        return Encoder(self.request, parsed.model, parsed.wants_usage)


async def serve(request: Request) -> Response:
    """Authorize, check, hold (bounded by max_tokens x n), call the model's channels (natively
    or as chat), answer whole or streamed, meter once."""
    edge: Edge = request.app.state.edge
    timer_of(request.scope).endpoint = ENDPOINT
    door = OpenAIFrontend()
    principal = await proxy.authorize(edge, door.api_key(request), request)
    raw = await request.body()
    body = limits.decode_object(raw)
    completion = read(body)
    stream = bool(completion.stream)
    wants_usage = limits.stream_options(body)
    body.setdefault("max_tokens", DEFAULT_MAX_TOKENS)  # the cost bound, and what the upstream gets
    frontend = CompletionsFrontend(completion)
    parsed = Parsed(model=completion.model, stream=stream, body=body, wants_usage=wants_usage)
    plan, meter = await proxy.prepare(edge, request, principal, body, completion.model, endpoint=ENDPOINT, stream=stream, size=len(raw))
    any_native = any(
        serves_natively(adapter_for(candidate.provider, candidate.settings, candidate.upstream_model)) for _, candidate in plan
    )
    if len(completion.prompts) > 1 and not any_native:
        meter.release()
        raise BadRequest(
            f"Model {completion.model} answers one prompt per request here (its upstream has no completions endpoint): "
            "send the prompts as separate requests.",
            code="multiple_prompts_unsupported",
        )
    chat: list[ChatRequest] = []  # translated at most once

    def build(candidate: pb.Candidate, adapter: Adapter, secret: str) -> UpstreamRequest | None:
        if serves_natively(adapter):
            assert isinstance(adapter, OpenAICompatible)
            return adapter.completions_request(candidate.base_url, secret, candidate.upstream_model, body, stream=stream)
        if len(completion.prompts) > 1:
            return None  # this channel cannot take several prompts: the next one may
        if not chat:
            chat.append(to_chat(completion, stream=stream))
        return adapter.chat_request(candidate.base_url, secret, candidate.upstream_model, chat[0], stream=stream)

    outcome = await proxy.attempt(edge, plan, build, meter)
    native = serves_natively(outcome.adapter)
    headers = proxy.served_headers(outcome)
    if stream:
        headers["cache-control"] = "no-cache"
        return Stream(proxy.relay(outcome, meter, frontend, parsed, native), media_type="text/event-stream", headers=headers)
    return await proxy.complete(outcome, meter, frontend, parsed, native, headers)


@post("/v1/completions", status_code=200, exception_handlers=error_handlers(OpenAIFrontend()))
async def completions(request: Request) -> Response:
    return await serve(request)


ROUTES = [completions]
