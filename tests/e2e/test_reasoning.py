"""Reasoning through every (door x upstream protocol) pair, with the official SDKs.

Each door asks for reasoning its own way (OpenAI ``reasoning_effort``, Anthropic ``thinking``,
Gemini ``thinkingConfig``); the simulator, in reasoning mode, writes the reasoning setting
that reached it into its reasoning text ("reasoning with setting <effort|budget> first"),
so each case checks the mapping (``tollgate.reasoning``), the reasoning text the client
sees (``reasoning_content``, a ``thinking`` block, a thought part), the tokens it is told
about, and the one usage row metering stored: reasoning tokens counted within the
completion tokens and billed with them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types as gtypes

from tests.e2e.clients import EXPECTED_ARGS, WEATHER_SCHEMA
from tollgate import reasoning
from tollgate.estimate import tokens
from tools.provider_sim.common import DEFAULT_COMPLETION_WORDS, answer_words, reasoning_words

KINDS = ("openai", "anthropic", "gemini")
UPSTREAMS = (*KINDS, "azure")  # azure speaks OpenAI's chat body: an effort reaches it as it does OpenAI
OPENAI_SHAPED = ("openai", "azure")
QUESTION = "Why is the sky blue"  # 5 words
TOOL_RESULT = "Sunny and warm"
MAX_TOKENS = 4096  # above every budget below: the answer is the simulator's 12 words
EFFORT = "low"  # what the OpenAI door asks for
BUDGETS = {"anthropic": 3000, "gemini": 1500}  # what the Anthropic and Gemini doors ask for
ANSWER = " ".join(answer_words(DEFAULT_COMPLETION_WORDS))
TOOL_CALL_TOKENS = 7
SIM_SIGNATURE = "sim-signature-1"  # the simulator's Anthropic thinking signature


def setting(door: str, upstream: str) -> str:
    """What reaches the upstream, by the one table: an effort for an OpenAI upstream, a
    budget (at least Anthropic's 1024) for the others; a same-protocol request is untouched."""
    if door == "openai":
        return EFFORT if upstream in OPENAI_SHAPED else str(reasoning.budget_for(EFFORT))
    budget = BUDGETS[door]
    return reasoning.effort_for(budget) if upstream in OPENAI_SHAPED else str(budget)


def reasoning_tokens(upstream: str, text: str) -> int:
    """OpenAI and Gemini upstreams count reasoning tokens; Anthropic's has no separate count
    (thinking is inside output_tokens): the edge estimates it from the thinking text."""
    return tokens(len(text)) if upstream == "anthropic" else len(text.split())


@dataclass
class Seen:
    reasoning: str = ""
    text: str = ""
    signature: str | None = None
    completion_tokens: int = 0
    reasoning_tokens: int | None = None  # as the door reports it (Anthropic's does not)
    tool: tuple[str, dict] | None = None
    assistant: object = None  # the assistant turn to send back, in the door's own shape
    request_ids: list[str] = field(default_factory=list)


# --- one driver per door ---------------------------------------------------------------------


def ask_openai(stack, key: str, model: str, messages: list, *, stream: bool, tools: bool = False) -> Seen:
    client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
    kw: dict = {"model": model, "messages": messages, "max_completion_tokens": MAX_TOKENS, "reasoning_effort": EFFORT}
    if tools:
        kw["tools"] = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}]
    seen = Seen()
    if not stream:
        raw = client.chat.completions.with_raw_response.create(**kw)
        seen.request_ids.append(raw.headers["x-request-id"])
        c = raw.parse()
        message = c.choices[0].message
        seen.reasoning, seen.text = getattr(message, "reasoning_content", None) or "", message.content or ""
        calls = [(t.id, t.function.name, t.function.arguments) for t in message.tool_calls or ()]
        usage = c.usage
    else:
        raw = client.chat.completions.with_raw_response.create(stream=True, stream_options={"include_usage": True}, **kw)
        seen.request_ids.append(raw.headers["x-request-id"])
        usage, pieces = None, {}
        for chunk in raw.parse():
            usage = chunk.usage or usage
            for choice in chunk.choices:
                seen.reasoning += getattr(choice.delta, "reasoning_content", None) or ""
                seen.text += choice.delta.content or ""
                for tc in choice.delta.tool_calls or ():
                    slot = pieces.setdefault(tc.index, ["", "", ""])
                    slot[0], slot[1] = tc.id or slot[0], (tc.function.name if tc.function else None) or slot[1]
                    slot[2] += (tc.function.arguments if tc.function else None) or ""
        calls = [tuple(v) for _, v in sorted(pieces.items())]
    assert usage is not None
    seen.completion_tokens = usage.completion_tokens
    seen.reasoning_tokens = usage.completion_tokens_details.reasoning_tokens if usage.completion_tokens_details else 0
    turn: dict = {"role": "assistant", "content": seen.text or None, "reasoning_content": seen.reasoning}
    if calls:
        ident, name, arguments = calls[0]
        seen.tool = (name, json.loads(arguments))
        turn["tool_calls"] = [{"id": ident, "type": "function", "function": {"name": name, "arguments": arguments}}]
    seen.assistant = turn
    return seen


def ask_anthropic(stack, key: str, model: str, messages: list, *, stream: bool, tools: bool = False) -> Seen:
    client = anthropic.Anthropic(base_url=stack.edge_url.removesuffix("/v1"), api_key=key, max_retries=0, timeout=30)
    kw: dict = {
        "model": model,
        "messages": messages,
        "max_tokens": MAX_TOKENS,
        "thinking": {"type": "enabled", "budget_tokens": BUDGETS["anthropic"]},
    }
    if tools:
        kw["tools"] = [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}]
    seen = Seen()
    if stream:
        with client.messages.stream(**kw) as s:
            seen.request_ids.append(s.response.headers["x-request-id"])
            message = s.get_final_message()
    else:
        raw = client.messages.with_raw_response.create(**kw)
        seen.request_ids.append(raw.headers["x-request-id"])
        message = raw.parse()
    for block in message.content:
        if block.type == "thinking":
            seen.reasoning += block.thinking
            seen.signature = block.signature
        elif block.type == "text":
            seen.text += block.text
        elif block.type == "tool_use":
            seen.tool = (block.name, dict(block.input))
    assert not seen.reasoning or message.content[0].type == "thinking"  # first, as Anthropic puts it
    seen.completion_tokens = message.usage.output_tokens
    seen.assistant = {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]}
    return seen


def ask_gemini(stack, key: str, model: str, contents: list, *, stream: bool, tools: bool = False) -> Seen:
    base = stack.edge_url.removesuffix("/v1") + "/gemini"
    client = genai.Client(
        api_key=key, http_options=gtypes.HttpOptions(base_url=base, timeout=30_000, retry_options=gtypes.HttpRetryOptions(attempts=1))
    )
    declaration = gtypes.FunctionDeclaration(name="get_weather", parameters_json_schema=WEATHER_SCHEMA)
    config = gtypes.GenerateContentConfig(
        max_output_tokens=MAX_TOKENS,
        thinking_config=gtypes.ThinkingConfig(thinking_budget=BUDGETS["gemini"], include_thoughts=True),
        tools=[gtypes.Tool(function_declarations=[declaration])] if tools else None,
        automatic_function_calling=gtypes.AutomaticFunctionCallingConfig(disable=True),
    )
    if stream:
        responses = list(client.models.generate_content_stream(model=model, contents=contents, config=config))
    else:
        responses = [client.models.generate_content(model=model, contents=contents, config=config)]
    seen, parts = Seen(), []
    for r in responses:
        headers = r.sdk_http_response.headers if r.sdk_http_response else None
        if headers and (rid := headers.get("x-request-id")) and rid not in seen.request_ids:
            seen.request_ids.append(rid)
        for cand in r.candidates or ():
            for part in cand.content.parts if cand.content and cand.content.parts else ():
                parts.append(part)
                if part.thought:
                    seen.reasoning += part.text or ""
                elif part.text:
                    seen.text += part.text
                if part.function_call:
                    seen.tool = (part.function_call.name, dict(part.function_call.args))
        if r.usage_metadata and r.usage_metadata.prompt_token_count is not None:
            meta = r.usage_metadata
            seen.completion_tokens = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
            seen.reasoning_tokens = meta.thoughts_token_count or 0
    seen.assistant = gtypes.Content(role="model", parts=[p for p in parts if p.thought or p.function_call])
    return seen


ASK = {"openai": ask_openai, "anthropic": ask_anthropic, "gemini": ask_gemini}


def question(door: str) -> list:
    if door == "gemini":
        return [gtypes.Content(role="user", parts=[gtypes.Part(text=QUESTION)])]
    return [{"role": "user", "content": QUESTION}]


def tool_result(door: str, first: list, seen: Seen) -> list:
    """The conversation with the assistant's turn sent back as the client got it (reasoning,
    signature and all) and the tool's result."""
    if door == "openai":
        call_id = seen.assistant["tool_calls"][0]["id"]  # type: ignore[index]
        return [*first, seen.assistant, {"role": "tool", "tool_call_id": call_id, "content": TOOL_RESULT}]
    if door == "anthropic":
        call_id = next(b["id"] for b in seen.assistant["content"] if b["type"] == "tool_use")  # type: ignore[index]
        result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": TOOL_RESULT}]}
        return [*first, seen.assistant, result]
    response = gtypes.FunctionResponse(name="get_weather", response={"result": TOOL_RESULT})
    return [*first, seen.assistant, gtypes.Content(role="user", parts=[gtypes.Part(function_response=response)])]


def usage_rows(stack, account_id: str, requests: int, timeout: float = 15.0) -> dict:
    """The account's metered requests (``/v1/requests``: one row per request), summed."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{stack.metering_url}/v1/requests", params={"account_id": account_id}, headers=stack.admin_headers, timeout=10)
        rows = r.json()["data"]
        total = {k: sum(row[k] for row in rows) for k in ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cost_micros")}
        total["requests"] = len(rows)
        if len(rows) >= requests or time.monotonic() > deadline:
            return total
        time.sleep(0.1)


def cost(prompt: int, completion: int) -> int:
    return -(-(prompt * 3_000_000 + completion * 7_000_000) // 1_000_000)  # the test catalog's price, rounded up


# --- the matrix ------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("door", KINDS)
def test_reasoning_round_trip(stack, new_account, door, upstream, stream):
    account_id, key = new_account()
    seen = ASK[door](stack, key, f"contract-{upstream}", question(door), stream=stream)
    expected_text = " ".join(reasoning_words(setting(door, upstream)))
    assert seen.reasoning == expected_text
    assert seen.text == ANSWER
    thought = reasoning_tokens(upstream, expected_text)
    assert seen.completion_tokens == DEFAULT_COMPLETION_WORDS + len(expected_text.split())  # reasoning is output
    if door == "anthropic":  # no reasoning count in Anthropic's usage; the signature is the upstream's, or Tollgate's marker
        assert seen.signature == (SIM_SIGNATURE if upstream == "anthropic" else reasoning.TRANSLATED_SIGNATURE)
    else:  # completion_tokens_details.reasoning_tokens / thoughtsTokenCount
        assert seen.reasoning_tokens == thought
    stored = usage_rows(stack, account_id, 1)
    assert stored["requests"] == 1
    assert (stored["completion_tokens"], stored["reasoning_tokens"]) == (seen.completion_tokens, thought)
    assert stored["cost_micros"] == cost(stored["prompt_tokens"], seen.completion_tokens)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("door", KINDS)
def test_reasoning_in_a_tool_loop(stack, new_account, door, upstream, stream):
    """The assistant turn with its reasoning (an Anthropic thinking block with its signature, a
    Gemini thought part and signed function call, an OpenAI reasoning_content) goes back to the
    edge with the tool result: the second turn is answered, and both are metered once."""
    account_id, key = new_account()
    first = question(door)
    call = ASK[door](stack, key, f"contract-{upstream}", first, stream=stream, tools=True)
    assert call.tool == ("get_weather", EXPECTED_ARGS)
    assert call.reasoning == " ".join(reasoning_words(setting(door, upstream)))
    answer = ASK[door](stack, key, f"contract-{upstream}", tool_result(door, first, call), stream=stream, tools=True)
    assert answer.tool is None
    if door == upstream or upstream != "anthropic":
        assert (answer.reasoning, answer.text) == (call.reasoning, ANSWER)  # the upstream thought again
    else:
        # A translated history has no Anthropic-signed thinking block for the tool call, which
        # Anthropic requires with thinking on: that turn is answered without thinking (and
        # the simulator then answers max_tokens words).
        assert (answer.reasoning, answer.text) == ("", " ".join(answer_words(MAX_TOKENS)))
    stored = usage_rows(stack, account_id, 2)
    assert stored["requests"] == 2
    assert stored["completion_tokens"] == call.completion_tokens + answer.completion_tokens


def test_translated_thinking_is_not_sent_to_an_anthropic_upstream(stack, new_account):
    """A thinking block Tollgate rendered from another protocol (its signature is Tollgate's
    marker), sent back to a model served by Anthropic: the block is taken out (Anthropic
    would refuse the signature) and, as it was the tool call's thinking, thinking is off."""
    account_id, key = new_account()
    first = question("anthropic")
    call = ask_anthropic(stack, key, "contract-openai", first, stream=False, tools=True)
    assert call.signature == reasoning.TRANSLATED_SIGNATURE and call.tool == ("get_weather", EXPECTED_ARGS)
    answer = ask_anthropic(stack, key, "contract-anthropic", tool_result("anthropic", first, call), stream=False, tools=True)
    assert (answer.text, answer.reasoning) == (" ".join(answer_words(MAX_TOKENS)), "")
    assert usage_rows(stack, account_id, 2)["requests"] == 2


@pytest.mark.parametrize("upstream", ["anthropic", "gemini"])
def test_an_unknown_effort_is_refused_in_the_openai_shape(stack, new_account, upstream):
    _, key = new_account()
    r = httpx.post(
        f"{stack.edge_url}/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": f"contract-{upstream}", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "extreme"},
        timeout=10,
    )
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_reasoning_effort" and "reasoning_effort" in error["message"] and set(error) >= {"message", "type"}


def test_a_bad_thinking_config_is_refused_in_each_doors_shape(stack, new_account):
    _, key = new_account()
    edge = stack.edge_url.removesuffix("/v1")
    r = httpx.post(
        f"{edge}/v1/messages",
        headers={"x-api-key": key},
        json={
            "model": "contract-openai",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "hi"}],
            "thinking": {"type": "enabled", "budget_tokens": 0},
        },
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["type"] == "error" and "thinking" in r.json()["error"]["message"]
    r = httpx.post(
        f"{edge}/gemini/v1beta/models/contract-openai:generateContent",
        headers={"x-goog-api-key": key},
        json={
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "generationConfig": {"thinkingConfig": {"thinkingBudget": "lots"}},
        },
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT" and "thinkingBudget" in r.json()["error"]["message"]
