"""A Gemini client's GenerateContentRequest -> canonical request (``ChatRequest``),
for the Gemini front door when the upstream speaks another protocol.

Client bodies are read as dicts because Google accepts camelCase and snake_case field
names alike (the SDK itself sends ``inlineData.mime_type``); ``get`` reads either.
Translated: systemInstruction, contents (text, image inlineData/fileData, functionCall,
functionResponse), tools.functionDeclarations (``parameters`` or ``parametersJsonSchema``),
toolConfig and generationConfig (maxOutputTokens, temperature, topP, stopSequences,
candidateCount, seed, penalties, JSON response mime type and schema, and thinkingConfig:
thinkingBudget, thinkingLevel, includeThoughts, as ``tollgate.reasoning`` reads them).
Knowingly dropped: thought parts and thought signatures of earlier turns, non-image media
(a 400, rather than a silently different prompt), built-in tools (googleSearch,
codeExecution, …), safetySettings, cachedContent, topK, responseLogprobs and response
modalities.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tollgate import reasoning
from tollgate.canonical import ChatRequest, from_openai
from tollgate.errors import BadRequest
from tollgate.providers.gemini.wire import get, parts

_ENCODE = msgspec.json.encode


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- Gemini request -> canonical ------------------------------------------------------


def to_canonical_request(body: dict[str, Any], model: str, stream: bool) -> ChatRequest:
    messages: list[dict] = []
    system = get(body, "systemInstruction")
    system_text = system if isinstance(system, str) else "".join(p["text"] for p in parts(system) if isinstance(p.get("text"), str))
    if system_text:
        messages.append({"role": "system", "content": system_text})
    calls = _Calls()
    for content in get(body, "contents") or ():
        if get(content, "role") == "model":
            messages.extend(_assistant(parts(content), calls))
        else:  # "user" (or the legacy "function" role)
            messages.extend(_user(parts(content), calls))
    out: dict[str, Any] = {"model": model, "messages": messages}
    if tools := _tools(get(body, "tools")):
        out["tools"] = tools
        if (choice := _tool_choice(get(get(body, "toolConfig"), "functionCallingConfig"))) is not None:
            out["tool_choice"] = choice
    out.update(_generation(get(body, "generationConfig")))
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return from_openai(out)


class _Calls:
    """Tool-call ids for a Gemini conversation, which pairs calls and results by name.

    Each functionCall gets ``call_<n>`` (or its own ``id`` when it has one); each
    functionResponse answers the *oldest unanswered* call of that name (so parallel calls
    to one function pair in order), else the most recent call of that name."""

    def __init__(self) -> None:
        self.n = 0
        self.pending: dict[str, list[str]] = {}
        self.last: dict[str, str] = {}

    def call(self, name: str, given: Any) -> str:
        ident = given if isinstance(given, str) and given else f"call_{self.n}"
        self.n += 1
        self.pending.setdefault(name, []).append(ident)
        self.last[name] = ident
        return ident

    def answer(self, name: str, given: Any) -> str:
        queue = self.pending.get(name) or []
        if isinstance(given, str) and given:
            if given in queue:
                queue.remove(given)
            return given
        if queue:
            return queue.pop(0)
        return self.last.get(name) or self.call(name, None)


def _assistant(parts: list[dict], calls: _Calls) -> list[dict]:
    text = "".join(p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought"))
    tool_calls = []
    for p in parts:
        if isinstance(fc := get(p, "functionCall"), dict):
            name = str(fc.get("name") or "")
            arguments = _ENCODE(fc.get("args") or {}).decode()
            tool_calls.append(
                {"id": calls.call(name, fc.get("id")), "type": "function", "function": {"name": name, "arguments": arguments}}
            )
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return [message] if text or tool_calls else []


def _user(parts: list[dict], calls: _Calls) -> list[dict]:
    """Tool results first (they must follow the assistant's tool_calls), then the rest."""
    results, content = [], []
    for p in parts:
        if isinstance(fr := get(p, "functionResponse"), dict):
            name = str(fr.get("name") or "")
            results.append(
                {"role": "tool", "tool_call_id": calls.answer(name, fr.get("id")), "content": tool_result_text(fr.get("response"))}
            )
        elif isinstance(p.get("text"), str) and not p.get("thought"):
            if p["text"]:
                content.append({"type": "text", "text": p["text"]})
        elif (image := _image_url(p)) is not None:
            content.append({"type": "image_url", "image_url": {"url": image}})
        elif get(p, "inlineData") is not None or get(p, "fileData") is not None:
            raise BadRequest("Only image media (inlineData/fileData with an image/* mimeType) can be sent to this model.")
    if not content:
        return results
    if all(c["type"] == "text" for c in content):
        return [*results, {"role": "user", "content": "".join(c["text"] for c in content)}]
    return [*results, {"role": "user", "content": content}]


def tool_result_text(response: Any) -> str:
    """The one rule for a functionResponse's ``response`` as tool message content:
    ``{"result": "<text>"}`` (exactly that key, a string value) gives the text itself;
    anything else is sent as its JSON encoding."""
    if isinstance(response, dict) and set(response) == {"result"} and isinstance(response["result"], str):
        return response["result"]
    return _ENCODE(response if response is not None else {}).decode()


def _image_url(part: dict[str, Any]) -> str | None:
    if isinstance(inline := get(part, "inlineData"), dict):
        mime = get(inline, "mimeType") or ""
        return f"data:{mime};base64,{inline.get('data') or ''}" if mime.startswith("image/") else None
    if isinstance(file := get(part, "fileData"), dict):
        mime, uri = get(file, "mimeType") or "", get(file, "fileUri") or ""
        return uri if uri and (mime.startswith("image/") or not mime) else None
    return None


def _tools(tools: Any) -> list[dict]:
    out = []
    for tool in tools if isinstance(tools, list) else ():
        for d in get(tool, "functionDeclarations") or ():
            if not isinstance(d, dict) or not d.get("name"):
                continue
            fn: dict[str, Any] = {"name": d["name"]}
            if d.get("description"):
                fn["description"] = d["description"]
            schema = get(d, "parametersJsonSchema")
            schema = schema if isinstance(schema, dict) else to_json_schema(get(d, "parameters"))
            fn["parameters"] = schema or {"type": "object", "properties": {}}
            out.append({"type": "function", "function": fn})
    return out


def to_json_schema(schema: Any) -> Any:
    """A Gemini (OpenAPI-style) Schema as JSON Schema: enum types lower-cased
    (``OBJECT`` -> ``object``), ``nullable`` folded into the type."""
    if isinstance(schema, list):
        return [to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out["type"] = value.lower()
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {k: to_json_schema(v) for k, v in value.items()}
        elif key in ("items", "anyOf", "any_of"):
            out["anyOf" if key == "any_of" else key] = to_json_schema(value)
        elif key not in ("nullable", "propertyOrdering", "property_ordering"):
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _tool_choice(config: Any) -> Any:
    mode = str(get(config, "mode") or "").upper()
    allowed = get(config, "allowedFunctionNames")
    if mode == "ANY" and isinstance(allowed, list) and len(allowed) == 1:
        return {"type": "function", "function": {"name": allowed[0]}}
    return {"AUTO": "auto", "VALIDATED": "auto", "ANY": "required", "NONE": "none"}.get(mode)


def _generation(config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        return {}
    out: dict[str, Any] = {}
    for src, dst in (
        ("maxOutputTokens", "max_tokens"),
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("seed", "seed"),
        ("presencePenalty", "presence_penalty"),
        ("frequencyPenalty", "frequency_penalty"),
    ):
        if _number(value := get(config, src)):
            out[dst] = value
    if isinstance(stops := get(config, "stopSequences"), list) and stops:
        out["stop"] = stops
    if isinstance(n := get(config, "candidateCount"), int) and n > 1:
        out["n"] = n
    out.update(thinking_fields(get(config, "thinkingConfig")))
    if get(config, "responseMimeType") == "application/json":
        schema = get(config, "responseJsonSchema")
        schema = schema if isinstance(schema, dict) else to_json_schema(get(config, "responseSchema"))
        out["response_format"] = (
            {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
            if isinstance(schema, dict)
            else {"type": "json_object"}
        )
    return out


def thinking_fields(config: Any) -> dict[str, Any]:
    """thinkingConfig as the canonical reasoning fields: ``thinkingLevel`` is an effort by
    name, ``thinkingBudget`` a budget (0 off, -1 dynamic) and the effort the table reads it
    as; ``includeThoughts`` alone asks for the model's default (dynamic) thinking."""
    if not isinstance(config, dict):
        return {}
    out: dict[str, Any] = {}
    level, budget = get(config, "thinkingLevel"), get(config, "thinkingBudget")
    if isinstance(level, str) and level.upper() != "THINKING_LEVEL_UNSPECIFIED":
        out["reasoning_effort"] = reasoning.check_effort(level)
    if budget is not None:
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < reasoning.DYNAMIC:
            raise BadRequest("generationConfig.thinkingConfig.thinkingBudget: must be an integer, -1 (dynamic) or more.")
        out["reasoning_budget"] = budget
        out.setdefault("reasoning_effort", reasoning.effort_for(budget))
    if not out and get(config, "includeThoughts") is True:
        out = {"reasoning_effort": reasoning.DYNAMIC_EFFORT, "reasoning_budget": reasoning.DYNAMIC}
    return out
