"""The OpenAI-compatible profiles against each vendor's documented quirks: what a body with
every optional field set keeps, drops, clamps and renames on its way to each vendor."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from services.router.catalog import PROVIDER_KINDS, CatalogError
from services.router.policies import SHIPPED_TABLE, read_table
from tests.unit.router.test_catalog import catalog, channel
from tollgate.providers import REGISTRY, vendor_of
from tollgate.providers.openai_compat import OPENAI_COMPATIBLE, PROFILES

TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hi", "name": "alice"},
    {"role": "assistant", "content": "hello", "reasoning_content": "greet back"},
    {"role": "user", "content": "weather in Oslo?", "name": "alice"},
    {"role": "assistant", "content": None, "reasoning_content": "need the tool", "tool_calls": [TOOL_CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
]
SCHEMA = {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}}
FULL: dict[str, Any] = {
    "model": "client-alias",
    "messages": MESSAGES,
    "temperature": 1.7,
    "top_p": 0.9,
    "n": 8,
    "max_completion_tokens": 64,
    "seed": 7,
    "stop": ["\n\n"],
    "presence_penalty": 0.5,
    "frequency_penalty": 0.25,
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "top_logprobs": 2,
    "user": "end-user-1",
    "response_format": SCHEMA,
    "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
    "tool_choice": "required",
    "parallel_tool_calls": True,
    "reasoning_effort": "high",
    "functions": [{"name": "weather", "parameters": {"type": "object"}}],
    "function_call": "auto",
}

# Written from each vendor's documentation (the sources are cited in profiles.py), not read
# from the profiles: a profile changed without its vendor changing fails here.
MAX_TOKENS = {"max_completion_tokens": "max_tokens"}
EXPECTED: dict[str, dict[str, Any]] = {
    "openai": {},
    "simulator": {},
    "xai": {},
    "together": {},
    "vllm": {},
    "openrouter": {},
    "qwen": {},
    "fireworks": {"drop": {"logit_bias"}},
    "deepseek": {"rename": MAX_TOKENS, "json_object": True, "tool_turn_reasoning_only": True},
    "groq": {"drop": {"logit_bias", "logprobs", "top_logprobs"}, "n": 1, "no_names": True},
    "mistral": {"drop": {"logit_bias", "user"}, "rename": {**MAX_TOKENS, "seed": "random_seed"}},
    "ollama": {"rename": MAX_TOKENS},
    "moonshot": {"drop": {"functions", "function_call"}, "temperature": 1.0, "n": 5, "no_tool_choice": True},
    "zhipu": {"rename": MAX_TOKENS, "temperature": 1.0, "no_tool_choice": True, "json_object": True},
    "siliconflow": {"rename": MAX_TOKENS},
}


def sent(kind: str, body: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
    return json.loads(REGISTRY[kind].native_request("https://up.test/v1", "k", "real-model", body, stream=stream).body)


def test_every_profile_has_its_expectations() -> None:
    assert set(EXPECTED) == set(PROFILES)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_what_each_vendor_receives(kind: str) -> None:
    want = EXPECTED[kind]
    original = copy.deepcopy(FULL)
    out = sent(kind, FULL)
    assert original == FULL, "the client's body is not changed"
    assert out["model"] == "real-model"
    for name in want.get("drop", ()):
        assert name not in out
    for name, vendor_name in want.get("rename", {}).items():
        assert name not in out and out[vendor_name] == FULL[name]
    untouched = set(FULL) - set(want.get("drop", ())) - set(want.get("rename", {})) - {"model", "messages"}
    untouched -= {"temperature"} if "temperature" in want else set()
    untouched -= {"n"} if "n" in want else set()
    untouched -= {"tool_choice"} if want.get("no_tool_choice") else set()
    untouched -= {"response_format"} if want.get("json_object") else set()
    for name in untouched:
        assert out[name] == FULL[name], name
    assert out["temperature"] == want.get("temperature", 1.7)
    assert out["n"] == want.get("n", 8)
    assert ("tool_choice" in out) is not want.get("no_tool_choice", False)
    assert out["response_format"] == ({"type": "json_object"} if want.get("json_object") else SCHEMA)
    names = [m.get("name") for m in out["messages"]]
    assert names == ([None] * 6 if want.get("no_names") else [m.get("name") for m in MESSAGES])
    reasoning = [m.get("reasoning_content") for m in out["messages"]]
    if want.get("tool_turn_reasoning_only"):
        assert reasoning == [None, None, None, None, "need the tool", None]
    else:
        assert reasoning == [m.get("reasoning_content") for m in MESSAGES]


def test_deepseek_keeps_reasoning_only_on_turns_that_called_tools() -> None:
    out = sent("deepseek", {"model": "m", "messages": MESSAGES}, stream=True)
    assistant = [m for m in out["messages"] if m["role"] == "assistant"]
    assert "reasoning_content" not in assistant[0]  # answered without tools: DeepSeek refuses or ignores it
    assert assistant[1]["reasoning_content"] == "need the tool"  # a tool-call turn: DeepSeek requires it back
    assert assistant[1]["tool_calls"] == [TOOL_CALL]
    assert [m["content"] for m in out["messages"]] == [m["content"] for m in MESSAGES]
    assert out["stream_options"] == {"include_usage": True}


def test_in_range_values_and_explicit_vendor_names_stay() -> None:
    body = {"messages": [], "temperature": 0.3, "n": 2, "max_tokens": 10, "max_completion_tokens": 99, "tool_choice": "auto"}
    out = sent("moonshot", body)
    assert (out["temperature"], out["n"], out["tool_choice"]) == (0.3, 2, "auto")
    out = sent("zhipu", body)
    assert out["max_tokens"] == 10 and "max_completion_tokens" not in out  # the vendor's own field wins
    assert out["tool_choice"] == "auto"
    assert sent("zhipu", {**body, "temperature": -1})["temperature"] == 0.0
    assert sent("zhipu", {**body, "temperature": True})["temperature"] is True  # not a number: left to the vendor


def test_named_tool_choice_goes_where_the_vendor_takes_it() -> None:
    named = {"type": "function", "function": {"name": "weather"}}
    body = {"messages": [], "tool_choice": named, "response_format": {"type": "json_object"}}
    assert sent("deepseek", body)["tool_choice"] == named
    assert "tool_choice" not in sent("moonshot", body) and "tool_choice" not in sent("zhipu", body)
    assert sent("deepseek", body)["response_format"] == {"type": "json_object"}


def test_legacy_completions_bodies_get_the_same_shaping() -> None:
    adapter = OPENAI_COMPATIBLE["ollama"]
    req = adapter.completions_request("http://127.0.0.1:11434/v1", "", "llama3", {"prompt": "x", "max_completion_tokens": 5}, stream=False)
    assert req.url.endswith("/completions") and json.loads(req.body) == {"prompt": "x", "max_tokens": 5, "model": "llama3"}


NEW_KINDS = {"moonshot": "moonshot", "qwen": "alibaba", "zhipu": "zai", "siliconflow": "siliconflow"}


@pytest.mark.parametrize("kind", sorted(NEW_KINDS))
def test_new_kinds_are_catalog_kinds_with_a_vendor_policy(kind: str) -> None:
    assert kind in PROVIDER_KINDS
    assert vendor_of(kind) == NEW_KINDS[kind]
    assert NEW_KINDS[kind] in read_table(SHIPPED_TABLE)[0]
    ch = catalog(channel("c", provider=kind, base_url="")).channel("c")
    assert ch is not None and ch.base_url == PROFILES[kind].default_base_url.rstrip("/")
    assert ch.base_url.startswith("https://")


def test_a_channel_base_url_beats_the_default_and_self_hosted_kinds_need_one() -> None:
    ch = catalog(channel("c", provider="zhipu", base_url="https://proxy.test/v4")).channel("c")
    assert ch is not None and ch.base_url == "https://proxy.test/v4"
    with pytest.raises(CatalogError, match="base_url is required"):
        catalog(channel("c", provider="vllm", base_url=""))
    with pytest.raises(CatalogError, match="project"):
        catalog(channel("c", provider="moonshot", project='"p"'))


@pytest.mark.parametrize("kind", ["groq", "openrouter"])
def test_reasoning_under_reasoning_is_read_as_reasoning_content(kind: str) -> None:
    payload = json.dumps(
        {
            "id": "c",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "4", "reasoning": "2+2"}}],
        }
    ).encode()
    response, _ = OPENAI_COMPATIBLE[kind].chat_response(payload)
    assert response.choices[0].message.reasoning_content == "2+2"
    response, _ = OPENAI_COMPATIBLE["deepseek"].chat_response(payload)
    assert not response.choices[0].message.reasoning_content  # DeepSeek's is reasoning_content itself
