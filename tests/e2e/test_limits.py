"""The catalog fields that used to be read and ignored (issue 16, items 3 and 4), through the
running stack with the official SDKs: a channel's own RPM counted across both edges (skipped
when full, 429 when every channel is), a model's total_ms and idle_ms (a clean error in the
door's shape, billed for what was delivered), a channel's own price (``sort = "price"`` picks
it, and billing uses it) and cache writes billed at their own price. The channels are in
tests/data/catalog_limits.toml."""

from __future__ import annotations

import time

import anthropic
import httpx
import openai
import pytest

from tests.e2e import busutil
from tollgate import events
from tollgate.pricing import cost_micros
from tools.provider_sim.common import STALL_AFTER


def openai_client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=30)


def anthropic_client(stack, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=stack.edge_url.removesuffix("/v1"), api_key=key, max_retries=0, timeout=30)


def usage_event(stack, request_id: str) -> events.UsageEvent:
    return events.decode(events.USAGE_SUBJECT, busutil.find_event(stack.settings.nats_url, request_id))


def ask(c: openai.OpenAI, model: str, **kw):
    return c.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "hi there"}], max_tokens=2, **kw)


def test_a_channel_at_its_rpm_is_skipped_on_every_edge_then_429(stack, new_account):
    """limits-rpm-first allows 2 requests a minute, limits-rpm-second 1: the counts are shared
    between the two edges, so the third request (on the other edge) goes to the second channel
    and the fourth finds both full."""
    if time.time() % 60 > 50:  # the limits count per minute window: start the test inside one
        time.sleep(61 - time.time() % 60)
    _, key = new_account()
    edge1 = openai_client(stack.edge_url, key)
    edge2 = openai_client(f"http://127.0.0.1:{stack.ports.edge2}/v1", key)
    assert [ask(edge1, "limits-rpm").headers["x-tollgate-channel"] for _ in range(2)] == ["limits-rpm-first"] * 2
    time.sleep(0.5)  # the edges share their counts every 100 ms
    assert ask(edge2, "limits-rpm").headers["x-tollgate-channel"] == "limits-rpm-second"
    time.sleep(0.5)
    with pytest.raises(openai.RateLimitError) as err:
        ask(edge1, "limits-rpm")
    assert err.value.response.status_code == 429 and 1 <= int(err.value.response.headers["retry-after"]) <= 60
    body = err.value.response.json()["error"]
    assert body["code"] == "channel_rate_limited" and body["type"] == "rate_limit_error"
    assert "limits-rpm-first" in body["message"] and "limits-rpm-second" in body["message"]
    # The Anthropic door answers in its own shape.
    with pytest.raises(anthropic.RateLimitError) as aerr:
        anthropic_client(stack, key).messages.create(model="limits-rpm", max_tokens=2, messages=[{"role": "user", "content": "hi"}])
    assert aerr.value.body["type"] == "error" and aerr.value.body["error"]["type"] == "rate_limit_error"


def test_a_stream_past_total_ms_ends_cleanly_and_bills_what_was_delivered(stack, new_account):
    _, key = new_account()
    raw = openai_client(stack.edge_url, key).chat.completions.with_raw_response.create(
        model="limits-total", messages=[{"role": "user", "content": "tell me a story"}], stream=True, max_tokens=12
    )
    started, delivered = time.monotonic(), []
    with pytest.raises(openai.APIError) as err:
        for chunk in raw.parse():
            delivered.append(chunk)
    assert time.monotonic() - started < 1.5  # the simulator would drip for ~2.6 s
    assert "total time limit" in str(err.value)
    event = usage_event(stack, raw.headers["x-request-id"])
    assert (event.status, event.error_code, event.channel_id) == (504, "deadline_exceeded", "limits-timeouts")
    assert event.usage_estimated and 0 < event.completion_tokens == len(delivered) < 12
    assert event.cost_micros == cost_micros(event.prompt_tokens, event.completion_tokens, 1_000_000, 1_000_000) > 0


def test_a_whole_answer_past_total_ms_is_a_504_in_the_doors_shape(stack, new_account):
    _, key = new_account()
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as err:
        ask(openai_client(stack.edge_url, key), "limits-total-slow")
    assert time.monotonic() - started < 1.4  # the simulator answers after 1.5 s
    assert err.value.status_code == 504 and err.value.response.json()["error"]["type"] == "upstream_error"
    assert err.value.response.json()["error"]["code"] == "deadline_exceeded" and "total_ms" in err.value.message
    with pytest.raises(anthropic.APIStatusError) as aerr:
        anthropic_client(stack, key).messages.create(model="limits-total-slow", max_tokens=2, messages=[{"role": "user", "content": "hi"}])
    assert aerr.value.status_code == 504 and aerr.value.body["type"] == "error"
    event = usage_event(stack, err.value.response.headers["x-request-id"])  # the upstream was reached: metered, nothing billed
    assert (event.status, event.cost_micros, event.channel_id) == (504, 0, "limits-timeouts")


@pytest.mark.parametrize("model", ["limits-idle", "limits-idle-anthropic"], ids=["openai-upstream", "anthropic-upstream"])
def test_an_idle_stream_hits_the_idle_timeout(stack, new_account, model):
    """Three pieces, then silence: after idle_ms (400 ms, well under the 2 s first-byte timeout
    of the test stack) the stream ends with the door's error event and the pieces are billed."""
    _, key = new_account()
    raw = openai_client(stack.edge_url, key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "tell me a story"}], stream=True, max_tokens=12
    )
    started, text = time.monotonic(), []
    with pytest.raises(openai.APIError) as err:
        for chunk in raw.parse():
            text += [c.delta.content or "" for c in chunk.choices]
    assert time.monotonic() - started < 1.8
    assert "idle timeout" in str(err.value) and len("".join(text).split()) == STALL_AFTER
    event = usage_event(stack, raw.headers["x-request-id"])
    assert (event.status, event.error_code) == (504, "upstream_idle_timeout")
    assert event.completion_tokens > 0 and event.cost_micros > 0


def test_an_idle_stream_ends_with_the_anthropic_doors_error_event(stack, new_account):
    _, key = new_account()
    with (
        pytest.raises(anthropic.APIStatusError, match="idle timeout"),
        anthropic_client(stack, key).messages.stream(
            model="limits-idle", max_tokens=12, messages=[{"role": "user", "content": "tell me a story"}]
        ) as stream,
    ):
        for _ in stream:
            pass


def test_sort_by_price_picks_the_cheaper_channel_and_bills_its_price(stack, new_account):
    _, key = new_account()
    c = openai_client(stack.edge_url, key)
    by_priority = ask(c, "limits-price")
    assert by_priority.headers["x-tollgate-channel"] == "limits-price-dear"
    dear = usage_event(stack, by_priority.headers["x-request-id"])
    assert dear.price_version == "test-1"
    assert dear.cost_micros == cost_micros(dear.prompt_tokens, dear.completion_tokens, 3_000_000, 7_000_000)

    cheapest = ask(c, "limits-price", extra_body={"provider": {"sort": "price"}})
    assert cheapest.headers["x-tollgate-channel"] == "limits-price-cheap"
    event = usage_event(stack, cheapest.headers["x-request-id"])
    assert event.price_version == "limits-price-cheap/cheap-1"
    assert event.cost_micros == cost_micros(event.prompt_tokens, event.completion_tokens, 1_000_000, 2_000_000)
    assert event.cost_micros < dear.cost_micros


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_cache_writes_are_billed_at_the_cache_write_price(stack, new_account, stream):
    """An Anthropic-protocol answer reporting cache_creation_input_tokens: the Anthropic SDK
    sees them, and the bill prices them at cache_write_per_mtok_micros, not as input."""
    _, key = new_account()
    claude = anthropic_client(stack, key)
    system = [{"type": "text", "text": "you are a careful assistant who answers briefly", "cache_control": {"type": "ephemeral"}}]
    kwargs = {"model": "limits-cache", "max_tokens": 5, "system": system, "messages": [{"role": "user", "content": "hello there"}]}
    if stream:
        with claude.messages.stream(**kwargs) as s:
            message = s.get_final_message()
            request_id = s.response.headers["x-request-id"]
    else:
        raw = claude.messages.with_raw_response.create(**kwargs)
        message, request_id = raw.parse(), raw.headers["x-request-id"]
    written = len(system[0]["text"].split())
    assert message.usage.cache_creation_input_tokens == written and message.usage.input_tokens == 2
    event = usage_event(stack, request_id)
    assert (event.cache_write_tokens, event.prompt_tokens, event.completion_tokens) == (written, written + 2, 5)
    assert event.cost_micros == -(-(2 * 3_000_000 + written * 3_750_000 + 5 * 15_000_000) // 1_000_000)
    assert event.cost_micros > cost_micros(event.prompt_tokens, event.completion_tokens, 3_000_000, 15_000_000)  # not as plain input
    stored = stored_request(stack, key, request_id)  # metering keeps the count in the request log
    assert (stored["cache_write_tokens"], stored["cost_micros"]) == (written, event.cost_micros)


def stored_request(stack, key: str, request_id: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{stack.metering_url}/v1/requests/{request_id}", headers={"authorization": f"Bearer {key}"}, timeout=10)
        if r.status_code == 200 or time.monotonic() > deadline:
            r.raise_for_status()
            return r.json()
        time.sleep(0.1)
