"""Reasoning through the three upstream adapters, with canned payloads: the canonical request's
``reasoning_effort`` / ``reasoning_budget`` as each upstream's control, and each upstream's
reasoning (OpenAI ``reasoning_content``, Anthropic thinking blocks, Gemini thought parts) read
back as canonical ``reasoning_content`` with its token count, whole and streamed."""

from __future__ import annotations

import json

import msgspec
import pytest

from tollgate import reasoning
from tollgate.canonical import ChatRequest, from_openai, to_openai
from tollgate.errors import BadRequest
from tollgate.estimate import tokens
from tollgate.providers import REGISTRY
from tollgate.sse import Parser

OPENAI, ANTHROPIC, GEMINI = REGISTRY["openai"], REGISTRY["anthropic"], REGISTRY["gemini"]
OPENROUTER = REGISTRY["openrouter"]
QUESTION = [{"role": "user", "content": "why"}]


def sent(adapter, body: dict, stream: bool = False) -> dict:
    request = from_openai({"model": "m", "messages": QUESTION, **body}, ChatRequest)
    return json.loads(adapter.chat_request("https://up.test", "k", "up-model", request, stream=stream).body)


# --- requests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "effort"),
    [
        ({"reasoning_effort": "high"}, "high"),
        ({"reasoning_budget": 3000}, "medium"),  # a door's budget read through the table
        ({"reasoning_budget": -1}, "medium"),
        ({"reasoning_effort": "low", "reasoning_budget": 9000}, "low"),  # the named effort wins
        ({"reasoning_effort": "none"}, "none"),  # asked for by name: sent
        ({"reasoning_budget": 0}, None),  # "off" from a budget: nothing (not every model takes "none")
        ({}, None),
    ],
)
def test_openai_upstream_gets_an_effort_and_never_the_budget(fields, effort) -> None:
    out = sent(OPENAI, fields)
    assert out.get("reasoning_effort") == effort
    assert "reasoning_budget" not in out


def test_openai_upstream_gets_no_reasoning_history() -> None:
    history = [
        *QUESTION,
        {"role": "assistant", "content": "hi", "reasoning_content": "thought before"},
        {"role": "user", "content": "and?"},
    ]
    out = sent(OPENAI, {"messages": history, "reasoning_effort": "low"})
    assert [m.get("reasoning_content") for m in out["messages"]] == [None, None, None]
    assert out["messages"][1] == {"role": "assistant", "content": "hi"}


def test_an_unknown_effort_is_a_bad_request_for_every_translation() -> None:
    for adapter in (OPENAI, ANTHROPIC, GEMINI):
        with pytest.raises(BadRequest):
            sent(adapter, {"reasoning_effort": "ludicrous"})


@pytest.mark.parametrize(
    ("fields", "thinking", "max_tokens"),
    [
        ({"reasoning_effort": "low", "max_tokens": 4096}, {"type": "enabled", "budget_tokens": 2048}, 4096),
        ({"reasoning_budget": 3000, "max_tokens": 4096}, {"type": "enabled", "budget_tokens": 3000}, 4096),
        ({"reasoning_budget": 500, "max_tokens": 4096}, {"type": "enabled", "budget_tokens": 1024}, 4096),  # the floor
        ({"reasoning_budget": -1, "max_tokens": 20000}, {"type": "enabled", "budget_tokens": 8192}, 20000),  # dynamic: "medium"
        ({"reasoning_effort": "high", "max_tokens": 100}, {"type": "enabled", "budget_tokens": 16384}, 16484),  # room kept
        ({"reasoning_effort": "none", "max_tokens": 100}, None, 100),
        ({"reasoning_budget": 0, "max_tokens": 100}, None, 100),
    ],
)
def test_anthropic_upstream_gets_thinking_within_its_rules(fields, thinking, max_tokens) -> None:
    out = sent(ANTHROPIC, {**fields, "temperature": 0.2, "top_p": 0.5})
    assert out.get("thinking") == thinking and out["max_tokens"] == max_tokens
    if thinking:  # Anthropic: no temperature but 1, top_p >= 0.95 with thinking on
        assert "temperature" not in out and "top_p" not in out
    else:
        assert (out["temperature"], out["top_p"]) == (0.2, 0.5)
    assert "top_p" in sent(ANTHROPIC, {**fields, "top_p": 0.97})


TOOLS = [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}]
CALL = {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("fields", "thinks"),
    [
        ({"tools": TOOLS, "tool_choice": "auto"}, True),
        ({"tools": TOOLS, "tool_choice": "required"}, False),  # Anthropic refuses thinking with a forced tool
        ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "w"}}}, False),
        # The tool loop: the last assistant turn made calls and has no Anthropic-signed thinking block
        (
            {
                "tools": TOOLS,
                "messages": [
                    *QUESTION,
                    {"role": "assistant", "content": None, "tool_calls": [CALL], "reasoning_content": "thought"},
                    {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                ],
            },
            False,
        ),
        # ... but a finished loop followed by a new question is fine
        (
            {
                "tools": TOOLS,
                "messages": [
                    *QUESTION,
                    {"role": "assistant", "content": None, "tool_calls": [CALL]},
                    {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                    {"role": "assistant", "content": "It is sunny.", "reasoning_content": "thought"},
                    {"role": "user", "content": "thanks, and tomorrow?"},
                ],
            },
            True,
        ),
    ],
)
def test_anthropic_upstream_thinking_and_tools(fields, thinks) -> None:
    out = sent(ANTHROPIC, {"reasoning_effort": "low", "max_tokens": 4096, **fields})
    assert ("thinking" in out) is thinks
    assert all(b["type"] != "thinking" for m in out["messages"] for b in m["content"])  # no unsigned thinking sent


def test_translated_thinking_blocks_never_reach_an_anthropic_upstream() -> None:
    translated = {"type": "thinking", "thinking": "from elsewhere", "signature": reasoning.TRANSLATED_SIGNATURE}
    own = {"type": "thinking", "thinking": "Claude's", "signature": "EqQBCkYIBx"}
    tool_use = {"type": "tool_use", "id": "t1", "name": "w", "input": {}}
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]}
    thinking = {"type": "enabled", "budget_tokens": 2048}

    def native(messages: list) -> dict:
        body = {"model": "alias", "max_tokens": 4096, "thinking": thinking, "messages": messages}
        return json.loads(ANTHROPIC.native_request("https://up.test", "k", "claude-x", body, stream=False).body)

    out = native([{"role": "user", "content": "hi"}, {"role": "assistant", "content": [translated, tool_use]}, result])
    assert out["messages"][1]["content"] == [tool_use] and "thinking" not in out  # off: the tool call's thinking is gone
    out = native([{"role": "user", "content": "hi"}, {"role": "assistant", "content": [translated, {"type": "text", "text": "ok"}]}])
    assert out["messages"][1]["content"] == [{"type": "text", "text": "ok"}] and out["thinking"] == thinking
    untouched = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [own, tool_use]}, result]
    assert native(untouched)["messages"] == untouched and native(untouched)["thinking"] == thinking


@pytest.mark.parametrize(
    ("fields", "config"),
    [
        ({"reasoning_effort": "low"}, {"thinkingBudget": 2048, "includeThoughts": True}),
        ({"reasoning_budget": 1500}, {"thinkingBudget": 1500, "includeThoughts": True}),
        ({"reasoning_budget": -1}, {"thinkingBudget": -1, "includeThoughts": True}),  # Gemini's own dynamic
        ({"reasoning_effort": "none"}, {"thinkingBudget": 0}),
        ({}, None),
    ],
)
def test_gemini_upstream_gets_a_thinking_config(fields, config) -> None:
    out = sent(GEMINI, {**fields, "max_tokens": 4096})
    assert out["generationConfig"].get("thinkingConfig") == config
    assert out["generationConfig"]["maxOutputTokens"] == 4096


# --- answers -----------------------------------------------------------------------------------


def test_anthropic_thinking_blocks_are_reasoning_content() -> None:
    payload = {
        "id": "msg_1",
        "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "Let me see. ", "signature": "sig"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "thinking", "thinking": "Right.", "signature": "sig2"},
            {"type": "text", "text": "Blue."},
        ],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 40},
    }
    response, usage = ANTHROPIC.chat_response(json.dumps(payload).encode())
    assert to_openai(response)["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Blue.",
        "reasoning_content": "Let me see. Right.",
    }
    # Anthropic has no reasoning count: the estimator's, of the thinking text, within output_tokens
    assert (usage.completion_tokens, usage.reasoning_tokens) == (40, tokens(len("Let me see. Right.")))
    assert ANTHROPIC.native_usage(json.dumps(payload).encode()) == usage
    payload["usage"]["output_tokens"] = 2
    assert ANTHROPIC.chat_response(json.dumps(payload).encode())[1].reasoning_tokens == 2  # never above the output


def frame(kind: str, data: dict) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


THINKING_STREAM = b"".join(
    [
        frame("message_start", {"message": {"id": "msg_1", "model": "c", "content": [], "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        frame("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        frame("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "Rayleigh "}}),
        frame("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "scattering."}}),
        frame("content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": "sig"}}),
        frame("content_block_stop", {"index": 0}),
        frame("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
        frame("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": "Blue."}}),
        frame("content_block_stop", {"index": 1}),
        frame("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 30}}),
        frame("message_stop", {}),
    ]
)


def test_anthropic_thinking_stream_is_reasoning_deltas() -> None:
    decoder = ANTHROPIC.stream_decoder("client-model")
    chunks = [c for event in Parser().feed(THINKING_STREAM) for c in decoder.feed(event)] + decoder.close()
    deltas = [to_openai(c)["choices"][0]["delta"] for c in chunks if c.choices]
    assert [d.get("reasoning_content") for d in deltas if d.get("reasoning_content")] == ["Rayleigh ", "scattering."]
    assert "".join(d.get("content") or "" for d in deltas) == "Blue."
    expected = tokens(len("Rayleigh scattering."))
    assert chunks[-1].usage is not None and (chunks[-1].usage.completion_tokens, chunks[-1].usage.reasoning_tokens) == (30, expected)
    observer = ANTHROPIC.stream_decoder("client-model")  # pass-through: usage only, the same count
    for event in Parser().feed(THINKING_STREAM):
        observer.observe(event)
    assert observer.usage == chunks[-1].usage


def gemini_answer(parts: list[dict], **usage) -> bytes:
    meta = {"promptTokenCount": 3, "candidatesTokenCount": 2, **usage}
    return json.dumps(
        {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}], "usageMetadata": meta}
    ).encode()


def test_gemini_thought_parts_are_reasoning_content_and_thoughts_are_billed_as_output() -> None:
    payload = gemini_answer([{"text": "Light scatters.", "thought": True}, {"text": "Blue."}], thoughtsTokenCount=4)
    response, usage = GEMINI.chat_response(payload)
    assert to_openai(response)["choices"][0]["message"] == {"role": "assistant", "content": "Blue.", "reasoning_content": "Light scatters."}
    assert (usage.completion_tokens, usage.reasoning_tokens) == (2 + 4, 4)  # candidates + thoughts: all output
    decoder = GEMINI.stream_decoder("m")
    events = [b"data: " + gemini_answer([{"text": "Light ", "thought": True}]) + b"\r\n\r\n", b"data: " + payload + b"\r\n\r\n"]
    chunks = [c for raw in events for event in Parser().feed(raw) for c in decoder.feed(event)] + decoder.close()
    deltas = [to_openai(c)["choices"][0]["delta"] for c in chunks if c.choices]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Light Light scatters."
    assert "".join(d.get("content") or "" for d in deltas) == "Blue."
    assert chunks[-1].usage is not None and chunks[-1].usage.reasoning_tokens == 4


def test_a_profiles_reasoning_field_is_read_as_reasoning_content() -> None:
    """OpenRouter answers with ``reasoning``; DeepSeek (and the canonical form) with ``reasoning_content``."""
    whole = {
        "id": "gen-1",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Blue.", "reasoning": "Scattering."}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 9, "completion_tokens_details": {"reasoning_tokens": 4}},
    }
    response, usage = OPENROUTER.chat_response(json.dumps(whole).encode())
    assert response.choices[0].message.reasoning_content == "Scattering." and usage.reasoning_tokens == 4
    assert OPENAI.chat_response(json.dumps(whole).encode())[0].choices[0].message.reasoning_content is msgspec.UNSET  # not its field
    chunk = {"id": "gen-1", "choices": [{"index": 0, "delta": {"reasoning": "Scat"}, "finish_reason": None}]}
    decoder = OPENROUTER.stream_decoder("m")
    (got,) = [c for event in Parser().feed(b"data: " + json.dumps(chunk).encode() + b"\n\n") for c in decoder.feed(event)]
    assert got.choices[0].delta.reasoning_content == "Scat"
