"""The canonical request and response: what crosses the Frontend and Adapter seams.

The edge's lingua franca is OpenAI's chat-completions shape, held as msgspec Structs: a
front door translates its client's request into a ``ChatRequest``, an upstream adapter
translates that into its own wire format and its answers back into a ``ChatResponse`` (or,
streamed, ``ChatChunk``s); the door renders those in its own shape. A same-protocol
request never comes here: its bytes pass through untouched.

Optional fields default to ``UNSET`` (falsy, never encoded), so a value converted from an
OpenAI JSON object encodes back to the same object: a key that was absent stays absent,
an explicit ``null`` stays ``null``. ``from_openai`` / ``to_openai`` are the one
conversion each way; a malformed request is a ``BadRequest`` (a 400), never a 500.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from tollgate.errors import BadRequest

__all__ = [
    "MAX_TOKENS",
    "UNSET",
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "ChunkChoice",
    "ContentPart",
    "Delta",
    "FileData",
    "FunctionCall",
    "FunctionDef",
    "ImageURL",
    "InputAudio",
    "JSONSchemaSpec",
    "Message",
    "NamedFunction",
    "ResponseFormat",
    "StreamOptions",
    "Tool",
    "ToolCall",
    "ToolChoice",
    "ToolChoiceFunction",
    "UnsetType",
    "Usage",
    "from_openai",
    "to_openai",
]

# Most tokens one request can be billed for: far above any model's context, far below what
# would overflow a cost in micro-USD (or the usage table's columns).
MAX_TOKENS = 10**12


class Usage(msgspec.Struct, frozen=True):
    """Token counts; ``prompt_tokens`` include the cached ones (read from and written to a
    provider's prompt cache), ``completion_tokens`` the reasoning ones."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0  # Anthropic's cache_creation_input_tokens

    def bounded(self) -> Usage:
        """The counts clamped into [0, MAX_TOKENS]: a provider's absurd count (negative, or
        beyond any context) is still metered and billed, never refused by the usage
        consumers as out of range."""
        counts = (self.prompt_tokens, self.completion_tokens, self.cached_tokens, self.reasoning_tokens, self.cache_write_tokens)
        if all(0 <= c <= MAX_TOKENS for c in counts):
            return self
        return Usage(*(min(max(c, 0), MAX_TOKENS) for c in counts))

    def to_openai(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }


# --- content parts ----------------------------------------------------------------------


class ImageURL(msgspec.Struct):
    url: str
    detail: str | UnsetType | None = UNSET


class InputAudio(msgspec.Struct):
    data: str | UnsetType | None = UNSET
    format: str | UnsetType | None = UNSET


class FileData(msgspec.Struct):
    file_data: str | UnsetType | None = UNSET
    file_id: str | UnsetType | None = UNSET
    filename: str | UnsetType | None = UNSET


class ContentPart(msgspec.Struct):
    """One part of a message's content: ``text``, ``image_url``, ``input_audio`` or ``file``
    (a part of another type is kept, with its type only, and skipped by the translations)."""

    type: str
    text: str | UnsetType | None = UNSET
    image_url: ImageURL | str | UnsetType | None = UNSET
    input_audio: InputAudio | UnsetType | None = UNSET
    file: FileData | UnsetType | None = UNSET


# --- tools and tool calls -----------------------------------------------------------------


class FunctionCall(msgspec.Struct):
    """A tool call's function; streamed, each piece may carry only part of the arguments."""

    name: str | UnsetType | None = UNSET
    arguments: str | dict[str, Any] | UnsetType | None = UNSET  # a JSON string (an object tolerated)


class ToolCall(msgspec.Struct):
    """An assistant's tool call (``index`` only in stream deltas)."""

    index: int | UnsetType = UNSET
    id: str | UnsetType | None = UNSET
    type: str | UnsetType | None = UNSET
    function: FunctionCall | UnsetType | None = UNSET


class FunctionDef(msgspec.Struct):
    name: str | UnsetType | None = UNSET
    description: str | UnsetType | None = UNSET
    parameters: dict[str, Any] | UnsetType | None = UNSET  # JSON Schema


class Tool(msgspec.Struct):
    type: str | UnsetType | None = UNSET  # "function" (the default when absent)
    function: FunctionDef | UnsetType | None = UNSET


class NamedFunction(msgspec.Struct):
    name: str | UnsetType | None = UNSET


class ToolChoiceFunction(msgspec.Struct):
    type: str | UnsetType | None = UNSET
    function: NamedFunction | UnsetType | None = UNSET


ToolChoice = str | ToolChoiceFunction  # "auto" | "required" | "none" | a named function


# --- messages and the request ----------------------------------------------------------------


class Message(msgspec.Struct):
    """A conversation turn (system, developer, user, assistant, tool), or an answer's message.
    ``reasoning_content`` is a reasoning model's visible thinking (DeepSeek's field)."""

    role: str
    content: str | list[ContentPart] | UnsetType | None = UNSET
    name: str | UnsetType | None = UNSET
    tool_calls: list[ToolCall] | UnsetType | None = UNSET
    tool_call_id: str | UnsetType | None = UNSET
    reasoning_content: str | UnsetType | None = UNSET


class JSONSchemaSpec(msgspec.Struct):
    name: str | UnsetType | None = UNSET
    schema: dict[str, Any] | UnsetType | None = UNSET
    strict: bool | UnsetType | None = UNSET


class ResponseFormat(msgspec.Struct):
    type: str
    json_schema: JSONSchemaSpec | UnsetType | None = UNSET


class StreamOptions(msgspec.Struct):
    include_usage: bool | UnsetType | None = UNSET


class ChatRequest(msgspec.Struct):
    """A chat-completions request: what every translation reads (unknown fields are not carried:
    a same-protocol request passes through as bytes, and no translation forwards them).
    ``reasoning_effort`` is the reasoning control; ``reasoning_budget`` (a Tollgate field, never
    sent to an OpenAI upstream) the thinking budget in tokens when the client named one (0 off,
    -1 dynamic): ``tollgate.reasoning`` maps each to the other."""

    model: str | UnsetType = UNSET
    messages: list[Message] = []
    max_tokens: int | UnsetType | None = UNSET
    max_completion_tokens: int | UnsetType | None = UNSET
    stop: str | list[str] | UnsetType | None = UNSET
    temperature: float | UnsetType | None = UNSET
    top_p: float | UnsetType | None = UNSET
    n: int | UnsetType | None = UNSET
    seed: int | UnsetType | None = UNSET
    presence_penalty: float | UnsetType | None = UNSET
    frequency_penalty: float | UnsetType | None = UNSET
    tools: list[Tool] | UnsetType | None = UNSET
    tool_choice: ToolChoice | UnsetType | None = UNSET
    parallel_tool_calls: bool | UnsetType | None = UNSET
    response_format: ResponseFormat | UnsetType | None = UNSET
    reasoning_effort: str | UnsetType | None = UNSET
    reasoning_budget: int | UnsetType | None = UNSET
    user: str | UnsetType | None = UNSET
    stream: bool | UnsetType | None = UNSET
    stream_options: StreamOptions | UnsetType | None = UNSET


# --- answers ---------------------------------------------------------------------------------


class Choice(msgspec.Struct):
    index: int = 0
    message: Message = msgspec.field(default_factory=lambda: Message(role="assistant"))
    finish_reason: str | None = None


class ChatResponse(msgspec.Struct):
    """A whole ``chat.completion``; ``usage`` is None when the upstream reported none."""

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = []
    usage: Usage | None = None


class Delta(msgspec.Struct):
    role: str | UnsetType | None = UNSET
    content: str | UnsetType | None = UNSET
    tool_calls: list[ToolCall] | UnsetType | None = UNSET
    reasoning_content: str | UnsetType | None = UNSET


class ChunkChoice(msgspec.Struct):
    index: int = 0
    delta: Delta = msgspec.field(default_factory=Delta)
    finish_reason: str | None = None


class ChatChunk(msgspec.Struct):
    """One ``chat.completion.chunk``; the last one may carry only ``usage`` (no choices)."""

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = []
    usage: Usage | None = None


# --- the one conversion each way ---------------------------------------------------------------

T = TypeVar("T", bound=msgspec.Struct)


# mypy cannot check a default for a TypeVar-typed parameter (T is ChatRequest when omitted)
def from_openai(body: dict[str, Any], kind: type[T] = ChatRequest) -> T:  # type: ignore[assignment]
    """An OpenAI-shaped JSON object as its Struct (a ``ChatResponse``'s or ``ChatChunk``'s usage
    read from OpenAI's shape); a shape it cannot take is a 400."""
    try:
        if kind in (ChatResponse, ChatChunk) and isinstance(body.get("usage"), dict):
            usage = _usage_from_openai(body["usage"])
            return msgspec.structs.replace(msgspec.convert({**body, "usage": None}, kind), usage=usage)
        return msgspec.convert(body, kind)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"Invalid request: {exc}", code="invalid_request") from None


class _PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class _OpenAIUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None


def _usage_from_openai(raw: dict[str, Any]) -> Usage:
    w = msgspec.convert(raw, _OpenAIUsage)
    cached = w.prompt_tokens_details.cached_tokens if w.prompt_tokens_details else None
    reasoning = w.completion_tokens_details.reasoning_tokens if w.completion_tokens_details else None
    return Usage(w.prompt_tokens or 0, w.completion_tokens or 0, cached or 0, reasoning or 0)


def to_openai(value: ChatRequest | ChatResponse | ChatChunk | msgspec.Struct) -> dict[str, Any]:
    """A Struct as its OpenAI JSON object (usage in OpenAI's shape, absent when there is none)."""
    out: dict[str, Any] = msgspec.to_builtins(value)
    if isinstance(value, ChatResponse | ChatChunk):
        if value.usage is None:
            del out["usage"]
        else:
            out["usage"] = value.usage.to_openai()
    return out
