"""Anthropic Messages wire structs: only what the edge reads, permissive about the rest.

Every block kind shares one ``Block`` struct (unknown kinds such as ``redacted_thinking``
or ``document`` decode fine and are skipped by the translators), and unknown fields are
ignored, so a new Anthropic feature never turns into a decode error. Both the upstream
adapter (answers, stream events) and the front door (client requests) use these.
"""

from __future__ import annotations

from typing import Any

import msgspec

API_VERSION = "2023-06-01"

Number = int | float | None


class Usage(msgspec.Struct):
    input_tokens: Number = None
    output_tokens: Number = None
    cache_read_input_tokens: Number = None
    cache_creation_input_tokens: Number = None


class Source(msgspec.Struct):
    type: str = ""
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


class Block(msgspec.Struct):
    type: str = ""
    text: str | None = None  # text
    id: str | None = None  # tool_use
    name: str | None = None
    input: Any = None
    tool_use_id: str | None = None  # tool_result
    content: Any = None  # tool_result: a string or a list of blocks
    is_error: bool | None = None
    source: Source | None = None  # image
    thinking: str | None = None  # thinking
    signature: str | None = None  # thinking (opaque; Anthropic checks it when the block is sent back)


class Message(msgspec.Struct):
    """A whole answer (``POST /v1/messages``), also carried by ``message_start``."""

    id: str = ""
    model: str = ""
    content: list[Block] = msgspec.field(default_factory=list)
    stop_reason: str | None = None
    usage: Usage | None = None


class Delta(msgspec.Struct):
    type: str | None = None
    text: str | None = None  # text_delta
    partial_json: str | None = None  # input_json_delta
    thinking: str | None = None  # thinking_delta
    stop_reason: str | None = None  # message_delta


class ErrorDetail(msgspec.Struct):
    type: str = ""
    message: str = ""


class StreamEvent(msgspec.Struct):
    """Any streamed event; ``type`` says which of the optional fields are set."""

    type: str = ""
    message: Message | None = None  # message_start
    index: int | None = None  # content_block_*
    content_block: Block | None = None  # content_block_start
    delta: Delta | None = None  # content_block_delta, message_delta
    usage: Usage | None = None  # message_delta
    error: ErrorDetail | None = None  # error


class ErrorBody(msgspec.Struct):
    error: ErrorDetail | str | None = None


# --- client requests (the front door) ---------------------------------------------


class MessageParam(msgspec.Struct):
    role: str
    content: str | list[Block]


class Tool(msgspec.Struct):
    name: str = ""
    description: str | None = None
    input_schema: Any = None
    type: str | None = None  # None/"custom" for client tools; server tools carry a versioned type


class ToolChoice(msgspec.Struct):
    type: str = "auto"
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class Thinking(msgspec.Struct):
    type: str = "disabled"  # "enabled" (with budget_tokens) | "adaptive" | "disabled"
    budget_tokens: int | None = None


class Metadata(msgspec.Struct):
    user_id: str | None = None


class Request(msgspec.Struct):
    model: str
    messages: list[MessageParam]
    max_tokens: int
    system: str | list[Block] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    stream: bool | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    metadata: Metadata | None = None
    thinking: Thinking | None = None


# --- stop reasons ------------------------------------------------------------------

# Anthropic stop_reason -> canonical finish_reason; anything else reads as "stop".
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# canonical finish_reason -> Anthropic stop_reason; anything else reads as "end_turn".
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def finish_reason(stop_reason: str | None) -> str:
    return FINISH_REASONS.get(stop_reason or "", "stop")


def stop_reason(finish: str | None, has_tool_use: bool = False) -> str:
    """Some upstreams answer a tool call with finish_reason "stop": a tool_use block wins."""
    reason = STOP_REASONS.get(finish or "", "end_turn")
    return "tool_use" if has_tool_use and reason == "end_turn" else reason
