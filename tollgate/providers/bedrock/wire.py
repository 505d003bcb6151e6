"""AWS Bedrock Converse wire structs: only what the edge reads, permissive about the rest.

Converse answers (``POST /model/{modelId}/converse``), ConverseStream events (the payloads
of ``application/vnd.amazon.eventstream`` frames, named by their ``:event-type`` header)
and error bodies. Every content block is one ``Block`` with one member set (``text``,
``toolUse``, ``reasoningContent``, ...): unknown members decode fine and are skipped.
"""

from __future__ import annotations

from typing import Any

import msgspec

Number = int | float | None


class TokenUsage(msgspec.Struct, rename="camel"):
    input_tokens: Number = None
    output_tokens: Number = None
    cache_read_input_tokens: Number = None
    cache_write_input_tokens: Number = None


class ToolUse(msgspec.Struct, rename="camel"):
    tool_use_id: str = ""
    name: str = ""
    input: Any = None


class ReasoningText(msgspec.Struct):
    text: str | None = None
    signature: str | None = None


class Reasoning(msgspec.Struct, rename="camel"):
    reasoning_text: ReasoningText | None = None


class Block(msgspec.Struct, rename="camel"):
    text: str | None = None
    tool_use: ToolUse | None = None
    reasoning_content: Reasoning | None = None


class Message(msgspec.Struct):
    role: str = "assistant"
    content: list[Block] = []


class Output(msgspec.Struct):
    message: Message | None = None


class Response(msgspec.Struct, rename="camel"):
    """A whole Converse answer."""

    output: Output | None = None
    stop_reason: str | None = None
    usage: TokenUsage | None = None


# --- ConverseStream event payloads ----------------------------------------------------------


class StartToolUse(msgspec.Struct, rename="camel"):
    tool_use_id: str = ""
    name: str = ""


class Start(msgspec.Struct, rename="camel"):
    tool_use: StartToolUse | None = None


class DeltaToolUse(msgspec.Struct):
    input: str | None = None  # a piece of the arguments' JSON


class DeltaReasoning(msgspec.Struct):
    text: str | None = None
    signature: str | None = None


class Delta(msgspec.Struct, rename="camel"):
    text: str | None = None
    tool_use: DeltaToolUse | None = None
    reasoning_content: DeltaReasoning | None = None


class StreamEvent(msgspec.Struct, rename="camel"):
    """Any ConverseStream event's payload: ``messageStart`` (role), ``contentBlockStart``
    (start, index), ``contentBlockDelta`` (delta, index), ``contentBlockStop`` (index),
    ``messageStop`` (stopReason), ``metadata`` (usage)."""

    role: str | None = None
    content_block_index: int | None = None
    start: Start | None = None
    delta: Delta | None = None
    stop_reason: str | None = None
    usage: TokenUsage | None = None


class ErrorBody(msgspec.Struct):
    """AWS's JSON error body (``{"message": ...}``, sometimes ``Message``)."""

    message: str | None = None
    Message: str | None = None


# Converse stop reasons -> canonical finish reasons.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def finish_reason(stop: str | None) -> str:
    return FINISH_REASONS.get(stop or "", "stop")


# AWS's exception names (the ``x-amzn-ErrorType`` header of an answer, the ``:exception-type``
# of an event-stream frame) -> the HTTP status AWS answers them with and what the edge makes
# of them. The edge fails over or answers by status (429: rate limited, honouring retry-after;
# 401/403: the channel's credentials failed; 400: the client's request, passed back; 5xx:
# the next channel); a mid-stream exception ends the stream as a break.
class ErrorKind(msgspec.Struct, frozen=True):
    status: int
    meaning: str


ERRORS: dict[str, ErrorKind] = {
    "ThrottlingException": ErrorKind(429, "rate limited"),
    "ServiceQuotaExceededException": ErrorKind(429, "rate limited"),
    "ModelNotReadyException": ErrorKind(503, "model not ready"),
    "ServiceUnavailableException": ErrorKind(503, "service unavailable"),
    "AccessDeniedException": ErrorKind(403, "auth failed"),
    "UnrecognizedClientException": ErrorKind(403, "auth failed"),
    "InvalidSignatureException": ErrorKind(403, "auth failed"),
    "ExpiredTokenException": ErrorKind(403, "auth failed"),
    "ValidationException": ErrorKind(400, "invalid request"),
    "ResourceNotFoundException": ErrorKind(404, "model not found"),
    "ModelTimeoutException": ErrorKind(408, "model timed out"),
    "ModelErrorException": ErrorKind(424, "model error"),
    "ModelStreamErrorException": ErrorKind(424, "model error"),
    "InternalServerException": ErrorKind(500, "internal error"),
}
EXCEPTION_BY_STATUS: dict[int, str] = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


def exception_name(raw: str) -> str:
    """``ThrottlingException:http://internal.amazon.com/...`` or ``throttlingException`` ->
    ``ThrottlingException`` (the header carries a suffix, stream frames a lower-case first letter)."""
    name = raw.split(":", 1)[0].strip()
    return name[:1].upper() + name[1:]
