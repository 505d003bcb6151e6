"""A Responses API request -> canonical request (``ChatRequest``).

Translated: ``input`` (a string, or items: messages with role user / system / developer /
assistant and input_text, output_text, refusal, input_image (by URL or data URL) and
input_file (inline data) parts; ``function_call`` items -> the assistant's tool calls;
``function_call_output`` items -> ``tool`` messages), ``instructions`` (a system message
first), function ``tools`` (flat), ``tool_choice``, ``parallel_tool_calls``,
``max_output_tokens`` (-> ``max_tokens``), ``temperature``, ``top_p``, ``text.format``
(text / json_object / json_schema -> ``response_format``), ``reasoning.effort`` (->
``reasoning_effort``), ``user`` (or ``safety_identifier``), ``stream`` (with usage).

Accepted and not forwarded: ``metadata`` (validated), ``reasoning.summary`` (the reasoning
the upstream returns is answered as a summary), ``text.verbosity``, ``store`` (nothing is
ever stored: answered with ``store: false``), ``strict`` on tools, ``include``,
``truncation``, ``service_tier``, ``prompt_cache_key``. ``reasoning`` input items (a
previous answer's reasoning, sent back) are skipped: no upstream can take them as input;
so are the non-text parts of a ``function_call_output``.

Refused with a 400 saying why: built-in tools (web_search, file_search, computer use, ...)
and custom tools; what needs stored state (``previous_response_id``, ``conversation``,
``background``, stored ``prompt`` templates, ``item_reference`` items, images and files by
``file_id``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from services.edge.frontends.responses import wire
from tollgate.canonical import ChatRequest, from_openai
from tollgate.errors import BadRequest

NO_STATE = "Tollgate stores no conversations or responses (no prompt or answer is ever persisted)"

# Fields whose use needs a response or prompt stored on the server: refused when set.
STATEFUL: dict[str, str] = {
    "previous_response_id": "send the whole conversation in 'input' instead",
    "conversation": "send the whole conversation in 'input' instead",
    "background": "call without background mode and keep the connection open (or stream)",
    "prompt": "send the prompt's text in 'instructions' and 'input' instead",
}
ROLES = frozenset({"user", "system", "developer", "assistant"})
EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
SUMMARIES = frozenset({"auto", "concise", "detailed"})
TOOL_CHOICES = frozenset({"auto", "none", "required"})
MAX_METADATA = 16


def decode(body: dict[str, Any]) -> wire.Request:
    """The body as typed: a shape it cannot take is a 400 (msgspec names the path, never a value)."""
    try:
        return msgspec.convert(body, wire.Request)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"Invalid request: {exc}", code="invalid_request") from None


def check_stateless(req: wire.Request) -> None:
    for name, instead in STATEFUL.items():
        value = getattr(req, name)
        if value is not None and value is not False:
            raise BadRequest(f"'{name}' is not supported: {NO_STATE}; {instead}.", code="unsupported_parameter")


# --- input items -> canonical messages -----------------------------------------------------------


def _text(part: wire.InputPart) -> str:
    return part.text if part.text is not None else part.refusal or ""


def _image(part: wire.InputPart) -> dict[str, Any]:
    if not part.image_url:
        raise BadRequest(
            f"input_image by file_id is not supported: {NO_STATE}; send the image as a URL or data URL.", code="unsupported_input"
        )
    image: dict[str, Any] = {"url": part.image_url}
    if part.detail:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def _file(part: wire.InputPart) -> dict[str, Any]:
    if not part.file_data:
        raise BadRequest(
            f"input_file by file_id or URL is not supported: {NO_STATE}; send the file inline (file_data).", code="unsupported_input"
        )
    return {"type": "file", "file": {"file_data": part.file_data, **({"filename": part.filename} if part.filename else {})}}


PART_READERS: dict[str, Callable[[wire.InputPart], dict[str, Any]]] = {
    "input_text": lambda p: {"type": "text", "text": _text(p)},
    "output_text": lambda p: {"type": "text", "text": _text(p)},
    "refusal": lambda p: {"type": "text", "text": _text(p)},
    "input_image": _image,
    "input_file": _file,
}


def _parts(content: str | list[wire.InputPart] | None) -> str | list[dict[str, Any]]:
    """Message content as canonical: a string, or parts (text parts alone become one string)."""
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for part in content:
        reader = PART_READERS.get(part.type)
        if reader is None:
            raise BadRequest(f"Content part type '{part.type}' is not supported.", code="unsupported_input")
        parts.append(reader(part))
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _message(item: wire.InputItem, out: list[dict[str, Any]]) -> None:
    role = item.role
    if role not in ROLES:
        raise BadRequest(f"A message's role must be one of {', '.join(sorted(ROLES))}.", code="invalid_role")
    content = _parts(item.content)
    if role == "assistant" and not isinstance(content, str):
        raise BadRequest("An assistant message may carry only text.", code="invalid_input")
    out.append({"role": role, "content": content})


def _function_call(item: wire.InputItem, out: list[dict[str, Any]]) -> None:
    """A call the model made: a tool call of the assistant turn it belongs to (calls made
    together, and the text before them, are one assistant message)."""
    if not item.call_id or not item.name:
        raise BadRequest("A function_call item needs 'call_id' and 'name'.", code="invalid_input")
    call = {"id": item.call_id, "type": "function", "function": {"name": item.name, "arguments": item.arguments or "{}"}}
    last = out[-1] if out else None
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
        last["content"] = last.get("content") or None
    else:
        out.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _function_output(item: wire.InputItem, out: list[dict[str, Any]]) -> None:
    if not item.call_id:
        raise BadRequest("A function_call_output item needs 'call_id'.", code="invalid_input")
    output = item.output
    text = output if isinstance(output, str) else "\n".join(_text(p) for p in output or () if p.type in ("input_text", "output_text"))
    out.append({"role": "tool", "tool_call_id": item.call_id, "content": text})


def _skip(item: wire.InputItem, out: list[dict[str, Any]]) -> None:
    return None


def _stored(item: wire.InputItem, out: list[dict[str, Any]]) -> None:
    raise BadRequest(f"item_reference input items are not supported: {NO_STATE}; send the item itself.", code="unsupported_input")


ITEM_READERS: dict[str, Callable[[wire.InputItem, list[dict[str, Any]]], None]] = {
    "message": _message,
    "function_call": _function_call,
    "function_call_output": _function_output,
    "reasoning": _skip,
    "item_reference": _stored,
}


def messages(req: wire.Request) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if req.instructions:
        out.append({"role": "system", "content": req.instructions})
    items = [wire.InputItem(role="user", content=req.input)] if isinstance(req.input, str) else req.input or []
    if not items:
        raise BadRequest("'input' must be a non-empty string or array of items.", code="invalid_input")
    for item in items:
        reader = ITEM_READERS.get(item.type)
        if reader is None:
            raise BadRequest(
                f"Input item type '{item.type}' is not supported: Tollgate serves messages and function calls.", code="unsupported_input"
            )
        reader(item, out)
    return out


# --- tools, formats, settings ------------------------------------------------------------------


def tools(req: wire.Request) -> list[dict[str, Any]]:
    out = []
    for tool in req.tools or ():
        if tool.type != "function":
            raise BadRequest(
                f"Tool type '{tool.type}' is not supported: Tollgate serves function tools only "
                "(built-in tools such as web_search run inside OpenAI's own service).",
                code="unsupported_tool",
            )
        if not tool.name:
            raise BadRequest("A function tool needs a 'name'.", code="invalid_tools")
        function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters or {"type": "object", "properties": {}}}
        if tool.description:
            function["description"] = tool.description
        out.append({"type": "function", "function": function})
    return out


def tool_choice(choice: str | wire.ToolChoiceObject) -> str | dict[str, Any]:
    if isinstance(choice, str):
        if choice not in TOOL_CHOICES:
            raise BadRequest(f"'tool_choice' must be one of {', '.join(sorted(TOOL_CHOICES))} or a function.", code="invalid_tool_choice")
        return choice
    if choice.type != "function" or not choice.name:
        raise BadRequest("'tool_choice' may name a function tool only ({type: function, name}).", code="invalid_tool_choice")
    return {"type": "function", "function": {"name": choice.name}}


def _json_schema(fmt: wire.TextFormat) -> dict[str, Any]:
    if not fmt.name or fmt.schema is None:
        raise BadRequest("text.format of type json_schema needs 'name' and 'schema'.", code="invalid_text_format")
    spec: dict[str, Any] = {"name": fmt.name, "schema": fmt.schema}
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": spec}


FORMATS: dict[str, Callable[[wire.TextFormat], dict[str, Any] | None]] = {
    "text": lambda fmt: None,
    "json_object": lambda fmt: {"type": "json_object"},
    "json_schema": _json_schema,
}


def response_format(text: wire.TextConfig | None) -> dict[str, Any] | None:
    if text is None or text.format is None:
        return None
    reader = FORMATS.get(text.format.type)
    if reader is None:
        raise BadRequest(f"text.format type must be one of {', '.join(FORMATS)}.", code="invalid_text_format")
    return reader(text.format)


def reasoning_effort(reasoning: wire.Reasoning | None) -> str | None:
    if reasoning is None:
        return None
    summary = reasoning.summary or reasoning.generate_summary
    if summary is not None and summary not in SUMMARIES:
        raise BadRequest(f"reasoning.summary must be one of {', '.join(sorted(SUMMARIES))}.", code="invalid_reasoning")
    if reasoning.effort is not None and reasoning.effort not in EFFORTS:
        raise BadRequest(f"reasoning.effort must be one of {', '.join(sorted(EFFORTS))}.", code="invalid_reasoning")
    return reasoning.effort


def check_metadata(metadata: dict[str, str] | None) -> None:
    if metadata is None:
        return
    if len(metadata) > MAX_METADATA or any(len(k) > 64 or len(v) > 512 for k, v in metadata.items()):
        raise BadRequest(
            f"'metadata' takes at most {MAX_METADATA} pairs, keys of at most 64 and values of at most 512 characters.",
            code="invalid_metadata",
        )


def to_canonical(req: wire.Request, model: str, *, stream: bool) -> ChatRequest:
    """The typed request as canonical; every refusal above is raised here, before any upstream is called."""
    check_stateless(req)
    check_metadata(req.metadata)
    out: dict[str, Any] = {"model": model, "messages": messages(req)}
    if declared := tools(req):
        out["tools"] = declared
        if req.tool_choice is not None:
            out["tool_choice"] = tool_choice(req.tool_choice)
        if req.parallel_tool_calls is not None:
            out["parallel_tool_calls"] = req.parallel_tool_calls
    elif req.tool_choice is not None:
        tool_choice(req.tool_choice)  # validated all the same
    if req.max_output_tokens is not None:
        out["max_tokens"] = req.max_output_tokens
    for name in ("temperature", "top_p"):
        if (value := getattr(req, name)) is not None:
            out[name] = value
    if (fmt := response_format(req.text)) is not None:
        out["response_format"] = fmt
    if effort := reasoning_effort(req.reasoning):
        out["reasoning_effort"] = effort
    if user := req.user or req.safety_identifier:
        out["user"] = user
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return from_openai(out)
