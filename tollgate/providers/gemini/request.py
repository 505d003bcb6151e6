"""Canonical request (``ChatRequest``) -> Gemini GenerateContentRequest.

Translated: system/developer messages (systemInstruction), user/assistant/tool turns
(merged when consecutive roles repeat, as Gemini wants strictly alternating turns),
text, images (data: URLs inline, http(s) URLs as fileData), input_audio and data-URL
files, assistant tool_calls (functionCall parts) and tool results (functionResponse
parts named after the call they answer), tools, tool_choice, the sampling options and
reasoning (``thinkingConfig``: the budget from ``tollgate.reasoning``, thoughts included).
Knowingly dropped: logit_bias, logprobs, user, metadata, parallel tool-call control,
audio/modalities output, ``name`` on messages, and earlier turns' reasoning text (Gemini
does not take thoughts back; its function calls carry the signature sentinel).
"""

from __future__ import annotations

import base64
import mimetypes
from typing import Any
from urllib.parse import unquote, urlsplit

from msgspec import UnsetType

from tollgate import reasoning
from tollgate.canonical import (
    ChatRequest,
    ContentPart,
    FileData,
    FunctionCall,
    FunctionDef,
    ImageURL,
    InputAudio,
    JSONSchemaSpec,
    Message,
    NamedFunction,
    ResponseFormat,
    Tool,
    ToolChoice,
    ToolChoiceFunction,
)
from tollgate.providers.base import tool_arguments

# Google's documented sentinel for replayed function calls whose real thoughtSignature
# is unknown (canonical tool calls cannot carry it). Gemini 3 rejects a replayed
# functionCall without a signature; older models ignore the field.
SKIP_SIGNATURE = "skip_thought_signature_validator"

# The subset of JSON Schema (OpenAPI 3 Schema) that Gemini's ``parameters`` /
# ``responseSchema`` accept; anything else (additionalProperties, $schema, $id,
# examples, patternProperties, …) is rejected upstream, so it is dropped here.
_SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "items",
        "properties",
        "required",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "anyOf",
        "propertyOrdering",
        "default",
        "example",
    }
)
_FORMATS = {"string": {"enum", "date-time"}, "integer": {"int32", "int64"}, "number": {"float", "double"}}
_MAX_REF_DEPTH = 16


def to_gemini(request: ChatRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    system: list[str] = []
    contents: list[dict] = []
    names: dict[str, str] = {}  # tool_call id -> function name, for the tool results
    for message in request.messages:
        role = message.role
        if role in ("system", "developer"):
            if text := _text(message.content):
                system.append(text)
        elif role == "user":
            _append(contents, "user", _user_parts(message.content))
        elif role == "assistant":
            _append(contents, "model", _assistant_parts(message, names))
        elif role in ("tool", "function"):
            name = names.get(message.tool_call_id or "") or message.name or ""
            response = {"result": _text(message.content)}
            _append(contents, "user", [{"functionResponse": {"name": name, "response": response}}])
    if system:
        out["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    out["contents"] = contents
    if tools := _tools(request.tools):
        out["tools"] = tools
        if (config := _tool_config(request.tool_choice)) is not None:
            out["toolConfig"] = config
    if generation := _generation_config(request):
        out["generationConfig"] = generation
    return out


def _append(contents: list[dict], role: str, parts: list[dict]) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _text(content: str | list[ContentPart] | UnsetType | None) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.text for p in content if isinstance(p.text, str))
    return ""


def _user_parts(content: str | list[ContentPart] | UnsetType | None) -> list[dict]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict] = []
    for p in content if isinstance(content, list) else ():
        kind = p.type
        if kind == "text" and isinstance(p.text, str) and p.text:
            parts.append({"text": p.text})
        elif kind == "image_url":
            url = p.image_url.url if isinstance(p.image_url, ImageURL) else p.image_url
            if isinstance(url, str) and (part := media_part(url)):
                parts.append(part)
        elif kind == "input_audio" and isinstance(p.input_audio, InputAudio):
            audio = p.input_audio
            parts.append({"inlineData": {"mimeType": f"audio/{audio.format or 'wav'}", "data": audio.data or ""}})
        elif (
            kind == "file" and isinstance(p.file, FileData) and isinstance(p.file.file_data, str) and (part := media_part(p.file.file_data))
        ):
            parts.append(part)
    return parts


def media_part(url: str) -> dict[str, Any] | None:
    """A data: URL as inlineData, an http(s) URL as fileData (MIME type guessed)."""
    if url.startswith("data:"):
        header, sep, payload = url[5:].partition(",")
        if not sep:
            return None
        mime, *params = header.split(";")
        data = payload if "base64" in params else base64.b64encode(unquote(payload).encode()).decode()
        return {"inlineData": {"mimeType": mime or "application/octet-stream", "data": data}}
    if url.startswith(("http://", "https://", "gs://")):
        mime = mimetypes.guess_type(urlsplit(url).path)[0] or "image/jpeg"
        return {"fileData": {"fileUri": url, "mimeType": mime}}
    return None


def _assistant_parts(message: Message, names: dict[str, str]) -> list[dict]:
    parts: list[dict] = []
    if text := _text(message.content):
        parts.append({"text": text})
    for i, call in enumerate(message.tool_calls or ()):
        fn = call.function
        if not isinstance(fn, FunctionCall):
            continue
        name = fn.name or ""
        names[call.id or ""] = name
        part: dict[str, Any] = {"functionCall": {"name": name, "args": tool_arguments(fn.arguments)}}
        if i == 0:  # Google: only the first of parallel calls carries the signature
            part["thoughtSignature"] = SKIP_SIGNATURE
        parts.append(part)
    return parts


def _tools(tools: list[Tool] | UnsetType | None) -> list[dict]:
    declarations = []
    for tool in tools or ():
        fn = tool.function if (tool.type or "function") == "function" else None
        if not isinstance(fn, FunctionDef) or not fn.name:
            continue
        declaration: dict[str, Any] = {"name": fn.name}
        if fn.description:
            declaration["description"] = fn.description
        parameters = clean_schema(fn.parameters)
        if parameters and (parameters.get("properties") or parameters.get("type") not in ("object", None)):
            declaration["parameters"] = parameters  # Gemini rejects an OBJECT without properties
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}] if declarations else []


def _tool_config(choice: ToolChoice | UnsetType | None) -> dict[str, Any] | None:
    if isinstance(choice, ToolChoiceFunction):
        name = choice.function.name if isinstance(choice.function, NamedFunction) else None
        if not name:
            return None
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    mode = {"auto": "AUTO", "required": "ANY", "none": "NONE"}.get(choice) if isinstance(choice, str) else None
    return {"functionCallingConfig": {"mode": mode}} if mode else None


def _generation_config(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = request.max_completion_tokens or request.max_tokens
    if isinstance(max_tokens, int):
        config["maxOutputTokens"] = max_tokens
    sampling = (
        ("temperature", request.temperature),
        ("topP", request.top_p),
        ("seed", request.seed),
        ("presencePenalty", request.presence_penalty),
        ("frequencyPenalty", request.frequency_penalty),
    )
    for dst, value in sampling:
        if isinstance(value, int | float):
            config[dst] = value
    stop = request.stop
    if isinstance(stop, str) and stop:
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and (stops := [s for s in stop if s]):
        config["stopSequences"] = stops
    if isinstance(request.n, int) and request.n > 1:
        config["candidateCount"] = request.n
    fmt = request.response_format
    if isinstance(fmt, ResponseFormat) and fmt.type in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        spec = fmt.json_schema
        if fmt.type == "json_schema" and isinstance(spec, JSONSchemaSpec) and (schema := clean_schema(spec.schema)):
            config["responseSchema"] = schema
    if (ask := reasoning.requested(request.reasoning_effort, request.reasoning_budget)) is not None:
        # A budget of 0 turns thinking off (models that cannot stop thinking refuse it, as they
        # would from a Gemini client); otherwise the thoughts come back, as reasoning text.
        config["thinkingConfig"] = {"thinkingBudget": ask.budget, "includeThoughts": True} if ask.on else {"thinkingBudget": 0}
    return config


def clean_schema(schema: Any) -> dict[str, Any] | None:
    """A JSON Schema reduced to what Gemini accepts: local ``$ref``s inlined, ``oneOf``
    read as ``anyOf``, ``["x", "null"]`` types as ``nullable``, ``const`` as a one-value
    enum, unsupported keywords and formats dropped, ``required`` limited to known properties."""
    if not isinstance(schema, dict):
        return None
    defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    return _clean(schema, defs, 0)


def _clean(node: dict[str, Any], defs: dict[str, Any], depth: int) -> dict[str, Any]:
    while True:  # inline local $refs and a lone allOf; recursive schemas stop at a depth limit
        if depth > _MAX_REF_DEPTH:
            return {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = defs.get(ref.rsplit("/", 1)[-1])
            if not isinstance(target, dict):
                return {}
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        elif isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1 and isinstance(node["allOf"][0], dict):
            node = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
        else:
            break
        depth += 1
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            if len(kinds) < len(value):
                out["nullable"] = True
            if len(kinds) == 1:
                out["type"] = kinds[0]
            elif kinds:
                out["anyOf"] = [{"type": t} for t in kinds]
        elif key == "const" and isinstance(value, str):
            out["enum"] = [value]
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            variants = [v for v in value if isinstance(v, dict)]
            if any(v.get("type") == "null" for v in variants):
                out["nullable"] = True
            out["anyOf"] = [_clean(v, defs, depth + 1) for v in variants if v.get("type") != "null"]
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {name: _clean(sub, defs, depth + 1) for name, sub in value.items() if isinstance(sub, dict)}
        elif key == "items" and isinstance(value, dict):
            out["items"] = _clean(value, defs, depth + 1)
        elif key == "enum" and isinstance(value, list):
            if all(isinstance(v, str) for v in value):
                out["enum"] = value
        elif key in _SCHEMA_KEYS:
            out[key] = value
    if len(out.get("anyOf") or ()) == 1 and "type" not in out:
        out.update(out.pop("anyOf")[0])
    elif "anyOf" in out and not out["anyOf"]:
        del out["anyOf"]
    kind: Any = out.get("type")  # a schema's own value: an unhashable one fails the translation (a 400), as before
    if "format" in out and out["format"] not in _FORMATS.get(kind, ()):
        del out["format"]
    if isinstance(out.get("required"), list):
        known = out.get("properties") or {}
        out["required"] = [r for r in out["required"] if r in known]
        if not out["required"]:
            del out["required"]
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out
