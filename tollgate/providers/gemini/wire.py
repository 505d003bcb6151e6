"""Gemini (Google AI ``generativelanguage``) wire structs and shared vocabulary.

Only what the edge reads from upstream answers is typed, permissively: unknown fields
and part kinds (inlineData answers, executableCode, groundingMetadata, …) decode fine
and are ignored. Google always answers in proto-JSON camelCase, hence ``rename="camel"``.
Client *requests* are read as plain dicts instead (see ``services/edge/frontends/gemini/inbound.py``): Google
accepts both camelCase and snake_case field names there, and the SDK itself mixes them;
``get`` and ``parts`` read them.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from tollgate.providers.base import Usage

Count = int | float | None


class FunctionCall(msgspec.Struct):
    name: str = ""
    args: dict[str, Any] | None = None
    id: str | None = None


class Part(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool | None = None
    function_call: FunctionCall | None = None


class Content(msgspec.Struct):
    role: str | None = None
    parts: list[Part] = msgspec.field(default_factory=list)


class Candidate(msgspec.Struct, rename="camel"):
    content: Content | None = None
    finish_reason: str | None = None
    index: int = 0


class UsageMetadata(msgspec.Struct, rename="camel"):
    prompt_token_count: Count = None
    candidates_token_count: Count = None
    cached_content_token_count: Count = None
    thoughts_token_count: Count = None
    tool_use_prompt_token_count: Count = None
    total_token_count: Count = None


class PromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None


class Status(msgspec.Struct):
    code: int | None = None
    message: str = ""
    status: str = ""


class Response(msgspec.Struct, rename="camel"):
    """A GenerateContentResponse: a whole answer, or one streamed event (``alt=sse``)."""

    candidates: list[Candidate] = msgspec.field(default_factory=list)
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: UsageMetadata | None = None
    model_version: str = ""
    response_id: str = ""
    error: Status | None = None  # an in-stream error event


class ErrorBody(msgspec.Struct):
    error: Status | str | None = None


class Embedding(msgspec.Struct):
    values: list[float] = msgspec.field(default_factory=list)


class BatchEmbedResponse(msgspec.Struct):
    embeddings: list[Embedding] = msgspec.field(default_factory=list)


# finishReason -> canonical finish_reason; anything not listed (OTHER, LANGUAGE,
# MALFORMED_FUNCTION_CALL, FINISH_REASON_UNSPECIFIED, future values) reads as "stop".
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
# canonical finish_reason -> finishReason (front door); anything else reads as STOP.
FINISH_OUT = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}

_SNAKE = re.compile(r"([A-Z])")


def get(obj: Any, camel: str) -> Any:
    """A request field by its proto-JSON camelCase name, or by its snake_case one."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(camel)
    return value if value is not None else obj.get(_SNAKE.sub(lambda m: "_" + m.group(1).lower(), camel))


def parts(content: Any) -> list[dict]:
    """A request Content's parts that are objects."""
    items = get(content, "parts")
    return [p for p in items if isinstance(p, dict)] if isinstance(items, list) else []


def finish_reason(reason: str | None, has_calls: bool) -> str:
    mapped = FINISH_REASONS.get(reason or "", "stop")
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def usage(w: UsageMetadata | None) -> Usage | None:
    """Gemini counts as canonical usage. ``promptTokenCount`` already includes cached
    tokens (as OpenAI's ``prompt_tokens`` does); thoughts are billed as output, and
    ``toolUsePromptTokenCount`` (built-in tools such as search) as input."""
    if w is None:
        return None
    thoughts = int(w.thoughts_token_count or 0)
    return Usage(
        prompt_tokens=int(w.prompt_token_count or 0) + int(w.tool_use_prompt_token_count or 0),
        completion_tokens=int(w.candidates_token_count or 0) + thoughts,
        cached_tokens=int(w.cached_content_token_count or 0),
        reasoning_tokens=thoughts,
    )


_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


def call_id_prefix(response_id: str, fallback: str) -> str:
    """``call_<tag>_`` where tag comes from Google's responseId (stable for one answer,
    whole or streamed) and is safe for every client protocol's tool-id pattern."""
    tag = _UNSAFE_ID.sub("", response_id)[:20] or fallback
    return f"call_{tag}_"
