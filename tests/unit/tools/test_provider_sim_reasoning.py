"""The simulator's reasoning mode, read by the official SDKs: asked for reasoning (OpenAI
``reasoning_effort``, Anthropic ``thinking``, Gemini ``thinkingConfig``) it thinks first, in
five words naming the setting it got, and counts them as the providers do; it refuses what the
providers refuse (Anthropic's thinking rules, an unknown effort)."""

from __future__ import annotations

import anthropic
import openai
import pytest
from google import genai
from google.genai import types as gtypes

from tests.unit.tools.test_provider_sim import base  # noqa: F401  # the simulator server fixture, shared with its main tests
from tools.provider_sim.anthropic import SIGNATURE
from tools.provider_sim.common import DEFAULT_COMPLETION_WORDS, answer_words, reasoning_words

ANSWER = " ".join(answer_words(DEFAULT_COMPLETION_WORDS))
THOUGHT = len(reasoning_words("x"))
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def oai(base: str) -> openai.OpenAI:  # noqa: F811  # ``base`` is the imported fixture
    return openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0)


@pytest.fixture(scope="module")
def claude(base: str) -> anthropic.Anthropic:  # noqa: F811  # ``base`` is the imported fixture
    return anthropic.Anthropic(base_url=f"{base}/anthropic", api_key="x", max_retries=0)


@pytest.fixture(scope="module")
def gem(base: str) -> genai.Client:  # noqa: F811  # ``base`` is the imported fixture
    return genai.Client(api_key="x", http_options=gtypes.HttpOptions(base_url=f"{base}/gemini"))


def test_openai_reasoning_effort(oai: openai.OpenAI) -> None:
    c = oai.chat.completions.create(model="sim-1", messages=HI, max_completion_tokens=100, reasoning_effort="low")
    message = c.choices[0].message
    assert (message.reasoning_content, message.content) == (" ".join(reasoning_words("low")), ANSWER)  # type: ignore[attr-defined]
    assert c.usage is not None and c.usage.completion_tokens == DEFAULT_COMPLETION_WORDS + THOUGHT
    assert c.usage.completion_tokens_details is not None and c.usage.completion_tokens_details.reasoning_tokens == THOUGHT
    stream = oai.chat.completions.create(model="sim-1", messages=HI, max_tokens=100, reasoning_effort="high", stream=True)
    deltas = [ch.choices[0].delta for ch in stream if ch.choices]
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == " ".join(reasoning_words("high"))
    assert "".join(d.content or "" for d in deltas) == ANSWER
    plain = oai.chat.completions.create(model="sim-1", messages=HI, max_tokens=3, reasoning_effort="none")
    assert getattr(plain.choices[0].message, "reasoning_content", None) is None and plain.usage.completion_tokens == 3
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="sim-1", messages=HI, reasoning_effort="extreme")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError):  # Tollgate's canonical field must never reach an upstream
        oai.chat.completions.create(model="sim-1", messages=HI, extra_body={"reasoning_budget": 100})


def test_anthropic_thinking(claude: anthropic.Anthropic) -> None:
    thinking = {"type": "enabled", "budget_tokens": 2048}
    message = claude.messages.create(model="sim-1", max_tokens=4096, messages=HI, thinking=thinking)
    assert [b.type for b in message.content] == ["thinking", "text"]
    block = message.content[0]
    assert block.type == "thinking" and (block.thinking, block.signature) == (" ".join(reasoning_words("2048")), SIGNATURE)
    assert message.usage.output_tokens == DEFAULT_COMPLETION_WORDS + THOUGHT
    with claude.messages.stream(model="sim-1", max_tokens=4096, messages=HI, thinking={"type": "adaptive"}) as s:
        streamed = s.get_final_message()
    assert streamed.content[0].type == "thinking" and streamed.content[0].thinking == " ".join(reasoning_words("adaptive"))
    assert streamed.content[0].signature == SIGNATURE and streamed.content[1].text == ANSWER  # type: ignore[union-attr]


TOOL = {"name": "w", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.mark.parametrize(
    "extra",
    [
        {"thinking": {"type": "enabled", "budget_tokens": 1000}},  # below 1024
        {"thinking": {"type": "enabled", "budget_tokens": 4096}},  # not below max_tokens
        {"thinking": {"type": "enabled", "budget_tokens": 2048}, "extra_body": {"temperature": 0.5}},
        {"thinking": {"type": "enabled", "budget_tokens": 2048}, "extra_body": {"top_p": 0.5}},
        {"thinking": {"type": "enabled", "budget_tokens": 2048}, "tools": [TOOL], "tool_choice": {"type": "any"}},
        {  # a tool loop whose tool call lost its thinking block
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "tools": [TOOL],
            "messages": [
                *HI,
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "w", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]},
            ],
        },
        {  # a thinking block the simulator did not sign
            "messages": [*HI, {"role": "assistant", "content": [{"type": "thinking", "thinking": "x", "signature": "forged"}]}, *HI],
        },
    ],
)
def test_anthropic_thinking_rules(claude: anthropic.Anthropic, extra: dict) -> None:
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(**{"model": "sim-1", "max_tokens": 4096, "messages": HI, **extra})


def test_gemini_thinking_config(gem: genai.Client) -> None:
    def ask(config: gtypes.ThinkingConfig, stream: bool = False) -> list:
        cfg = gtypes.GenerateContentConfig(max_output_tokens=4096, thinking_config=config)
        if stream:
            return list(gem.models.generate_content_stream(model="sim-1", contents="hi", config=cfg))
        return [gem.models.generate_content(model="sim-1", contents="hi", config=cfg)]

    for stream in (False, True):
        responses = ask(gtypes.ThinkingConfig(thinking_budget=1500, include_thoughts=True), stream)
        parts = [p for r in responses for p in r.candidates[0].content.parts]
        assert "".join(p.text for p in parts if p.thought) == " ".join(reasoning_words("1500"))
        assert "".join(p.text for p in parts if not p.thought) == ANSWER
        meta = responses[-1].usage_metadata
        assert (meta.thoughts_token_count, meta.candidates_token_count) == (THOUGHT, DEFAULT_COMPLETION_WORDS)
    hidden = ask(gtypes.ThinkingConfig(thinking_budget=-1))[0]  # thinks, shows nothing, still counts
    assert not any(p.thought for p in hidden.candidates[0].content.parts) and hidden.usage_metadata.thoughts_token_count == THOUGHT
    off = ask(gtypes.ThinkingConfig(thinking_budget=0))[0]
    assert off.usage_metadata.thoughts_token_count is None and len(off.text.split()) == 4096
