"""OpenAI Responses API shapes, as msgspec Structs: the request the door reads (typed
decoding, unknown fields ignored) and the Response object and output items it answers with.

Only what Tollgate serves is modelled: function tools, message / function_call /
function_call_output / reasoning input items, text formats, reasoning settings. The
stream events are built in ``stream.py`` around these items.
"""

from __future__ import annotations

from typing import Any

import msgspec

# --- the request ----------------------------------------------------------------------------


class InputPart(msgspec.Struct):
    """A content part of an input message: ``input_text`` / ``output_text`` / ``refusal``
    (text), ``input_image`` (``image_url`` or ``file_id``), ``input_file``."""

    type: str
    text: str | None = None
    refusal: str | None = None
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None
    file_data: str | None = None
    filename: str | None = None
    file_url: str | None = None


class InputItem(msgspec.Struct):
    """One input item. A message may omit ``type`` (the "easy" form ``{role, content}``);
    ``function_call`` carries ``call_id``/``name``/``arguments``, ``function_call_output``
    ``call_id``/``output``."""

    type: str = "message"
    role: str | None = None
    content: str | list[InputPart] | None = None
    id: str | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | list[InputPart] | None = None


class Tool(msgspec.Struct):
    """A Responses tool; function tools are flat: ``{type, name, description, parameters, strict}``."""

    type: str
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolChoiceObject(msgspec.Struct):
    type: str
    name: str | None = None


class TextFormat(msgspec.Struct):
    type: str
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


class TextConfig(msgspec.Struct):
    format: TextFormat | None = None
    verbosity: str | None = None


class Reasoning(msgspec.Struct):
    effort: str | None = None
    summary: str | None = None
    generate_summary: str | None = None  # the older spelling of ``summary``


class Request(msgspec.Struct):
    model: str
    input: str | list[InputItem] | None = None
    instructions: str | None = None
    tools: list[Tool] | None = None
    tool_choice: str | ToolChoiceObject | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    text: TextConfig | None = None
    reasoning: Reasoning | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    stream: bool | None = None
    store: bool | None = None
    # What needs stored state, which Tollgate never keeps (refused when set):
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    background: bool | None = None
    prompt: dict[str, Any] | None = None


# --- the answer -------------------------------------------------------------------------------


class OutputText(msgspec.Struct):
    text: str = ""
    type: str = "output_text"
    annotations: list[Any] = []
    logprobs: list[Any] = []


class MessageItem(msgspec.Struct):
    id: str
    content: list[OutputText] = []
    type: str = "message"
    role: str = "assistant"
    status: str = "completed"


class FunctionCallItem(msgspec.Struct):
    id: str
    call_id: str
    name: str
    arguments: str = ""
    type: str = "function_call"
    status: str = "completed"


class SummaryText(msgspec.Struct):
    text: str = ""
    type: str = "summary_text"


class ReasoningItem(msgspec.Struct):
    id: str
    summary: list[SummaryText] = []
    type: str = "reasoning"
    status: str = "completed"


OutputItem = MessageItem | FunctionCallItem | ReasoningItem


class InputTokensDetails(msgspec.Struct):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(msgspec.Struct):
    reasoning_tokens: int = 0


class ResponseUsage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: InputTokensDetails = msgspec.field(default_factory=InputTokensDetails)
    output_tokens_details: OutputTokensDetails = msgspec.field(default_factory=OutputTokensDetails)


class ResponseError(msgspec.Struct):
    code: str
    message: str


class IncompleteDetails(msgspec.Struct):
    reason: str


class ResponseObject(msgspec.Struct):
    """The Response object. Tollgate keeps no state: nothing is stored (``store: false``),
    there is no previous response and no background mode. The fields that echo the request
    (tools, tool_choice, temperature, ...) hold the API's defaults, not the request's: the
    answer is rendered from the canonical answer alone."""

    id: str
    created_at: int
    model: str
    status: str
    output: list[OutputItem] = []
    usage: ResponseUsage | None = None
    object: str = "response"
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    completed_at: int | None = None
    instructions: str | None = None
    metadata: dict[str, str] = {}
    parallel_tool_calls: bool = True
    tool_choice: str = "auto"
    tools: list[Any] = []
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    previous_response_id: str | None = None
    store: bool = False
    background: bool = False
    truncation: str = "disabled"
    user: str | None = None
