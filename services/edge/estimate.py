"""Token estimates for the rare case a provider reports no usage (it failed mid-stream,
or the client went away first): billed, and flagged ``usage_estimated`` on the event."""

from __future__ import annotations

CHARS_PER_TOKEN = 4
_SKIP = frozenset({"model", "stream", "stream_options", "tool_choice", "response_format"})


def _chars(value) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_chars(v) for k, v in value.items() if k not in _SKIP and k not in ("type", "role"))
    if isinstance(value, list):
        return sum(_chars(v) for v in value)
    return 0


def prompt_tokens(body: dict) -> int:
    """Roughly 4 characters a token over the request's text (messages, system, tools)."""
    return -(-_chars(body) // CHARS_PER_TOKEN)
