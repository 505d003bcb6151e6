"""Reasoning at the Anthropic and Gemini doors, with canned payloads: ``thinking`` and
``thinkingConfig`` read into the canonical request, earlier turns' reasoning read back, and
canonical reasoning rendered as thinking blocks and thought parts (whole and streamed).
(The OpenAI door is canonical already: ``reasoning_content`` passes as it is.)"""

from __future__ import annotations

import json

import pytest

from services.edge.frontends import anthropic as anthropic_door
from services.edge.frontends import gemini as gemini_door
from tollgate import reasoning
from tollgate.canonical import ChatChunk, ChatResponse, from_openai, to_openai
from tollgate.errors import BadRequest
from tollgate.sse import Parser

ANTHROPIC, GEMINI = anthropic_door.FRONTEND, gemini_door.FRONTEND


def anthropic_canonical(**body) -> dict:
    raw = {"model": "m", "max_tokens": 4096, "messages": [{"role": "user", "content": "why"}], **body}
    return to_openai(ANTHROPIC.to_canonical(ANTHROPIC.parse(json.dumps(raw).encode())))


def gemini_canonical(config: dict, contents: list | None = None) -> dict:
    raw = {"contents": contents or [{"role": "user", "parts": [{"text": "why"}]}], "generationConfig": config}
    return to_openai(GEMINI.to_canonical(GEMINI.parse(json.dumps(raw).encode(), model="m", stream=False)))


@pytest.mark.parametrize(
    ("thinking", "fields"),
    [
        ({"type": "enabled", "budget_tokens": 3000}, {"reasoning_effort": "medium", "reasoning_budget": 3000}),
        ({"type": "enabled", "budget_tokens": 1024}, {"reasoning_effort": "minimal", "reasoning_budget": 1024}),
        ({"type": "adaptive"}, {"reasoning_effort": "medium", "reasoning_budget": -1}),
        ({"type": "disabled"}, {}),
        (None, {}),
    ],
)
def test_anthropic_thinking_to_canonical(thinking, fields) -> None:
    out = anthropic_canonical(**({"thinking": thinking} if thinking else {}))
    assert {k: out[k] for k in ("reasoning_effort", "reasoning_budget") if k in out} == fields


@pytest.mark.parametrize("thinking", [{"type": "enabled"}, {"type": "enabled", "budget_tokens": 0}, {"type": "sometimes"}])
def test_anthropic_bad_thinking_is_a_bad_request(thinking) -> None:
    with pytest.raises(BadRequest) as err:
        anthropic_canonical(thinking=thinking)
    assert "thinking" in err.value.message


def test_anthropic_thinking_blocks_sent_back_are_the_assistants_reasoning() -> None:
    """A tool loop with thinking: the thinking block (and its signature, which only Anthropic can
    check) comes back with the tool_use; the translation keeps the text, never breaks."""
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Use the tool.", "signature": "EqQBCkY"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
    ]
    out = anthropic_canonical(messages=messages, thinking={"type": "enabled", "budget_tokens": 2048})
    assert out["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "w", "arguments": '{"city":"Paris"}'}}],
        "reasoning_content": "Use the tool.",
    }
    assert out["messages"][2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}


ANSWER = {
    "id": "chatcmpl-1",
    "model": "up",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Blue.", "reasoning_content": "Scattering."}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 9, "completion_tokens_details": {"reasoning_tokens": 4}},
}


def test_anthropic_renders_reasoning_as_a_first_thinking_block() -> None:
    message = ANTHROPIC.from_canonical(from_openai(ANSWER, ChatResponse), "claude-alias")
    assert message["content"] == [
        {"type": "thinking", "thinking": "Scattering.", "signature": reasoning.TRANSLATED_SIGNATURE},
        {"type": "text", "text": "Blue."},
    ]
    assert message["usage"]["output_tokens"] == 9  # thinking is output


def chunk(delta: dict, finish: str | None = None) -> ChatChunk:
    return from_openai({"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}, ChatChunk)


STREAM = [
    chunk({"role": "assistant", "reasoning_content": "Scat"}),
    chunk({"reasoning_content": "tering."}),
    chunk({"content": "Blue."}, "stop"),
]


def test_anthropic_streams_reasoning_as_a_thinking_block_with_its_signature_last() -> None:
    encoder = ANTHROPIC.stream_encoder(ANTHROPIC.parse(b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'))
    raw = b"".join(encoder.encode(c) for c in STREAM) + encoder.finish()
    events = [(e.name, json.loads(e.data)) for e in Parser().feed(raw)]
    block_events = [(name, data.get("index"), data.get("content_block") or data.get("delta")) for name, data in events[1:-2]]
    assert block_events == [
        ("content_block_start", 0, {"type": "thinking", "thinking": "", "signature": ""}),
        ("content_block_delta", 0, {"type": "thinking_delta", "thinking": "Scat"}),
        ("content_block_delta", 0, {"type": "thinking_delta", "thinking": "tering."}),
        ("content_block_delta", 0, {"type": "signature_delta", "signature": reasoning.TRANSLATED_SIGNATURE}),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, {"type": "text", "text": ""}),
        ("content_block_delta", 1, {"type": "text_delta", "text": "Blue."}),
        ("content_block_stop", 1, None),
    ]


@pytest.mark.parametrize(
    ("config", "fields"),
    [
        ({"thinkingConfig": {"thinkingBudget": 1500, "includeThoughts": True}}, {"reasoning_effort": "low", "reasoning_budget": 1500}),
        ({"thinking_config": {"thinking_budget": 0}}, {"reasoning_effort": "none", "reasoning_budget": 0}),  # snake_case too
        ({"thinkingConfig": {"thinkingBudget": -1}}, {"reasoning_effort": "medium", "reasoning_budget": -1}),
        ({"thinkingConfig": {"thinkingLevel": "HIGH"}}, {"reasoning_effort": "high"}),
        ({"thinkingConfig": {"thinkingLevel": "LOW", "thinkingBudget": 9000}}, {"reasoning_effort": "low", "reasoning_budget": 9000}),
        ({"thinkingConfig": {"includeThoughts": True}}, {"reasoning_effort": "medium", "reasoning_budget": -1}),  # the default thinking
        ({"thinkingConfig": {"includeThoughts": False}}, {}),
        ({}, {}),
    ],
)
def test_gemini_thinking_config_to_canonical(config, fields) -> None:
    out = gemini_canonical(config)
    assert {k: out[k] for k in ("reasoning_effort", "reasoning_budget") if k in out} == fields


@pytest.mark.parametrize(
    "config", [{"thinkingBudget": "lots"}, {"thinkingBudget": -2}, {"thinkingBudget": True}, {"thinkingLevel": "ULTRA"}]
)
def test_gemini_bad_thinking_config_is_a_bad_request(config) -> None:
    with pytest.raises(BadRequest):
        gemini_canonical({"thinkingConfig": config})


def test_gemini_thought_parts_sent_back_are_left_out() -> None:
    contents = [
        {"role": "user", "parts": [{"text": "weather?"}]},
        {
            "role": "model",
            "parts": [{"text": "Use the tool.", "thought": True}, {"functionCall": {"name": "w", "args": {}}, "thoughtSignature": "c2ln"}],
        },
        {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": {"result": "sunny"}}}]},
    ]
    out = gemini_canonical({"thinkingConfig": {"thinkingBudget": 1500}}, contents)
    assert out["messages"][1]["content"] is None and out["messages"][1]["tool_calls"][0]["function"]["name"] == "w"


def test_gemini_renders_reasoning_as_a_first_thought_part() -> None:
    body = GEMINI.from_canonical(from_openai(ANSWER, ChatResponse), "gemini-alias")
    assert body["candidates"][0]["content"]["parts"] == [{"text": "Scattering.", "thought": True}, {"text": "Blue."}]
    assert body["usageMetadata"] == {"promptTokenCount": 3, "candidatesTokenCount": 5, "totalTokenCount": 12, "thoughtsTokenCount": 4}
    encoder = GEMINI.stream_encoder(GEMINI.parse(b'{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}', model="m", stream=True))
    raw = b"".join(encoder.encode(c) for c in STREAM) + encoder.finish()
    parts = [p for e in Parser().feed(raw) for p in json.loads(e.data)["candidates"][0]["content"]["parts"]]
    assert parts[:3] == [{"text": "Scat", "thought": True}, {"text": "tering.", "thought": True}, {"text": "Blue."}]
