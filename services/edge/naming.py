"""The ``model`` an answer names: always the id the client asked for, whole or streamed, on
every door, whatever name the upstream answered with (a channel's upstream model, a dated
snapshot). Translated answers are rendered with it by the doors; a natively passed-through
answer has its one field rewritten here.

Where each protocol's answer names its model (a registry: a door not listed is left as is):
- OpenAI: ``model`` of the completion and of every chunk;
- Anthropic: ``model`` of the message, and of ``message_start``'s ``message`` when streamed;
- Gemini: ``modelVersion`` of the response and of every streamed response;
- Responses API: ``model`` of the response, and of the ``response`` an event carries.
"""

from __future__ import annotations

from typing import Any

import msgspec

MODEL_FIELDS: dict[str, str] = {"openai": "model", "anthropic": "model", "gemini": "modelVersion", "openai-responses": "model"}
_ENVELOPES = ("message", "response")  # a streamed event that carries the answer one level down

_DECODE = msgspec.json.decode
_ENCODE = msgspec.json.encode


def _holder(body: dict[str, Any], field: str) -> dict[str, Any] | None:
    if field in body:
        return body
    for name in _ENVELOPES:
        inner = body.get(name)
        if isinstance(inner, dict) and field in inner:
            return inner
    return None


_KEYS = {field: b'"%s":' % field.encode() for field in MODEL_FIELDS.values()}


def _in_place(payload: bytes, key: bytes, model: str) -> bytes | None:
    """The payload with ``key``'s string value replaced, without decoding it, when ``key``
    occurs once, unescaped (so not inside a string: there its quotes are escaped), followed
    directly by a plain string (what upstreams send: compact JSON); else None. A stream's
    every chunk comes through here (issue 14: no decode and re-encode per chunk)."""
    at = payload.find(key)
    start = at + len(key)
    if at < 0 or payload.find(key, start) >= 0 or payload[start : start + 1] != b'"':
        return None
    end = payload.find(b'"', start + 1)
    if end < 0 or b"\\" in payload[start:end]:
        return None
    value = _ENCODE(model)
    return payload if payload[start : end + 1] == value else payload[:start] + value + payload[end + 1 :]


def renamed(payload: bytes, protocol: str, model: str) -> bytes:
    """``payload`` (a JSON answer or one event's data) naming ``model``; unchanged when the
    protocol has no such field, the payload does not carry it, or is not a JSON object."""
    field = MODEL_FIELDS.get(protocol)
    if field is None or field.encode() not in payload:
        return payload
    if (fast := _in_place(payload, _KEYS[field], model)) is not None:
        return fast
    try:
        body = _DECODE(payload)
    except msgspec.DecodeError:
        return payload
    holder = _holder(body, field) if isinstance(body, dict) else None
    if holder is None or holder[field] == model:
        return payload
    holder[field] = model
    return _ENCODE(body)
