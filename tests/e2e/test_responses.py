"""The Responses API door through the running stack, driven by the official ``openai`` SDK's
``responses.create`` / ``responses.stream`` / ``responses.parse`` against OpenAI-, Anthropic-
and Gemini-protocol upstreams (the simulator): whole and streamed answers, a tool round trip
through ``function_call_output``, structured output, a stream broken upstream, and what is
refused because Tollgate stores nothing. Every request is metered exactly once, with the
endpoint ``responses``."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pydantic
import pytest

from tests.e2e.clients import EXPECTED_ARGS, MAX_TOKENS, QUESTION, SYSTEM, TOOL_RESULT, WEATHER_SCHEMA
from tests.e2e.test_contract import KINDS, TOOL_CALL_TOKENS, wait_for_usage, words
from tools.provider_sim.app import answer_words
from tools.provider_sim.common import STRUCTURED_TOKENS

# Upstreams that take a response format (Bedrock's Converse has none: Tollgate drops it, see
# tollgate/providers/bedrock/request.py PARAMETERS).
STRUCTURED = tuple(kind for kind in KINDS if kind != "bedrock")
TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA}]
ANSWER = " ".join(answer_words(MAX_TOKENS))


class Weather(pydantic.BaseModel):
    city: str
    days: int


def client(stack, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)


def checked(events: list) -> openai.types.responses.Response:
    """The stream's events in their documented order; the final Response."""
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    added = {e.output_index for e in events if e.type == "response.output_item.added"}
    done = {e.output_index for e in events if e.type == "response.output_item.done"}
    assert added == done
    for e in events:
        if e.type in ("response.output_text.delta", "response.function_call_arguments.delta"):
            assert e.output_index in added
    final = events[-1].response
    assert final.id == events[0].response.id
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == final.output_text
    return final


def create(c: openai.OpenAI, *, stream: bool, **kw) -> openai.types.responses.Response:
    if not stream:
        return c.responses.create(**kw)
    return checked(list(c.responses.create(stream=True, **kw)))


def metered_by_endpoint(stack, account_id: str) -> dict[str, int]:
    r = httpx.get(
        f"{stack.metering_url}/v1/usage",
        params={"account_id": account_id, "group_by": "endpoint", "bucket": "none"},
        headers=stack.admin_headers,
        timeout=10,
    )
    return {row["endpoint"]: row["requests"] for row in r.json()["data"]}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("upstream", KINDS)
def test_text_answer(stack, new_account, upstream, stream):
    account_id, key = new_account()
    model = f"contract-{upstream}"
    response = create(client(stack, key), stream=stream, model=model, instructions=SYSTEM, input=QUESTION, max_output_tokens=MAX_TOKENS)
    assert response.id.startswith("resp_")
    assert (response.model, response.status, response.output_text) == (model, "completed", ANSWER)
    [item] = response.output
    assert item.type == "message" and item.role == "assistant"
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
        words(SYSTEM, QUESTION),
        MAX_TOKENS,
        words(SYSTEM, QUESTION) + MAX_TOKENS,
    )
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["errors"]) == (1, 0)
    assert (stored["prompt_tokens"], stored["completion_tokens"]) == (usage.input_tokens, usage.output_tokens)
    assert stored["cost_micros"] == -(-(usage.input_tokens * 3_000_000 + usage.output_tokens * 7_000_000) // 1_000_000)
    assert metered_by_endpoint(stack, account_id) == {"responses": 1}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("upstream", KINDS)
def test_tool_call_round_trip_through_function_call_output(stack, new_account, upstream, stream):
    account_id, key = new_account()
    c = client(stack, key)
    kw = {"model": f"contract-{upstream}", "instructions": SYSTEM, "tools": TOOLS, "max_output_tokens": MAX_TOKENS}
    conversation: list = [{"role": "user", "content": QUESTION}]

    def ask():
        if not stream:
            return c.responses.create(input=conversation, **kw)
        with c.responses.stream(input=conversation, **kw) as events:  # the SDK's helper: it accumulates the events itself
            return events.get_final_response()

    first = ask()
    [call] = first.output
    assert call.type == "function_call" and call.status == "completed"
    assert (call.name, json.loads(call.arguments)) == ("get_weather", EXPECTED_ARGS)
    assert (first.usage.input_tokens, first.usage.output_tokens) == (words(SYSTEM, QUESTION), TOOL_CALL_TOKENS)

    conversation += [*first.output, {"type": "function_call_output", "call_id": call.call_id, "output": TOOL_RESULT}]
    second = ask()
    assert second.output_text == ANSWER
    assert [o.type for o in second.output] == ["message"]
    assert (second.usage.input_tokens, second.usage.output_tokens) == (words(SYSTEM, QUESTION, TOOL_RESULT), MAX_TOKENS)

    stored = wait_for_usage(stack, account_id, 2)
    assert stored["requests"] == 2
    assert stored["prompt_tokens"] == first.usage.input_tokens + second.usage.input_tokens
    assert stored["completion_tokens"] == first.usage.output_tokens + second.usage.output_tokens
    assert metered_by_endpoint(stack, account_id) == {"responses": 2}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("upstream", STRUCTURED)
def test_structured_output(stack, new_account, upstream, stream):
    account_id, key = new_account()
    c = client(stack, key)
    model = f"contract-{upstream}"
    if stream:
        fmt = {"format": {"type": "json_schema", "name": "weather", "schema": WEATHER_SCHEMA, "strict": True}}
        response = create(c, stream=True, model=model, input=QUESTION, text=fmt)
        assert json.loads(response.output_text) == EXPECTED_ARGS
    else:
        parsed = c.responses.parse(model=model, input=QUESTION, text_format=Weather)  # the SDK builds the schema, and parses the answer
        assert parsed.output_parsed == Weather(**EXPECTED_ARGS)
        response = parsed
    assert (response.usage.input_tokens, response.usage.output_tokens) == (words(QUESTION), STRUCTURED_TOKENS)
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["completion_tokens"]) == (1, STRUCTURED_TOKENS)


# Upstream failures before the answer: (the status the client sees, the SDK's exception).
BEFORE_THE_ANSWER = {
    "error-400": (400, openai.BadRequestError),
    "error-401": (502, openai.InternalServerError),
    "error-429": (429, openai.RateLimitError),
    "error-500": (502, openai.InternalServerError),
}


@pytest.mark.parametrize("mode", sorted(BEFORE_THE_ANSWER))
@pytest.mark.parametrize("upstream", KINDS)
def test_upstream_error_before_the_answer_is_the_sdks_error_and_metered_once(stack, new_account, upstream, mode):
    account_id, key = new_account()
    status, exception = BEFORE_THE_ANSWER[mode]
    with pytest.raises(exception) as caught:
        client(stack, key).responses.create(model=f"responses-{upstream}-{mode}", input=QUESTION, max_output_tokens=MAX_TOKENS)
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict) and isinstance(caught.value.message, str)  # OpenAI's error shape, read by the SDK
    if mode == "error-429":
        assert caught.value.response.headers.get("retry-after") == "1"
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["errors"]) == (1, 1)


@pytest.mark.parametrize("mode", ["midstream-error", "malformed-stream"])
@pytest.mark.parametrize("upstream", KINDS)
def test_upstream_failure_mid_stream_ends_with_response_failed(stack, new_account, upstream, mode):
    account_id, key = new_account()
    stream = client(stack, key).responses.create(model=f"responses-{upstream}-{mode}", input=QUESTION, stream=True)
    events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert "response.output_text.delta" in kinds, "what came before the failure reaches the client"
    assert kinds[-2:] == ["error", "response.failed"] and "response.completed" not in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.error.code == "server_error"
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["errors"]) == (1, 1)


def test_a_stream_broken_upstream_ends_with_response_failed_and_is_metered_once(stack, new_account):
    account_id, key = new_account()
    events = list(client(stack, key).responses.create(model="sim-midstream-error", input="hi", stream=True))
    kinds = [e.type for e in events]
    assert "response.output_text.delta" in kinds, "what came before the break reaches the client"
    assert kinds[-2:] == ["error", "response.failed"]
    failed = events[-1].response
    assert failed.status == "failed" and failed.error.code == "server_error"
    assert failed.output[0].status == "incomplete"
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["errors"]) == (1, 1)
    time.sleep(0.5)  # nothing else arrives
    assert wait_for_usage(stack, account_id, 1)["requests"] == 1


@pytest.mark.parametrize(
    ("kw", "code", "words_"),
    [
        ({"tools": [{"type": "web_search"}]}, "unsupported_tool", "function tools only"),
        ({"previous_response_id": "resp_123"}, "unsupported_parameter", "stores no conversations"),
        ({"conversation": "conv_123"}, "unsupported_parameter", "stores no conversations"),
        ({"background": True}, "unsupported_parameter", "stores no conversations"),
        ({"max_output_tokens": 0}, "invalid_max_output_tokens", "integer"),
    ],
)
def test_refused_with_a_clear_400_and_not_metered(stack, new_account, kw, code, words_):
    account_id, key = new_account()
    with pytest.raises(openai.BadRequestError) as caught:
        client(stack, key).responses.create(model="contract-openai", input="hi", **kw)
    assert caught.value.status_code == 400
    assert caught.value.code == code
    assert words_ in caught.value.message
    assert wait_for_usage(stack, account_id, 1, timeout=1.0)["requests"] == 0


def test_stateful_routes_say_nothing_is_stored(stack, new_account):
    _, key = new_account()
    c = client(stack, key)
    for call in (lambda: c.responses.retrieve("resp_123"), lambda: c.responses.delete("resp_123"), lambda: c.responses.cancel("resp_123")):
        with pytest.raises(openai.BadRequestError) as caught:
            call()
        assert "stores no conversations" in caught.value.message
    with pytest.raises(openai.AuthenticationError):
        client(stack, "sk-wrong").responses.retrieve("resp_123")


def test_a_cost_bound_that_is_not_an_integer_is_refused_in_openai_shape(stack, new_account):
    _, key = new_account()
    for bad in ("200", 20.0, True, 10**9):
        r = httpx.post(
            f"{stack.edge_url}/responses",
            json={"model": "contract-openai", "input": "hi", "max_output_tokens": bad},
            headers={"authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "invalid_max_output_tokens"


def test_store_true_is_answered_as_not_stored(stack, new_account):
    _, key = new_account()
    r = httpx.post(
        f"{stack.edge_url}/responses",
        json={"model": "contract-gemini", "input": "hi", "store": True, "max_output_tokens": 3},
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert r.status_code == 200
    assert r.json()["store"] is False


# --- passed through to a channel that serves the Responses API natively --------------------------------

NATIVE = "contract-openai-responses"  # an ``openai`` channel: its profile has the Responses API's path


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_passed_through_to_a_native_responses_upstream(stack, new_account, stream):
    account_id, key = new_account()
    c = client(stack, key)
    kw = {"model": NATIVE, "instructions": SYSTEM, "tools": TOOLS, "max_output_tokens": MAX_TOKENS}
    conversation: list = [{"role": "user", "content": QUESTION}]
    first = create(c, stream=stream, input=conversation, store=True, **kw)
    assert first.id.startswith("resp_sim"), "the upstream's own Response, untouched but for its model:"
    assert first.model == NATIVE, "the id the client asked for, as on every door"
    assert first.model_extra["store"] is False  # the upstream was told not to store it
    [call] = first.output
    assert (call.type, call.name, json.loads(call.arguments)) == ("function_call", "get_weather", EXPECTED_ARGS)
    conversation += [*first.output, {"type": "function_call_output", "call_id": call.call_id, "output": TOOL_RESULT}]
    second = create(c, stream=stream, input=conversation, **kw)
    assert second.id.startswith("resp_sim") and second.output_text == ANSWER
    assert (second.usage.input_tokens, second.usage.output_tokens) == (words(SYSTEM, QUESTION, TOOL_RESULT), MAX_TOKENS)
    stored = wait_for_usage(stack, account_id, 2)
    assert (stored["requests"], stored["errors"]) == (2, 0)
    assert stored["prompt_tokens"] == first.usage.input_tokens + second.usage.input_tokens
    assert stored["completion_tokens"] == first.usage.output_tokens + second.usage.output_tokens
    assert metered_by_endpoint(stack, account_id) == {"responses": 2}


def test_what_needs_stored_state_is_refused_on_a_native_channel_too(stack, new_account):
    """The same checks whichever channel serves the request: the refusal does not depend on failover."""
    account_id, key = new_account()
    with pytest.raises(openai.BadRequestError, match="stores no conversations"):
        client(stack, key).responses.create(model=NATIVE, input="hi", previous_response_id="resp_sim1")
    assert wait_for_usage(stack, account_id, 1, timeout=1.0)["requests"] == 0


def test_max_output_tokens_bounds_the_pre_authorized_cost(stack, new_account):
    """The hold is the worst case the request allows: 1,000,000 output tokens at $7/M is more than
    the balance (402, nothing sent upstream); 5 tokens fit, and the answer is served."""
    account_id, key = new_account(balance_micros=5_000)
    c = client(stack, key)
    with pytest.raises(openai.APIStatusError) as caught:
        c.responses.create(model="contract-openai", input="hi", max_output_tokens=1_000_000)
    assert caught.value.status_code == 402
    assert c.responses.create(model="contract-openai", input="hi", max_output_tokens=5).status == "completed"
    assert wait_for_usage(stack, account_id, 1)["requests"] == 1
