"""The one token estimator: ceil(characters / 4) over a request's text, for when no count is
available. Every estimate goes through it, read from the canonical request
(``tollgate.canonical.ChatRequest``) the doors already translate to, so what counts as text is
decided once whatever protocol the client spoke:

- the usage of a stream cut before the upstream reported it (billed, and flagged
  ``usage_estimated`` on the event);
- the count endpoints of doors whose upstream cannot count (Anthropic's ``count_tokens``,
  Gemini's ``countTokens``).

What counts: every message's text (string content or text parts, system prompts included),
tool calls (name and JSON arguments), tool results, and the tool definitions (as JSON).
Images, audio and files are not counted.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tollgate.canonical import ChatRequest, ContentPart

CHARS_PER_TOKEN = 4
_ENCODE = msgspec.json.encode


def tokens(chars: int) -> int:
    """Roughly 4 characters a token, rounded up."""
    return -(-chars // CHARS_PER_TOKEN)


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(p.text) for p in content if isinstance(p, ContentPart) and isinstance(p.text, str))
    return 0


def request_chars(request: ChatRequest) -> int:
    chars = 0
    for message in request.messages:
        chars += _content_chars(message.content)
        for call in message.tool_calls or ():
            function = call.function
            if function:
                chars += len(function.name or "")
                arguments = function.arguments
                chars += len(arguments) if isinstance(arguments, str) else len(_ENCODE(arguments or {}))
    for tool in request.tools or ():
        chars += len(_ENCODE(tool))
    return chars


def request_tokens(request: ChatRequest) -> int:
    """The estimated prompt tokens of a request (an ESTIMATE, not any provider's tokenizer)."""
    return tokens(request_chars(request))


def unreadable_tokens(body: dict[str, Any]) -> int:
    """A request no door could read as canonical (only after an upstream took it): its JSON size
    at the same rate, an upper bound of its text."""
    return tokens(len(_ENCODE(body)))
