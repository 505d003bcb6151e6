"""The protocol contract: every client protocol (official SDK) x every upstream protocol
(the simulator speaking it), non-streaming and streaming, with and without a tool-call
round trip. What the client sees and what metering stored must both match the
simulator's deterministic counts."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.clients import DRIVERS, EXPECTED_ARGS, MAX_TOKENS, QUESTION, SYSTEM, TOOL_RESULT
from tools.provider_sim.app import answer_words

KINDS = ("openai", "anthropic", "gemini", "azure", "bedrock")  # upstream kinds
CLIENTS = ("openai", "anthropic", "gemini")  # client protocols (official SDKs)
TOOL_CALL_TOKENS = 7  # the simulator's completion size for a tool call


def words(*texts: str) -> int:
    return sum(len(t.split()) for t in texts)


def wait_for_usage(stack, account_id: str, requests: int, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{stack.metering_url}/v1/usage/models", params={"account_id": account_id}, headers=stack.admin_headers, timeout=10)
        rows = r.json()["data"]
        total = {
            k: sum(row[k] for row in rows) for k in ("requests", "errors", "attempts", "prompt_tokens", "completion_tokens", "cost_micros")
        }
        if total["requests"] >= requests or time.monotonic() > deadline:
            return total
        time.sleep(0.1)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("upstream", KINDS)
@pytest.mark.parametrize("client", CLIENTS)
def test_text_answer(stack, new_account, client, upstream, stream):
    account_id, key = new_account()
    driver = DRIVERS[client](stack, key)
    driver.model = f"contract-{upstream}"
    seen = driver.ask(driver.first_turn(), stream=stream, tools=False)
    assert seen.text == " ".join(answer_words(MAX_TOKENS))
    assert seen.tool_name is None
    assert seen.finish == driver.finish_text
    assert (seen.prompt_tokens, seen.completion_tokens) == (words(SYSTEM, QUESTION), MAX_TOKENS)
    stored = wait_for_usage(stack, account_id, 1)
    assert stored["requests"] == 1
    assert (stored["prompt_tokens"], stored["completion_tokens"]) == (seen.prompt_tokens, seen.completion_tokens)
    assert stored["cost_micros"] == -(-(seen.prompt_tokens * 3_000_000 + seen.completion_tokens * 7_000_000) // 1_000_000)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("upstream", KINDS)
@pytest.mark.parametrize("client", CLIENTS)
def test_tool_call_round_trip(stack, new_account, client, upstream, stream):
    account_id, key = new_account()
    driver = DRIVERS[client](stack, key)
    driver.model = f"contract-{upstream}"
    first = driver.first_turn()
    call = driver.ask(first, stream=stream, tools=True)
    assert (call.tool_name, call.tool_args) == ("get_weather", EXPECTED_ARGS)
    assert call.finish == driver.finish_tool
    assert (call.prompt_tokens, call.completion_tokens) == (words(SYSTEM, QUESTION), TOOL_CALL_TOKENS)

    answer = driver.ask(driver.second_turn(first), stream=stream, tools=True)
    assert answer.tool_name is None
    assert answer.text == " ".join(answer_words(MAX_TOKENS))
    assert answer.finish == driver.finish_text
    assert (answer.prompt_tokens, answer.completion_tokens) == (words(SYSTEM, QUESTION, TOOL_RESULT), MAX_TOKENS)

    stored = wait_for_usage(stack, account_id, 2)
    assert stored["requests"] == 2
    assert stored["prompt_tokens"] == call.prompt_tokens + answer.prompt_tokens
    assert stored["completion_tokens"] == call.completion_tokens + answer.completion_tokens


def test_anthropic_headers_reach_an_anthropic_upstream(stack, new_account):
    import anthropic

    _, key = new_account()
    claude = anthropic.Anthropic(base_url=stack.edge_url.removesuffix("/v1"), api_key=key, max_retries=0)
    claude.messages.create(
        model="contract-anthropic",
        max_tokens=2,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"anthropic-beta": "tollgate-test-2026"},
    )
    seen = httpx.get(f"{stack.sim_url.removesuffix('/v1')}/_sim/stats", timeout=5).json()["headers"]
    assert seen["anthropic-beta"] == "tollgate-test-2026"
