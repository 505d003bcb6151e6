"""The Anthropic front door: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

Requests reaching an Anthropic channel pass through natively; for any other upstream
they are translated to the canonical OpenAI shape and the answers (whole or streamed)
back into Anthropic messages and events.

The request translation (and what it drops) is in ``providers.anthropic.inbound``;
``estimate_tokens`` documents the count_tokens fallback.
"""

from __future__ import annotations

import math
import os
import secrets
import time
from typing import Any

import httpx
import msgspec
from litestar import Request, Response, post

from services.edge import limits, proxy
from services.edge.context import SCOPE_KEY, Edge
from services.edge.errors import error_handlers
from services.edge.frontends.base import Parsed
from services.edge.frontends.openai import bearer, decode_object
from tollgate.providers.anthropic import ADAPTERS, wire
from tollgate.providers.anthropic.inbound import text_of, to_canonical_request
from tollgate.sse import frame
from tollgate.errors import BadRequest, InsufficientQuota, TollgateError

_ENCODE = msgspec.json.encode
_JSON = msgspec.json.Decoder()


def _usage(response: dict) -> dict:
    """Canonical usage as Anthropic's: cached prompt tokens are not part of ``input_tokens``."""
    usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
    details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
    cached = int(details.get("cached_tokens") or 0)
    prompt = int(usage.get("prompt_tokens") or 0)
    return {"input_tokens": max(prompt - cached, 0), "output_tokens": int(usage.get("completion_tokens") or 0), "cache_read_input_tokens": cached}


def _message_id(ident: Any) -> str:
    ident = str(ident or "")
    return ident if ident.startswith("msg_") else "msg_" + (ident or secrets.token_hex(12))


class _Encoder:
    """Canonical chunks -> Anthropic's event sequence. A new content block opens when the
    kind changes (text <-> tool call) or a new tool call starts. message_delta waits for
    ``finish()``: the usage-only chunk arrives after the finish_reason chunk."""

    def __init__(self, model: str):
        self._model = model
        self._id = "msg_" + secrets.token_hex(12)
        self._started = False
        self._index = -1  # the current block's index
        self._open: str | None = None  # "text" | "tool" | None
        self._tool_index: Any = None  # canonical index / id of the open tool call
        self._tool_id = ""
        self._tool_used = False
        self._finish: str | None = None
        self._usage_chunk: dict = {}  # the (last) chunk carrying usage

    @staticmethod
    def _event(kind: str, data: dict) -> bytes:
        return frame(_ENCODE({"type": kind, **data}), kind)

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        message = {
            "id": self._id, "type": "message", "role": "assistant", "model": self._model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0},
        }  # fmt: skip
        return self._event("message_start", {"message": message})

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return self._event("content_block_stop", {"index": self._index})

    def _open_block(self, kind: str, block: dict) -> bytes:
        out = self._close_block()
        self._index += 1
        self._open = kind
        return out + self._event("content_block_start", {"index": self._index, "content_block": block})

    def _delta(self, delta: dict) -> bytes:
        return self._event("content_block_delta", {"index": self._index, "delta": delta})

    def _tool_call(self, call: Any) -> bytes:
        if not isinstance(call, dict):
            return b""
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        index, ident = call.get("index"), call.get("id")
        same = self._open == "tool" and (index is None or index == self._tool_index) and (not ident or ident == self._tool_id)
        out = b""
        if not same:
            self._tool_index, self._tool_id, self._tool_used = index, ident or "toolu_" + secrets.token_hex(12), True
            out = self._open_block("tool", {"type": "tool_use", "id": self._tool_id, "name": fn.get("name") or "", "input": {}})
        if isinstance(args := fn.get("arguments"), str) and args:
            out += self._delta({"type": "input_json_delta", "partial_json": args})
        return out

    def encode(self, chunk: dict) -> bytes:
        out = [self._start()]
        if isinstance(chunk.get("usage"), dict):
            self._usage_chunk = chunk
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            if isinstance(text := delta.get("content"), str) and text:
                if self._open != "text":
                    out.append(self._open_block("text", {"type": "text", "text": ""}))
                out.append(self._delta({"type": "text_delta", "text": text}))
            for call in delta.get("tool_calls") or ():
                out.append(self._tool_call(call))
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return b"".join(out)

    def finish(self) -> bytes:
        delta = {"stop_reason": wire.stop_reason(self._finish, self._tool_used), "stop_sequence": None}
        return b"".join(
            (
                self._start(),
                self._close_block(),
                self._event("message_delta", {"delta": delta, "usage": _usage(self._usage_chunk)}),
                self._event("message_stop", {}),
            )
        )

    def error(self, err: TollgateError) -> bytes:
        return self._event("error", {"error": {"type": wire.error_type(err.status), "message": err.message}})


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
        return request.headers.get("x-api-key", "").strip() or bearer(request)

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

    def to_canonical(self, parsed: Parsed) -> dict:
        return to_canonical_request(parsed.body, parsed.model, stream=parsed.stream)

    def from_canonical(self, response: dict, model: str) -> dict:
        choice = (response.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        content: list[dict] = []
        if text := text_of(message.get("content"), sep=""):
            content.append({"type": "text", "text": text})
        for call in message.get("tool_calls") or ():
            fn = call.get("function") or {}
            arguments = fn.get("arguments")
            try:
                args = _JSON.decode(arguments) if isinstance(arguments, str) and arguments else {}
            except msgspec.DecodeError:
                args = {}
            ident = call.get("id") or "toolu_" + secrets.token_hex(12)
            content.append({"type": "tool_use", "id": ident, "name": fn.get("name") or "", "input": args if isinstance(args, dict) else {}})
        tool_used = any(b["type"] == "tool_use" for b in content)
        return {
            "id": _message_id(response.get("id")),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": wire.stop_reason(choice.get("finish_reason"), tool_used),
            "stop_sequence": None,
            "usage": {**_usage(response), "cache_creation_input_tokens": 0},
        }

    def stream_encoder(self, parsed: Parsed) -> _Encoder:
        return _Encoder(parsed.model)

    def passthrough_end(self) -> bytes:
        return b""

    def error_body(self, err: TollgateError) -> dict:
        return {"type": "error", "error": {"type": wire.error_type(err.status), "message": err.message}}


FRONTEND = AnthropicFrontend()


# --- count_tokens ------------------------------------------------------------------

# Messages-only generation settings Anthropic's count_tokens endpoint does not accept.
_NOT_COUNTED = ("max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences", "metadata", "service_tier")


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_chars(v) for v in value)
    if not isinstance(value, dict):
        return 0
    kind = value.get("type")
    if kind == "text":
        return _chars(value.get("text"))
    if kind == "tool_use":
        return _chars(value.get("name")) + len(_ENCODE(value.get("input") or {}))
    if kind == "tool_result":
        return _chars(value.get("content"))
    return 0  # images, documents, thinking: not estimated


def estimate_tokens(body: dict) -> int:
    """An ESTIMATE, for upstreams that cannot count: ceil(characters of all text / 4), where
    text is the system prompt, text blocks, tool_use inputs, tool results and the tool
    definitions (as JSON). Images and documents are not counted."""
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    chars = _chars(body.get("system")) + sum(_chars(m.get("content")) for m in messages if isinstance(m, dict))
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    chars += sum(len(_ENCODE(t)) for t in tools if isinstance(t, dict))
    return math.ceil(chars / 4)


async def _count_upstream(request: Request, edge: Edge, model: str, body: dict) -> Response | None:
    """Ask the first Anthropic channel that answers; None when there is none."""
    adapter = ADAPTERS["anthropic"]
    question = {k: v for k, v in body.items() if k not in _NOT_COUNTED}
    for candidate in (await edge.routes.route(model)).candidates:
        if candidate.provider != adapter.kind:
            continue
        secret = os.environ.get(candidate.api_key_env, "") if candidate.api_key_env else ""
        if candidate.api_key_env and not secret:
            continue
        req = adapter.count_tokens_request(candidate.base_url, secret, candidate.upstream_model, question)
        started = time.perf_counter()
        try:
            answer = await edge.client.post(req.url, headers=req.headers, content=req.body)
        except httpx.HTTPError:
            continue
        finally:
            if (timer := request.scope.get(SCOPE_KEY)) is not None:
                timer.upstream_s += time.perf_counter() - started
        if answer.status_code == 200:
            headers = {"x-tollgate-channel": candidate.channel_id, "x-tollgate-token-count": "upstream"}
            return Response(content=answer.content, status_code=200, media_type="application/json", headers=headers)
        if answer.status_code in (400, 413, 422):
            message = adapter.error_message(answer.content) or f"upstream rejected the request (HTTP {answer.status_code})"
            raise BadRequest(message, code="upstream_bad_request")
    return None


@post("/v1/messages", status_code=200, exception_handlers=error_handlers(FRONTEND))
async def messages(request: Request) -> Response:
    return await proxy.chat(request, FRONTEND)


@post("/v1/messages/count_tokens", status_code=200, exception_handlers=error_handlers(FRONTEND))
async def count_tokens(request: Request) -> Response:
    """Anthropic channels count natively; otherwise the answer is ``estimate_tokens``."""
    edge: Edge = request.app.state.edge
    principal = await proxy.authorize(edge, FRONTEND.api_key(request))
    if principal.account.balance_micros <= 0:  # counting is free, but not for exhausted accounts
        raise InsufficientQuota("You exceeded your current quota: the account balance is exhausted. Top up to continue.")
    body = decode_object(await request.body())
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required", code="missing_model")
    limits.check_model_name(model)
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise BadRequest("messages: must be a non-empty array", code="invalid_messages")
    answer = await _count_upstream(request, edge, model, body)
    if answer is not None:
        return answer
    return Response(content={"input_tokens": estimate_tokens(body)}, status_code=200, headers={"x-tollgate-token-count": "estimate"})


ROUTES = [messages, count_tokens]
