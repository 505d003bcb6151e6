"""OpenAI chat-completions wire structs: usage and choices (only counted, or read as canonical)."""

from __future__ import annotations

import msgspec

from tollgate.canonical import Choice, ChunkChoice


class PromptDetails(msgspec.Struct):
    cached_tokens: int | float | None = None


class CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | float | None = None


class WireUsage(msgspec.Struct):
    prompt_tokens: int | float | None = None
    completion_tokens: int | float | None = None
    prompt_tokens_details: PromptDetails | None = None
    completion_tokens_details: CompletionDetails | None = None
    prompt_cache_hit_tokens: int | float | None = None  # DeepSeek


class Completion(msgspec.Struct):
    usage: WireUsage | None = None


class Chunk(msgspec.Struct):
    usage: WireUsage | None = None
    choices: list[msgspec.Raw] | None = None


class FullCompletion(msgspec.Struct):
    """A whole answer read for translation (usage as the provider counts it)."""

    id: str | None = None
    created: int | None = None
    model: str | None = None
    choices: list[Choice] | None = None
    usage: WireUsage | None = None


class FullChunk(msgspec.Struct):
    """A streamed chunk read for translation."""

    id: str | None = None
    created: int | None = None
    model: str | None = None
    choices: list[ChunkChoice] | None = None
    usage: WireUsage | None = None


class Error(msgspec.Struct):
    message: str = ""


class ErrorBody(msgspec.Struct):
    error: Error | str | None = None


class EmbeddingsUsage(msgspec.Struct):
    prompt_tokens: int | float | None = None
    total_tokens: int | float | None = None


class EmbeddingsResponse(msgspec.Struct):
    data: list[msgspec.Raw]
    usage: EmbeddingsUsage | None = None


class RerankUsage(msgspec.Struct):
    total_tokens: int | float | None = None
    prompt_tokens: int | float | None = None


class RerankResponse(msgspec.Struct):
    results: list[msgspec.Raw]
    usage: RerankUsage | None = None


class ImagesUsage(msgspec.Struct):
    """gpt-image models count text and image tokens; DALL-E reports none."""

    input_tokens: int | float | None = None
    output_tokens: int | float | None = None


class ImagesResponse(msgspec.Struct):
    data: list[msgspec.Raw]
    usage: ImagesUsage | None = None


class ModerationsResponse(msgspec.Struct):
    results: list[msgspec.Raw]


class ReasoningText(msgspec.Struct):
    reasoning: str | None = None


class ReasoningChoice(msgspec.Struct):
    message: ReasoningText | None = None
    delta: ReasoningText | None = None


class ReasoningAlias(msgspec.Struct):
    """The ``reasoning`` field some providers use instead of ``reasoning_content`` (a profile's
    ``reasoning_field``), per choice of a whole answer or a chunk."""

    choices: list[ReasoningChoice] | None = None
