"""The one token estimator: ceil(characters / 4) over a request's text, for when no count
is available. Used for the usage of a stream cut before the upstream reported it (billed,
and flagged ``usage_estimated`` on the event) and for the count_tokens answers of doors
whose upstream cannot count (Anthropic's ``count_tokens``, Gemini's ``countTokens``).

What counts as text depends on the protocol's shape; the rate is the same for all.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tollgate.providers.gemini.wire import get, parts

CHARS_PER_TOKEN = 4
_SKIP = frozenset({"model", "stream", "stream_options", "tool_choice", "response_format"})
_ENCODE = msgspec.json.encode


def tokens(chars: int) -> int:
    """Roughly 4 characters a token, rounded up."""
    return -(-chars // CHARS_PER_TOKEN)


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_chars(v) for k, v in value.items() if k not in _SKIP and k not in ("type", "role"))
    if isinstance(value, list):
        return sum(_chars(v) for v in value)
    return 0


def prompt_tokens(body: dict[str, Any]) -> int:
    """Any protocol's request: every string value (messages, system, tools) but the settings'."""
    return tokens(_chars(body))


# --- Anthropic Messages ---------------------------------------------------------------


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _anthropic_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_anthropic_chars(v) for v in value)
    if not isinstance(value, dict):
        return 0
    kind = value.get("type")
    if kind == "text":
        return _anthropic_chars(value.get("text"))
    if kind == "tool_use":
        return _anthropic_chars(value.get("name")) + len(_ENCODE(value.get("input") or {}))
    if kind == "tool_result":
        return _anthropic_chars(value.get("content"))
    return 0  # images, documents, thinking: not estimated


def anthropic_tokens(body: dict[str, Any]) -> int:
    """An ESTIMATE, for upstreams that cannot count: the text is the system prompt, text
    blocks, tool_use inputs, tool results and the tool definitions (as JSON). Images and
    documents are not counted."""
    messages = _list(body.get("messages"))
    chars = _anthropic_chars(body.get("system")) + sum(_anthropic_chars(m.get("content")) for m in messages if isinstance(m, dict))
    tools = _list(body.get("tools"))
    chars += sum(len(_ENCODE(t)) for t in tools if isinstance(t, dict))
    return tokens(chars)


# --- Gemini GenerateContentRequest ----------------------------------------------------


def gemini_tokens(body: dict[str, Any]) -> int:
    """The text is the system instruction, text parts, function call args and function
    results (a countTokens body may wrap the request in ``generateContentRequest``): an
    estimate (no tokenizer runs here), not Google's count."""
    inner = get(body, "generateContentRequest")
    body = inner if isinstance(inner, dict) else body
    system = get(body, "systemInstruction")
    chars = len(system) if isinstance(system, str) else sum(len(p["text"]) for p in parts(system) if isinstance(p.get("text"), str))
    for content in get(body, "contents") or ():
        for p in parts(content):
            chars += len(p["text"]) if isinstance(p.get("text"), str) else 0
            for key in ("functionCall", "functionResponse"):
                if isinstance(value := get(p, key), dict):
                    chars += len(_ENCODE(value.get("args") if key == "functionCall" else value.get("response")))
    return tokens(chars)
