"""Legacy text completions (``POST /v1/completions``) through the ``openai`` SDK's
``completions.create``, whole and streamed, against every upstream protocol: an OpenAI-protocol
channel with ``/completions`` (passed through), an OpenAI-protocol one without (as chat), an
Anthropic and a Gemini one (translated). Each request metered once, its hold bound by max_tokens."""

from __future__ import annotations

import openai
import pytest

from tests.e2e.test_contract import wait_for_usage, words
from tools.provider_sim.app import answer_words

PROMPT = "def fibonacci(n):"  # 2 words
# model -> how it is served
MODELS = {
    "policy-retaining": "native",  # provider "openai": its profile has /completions
    "contract-openai": "chat",  # provider "simulator": no /completions, translated to chat
    "contract-anthropic": "anthropic",
    "contract-gemini": "gemini",
}


def _client(stack, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)


def _cost(prompt: int, completion: int) -> int:
    return -(-(prompt * 3_000_000 + completion * 7_000_000) // 1_000_000)


@pytest.mark.parametrize("model", MODELS)
def test_completion_whole(stack, new_account, model):
    account_id, key = new_account()
    raw = _client(stack, key).completions.with_raw_response.create(model=model, prompt=PROMPT, max_tokens=5, temperature=0.2)
    done = raw.parse()
    assert done.object == "text_completion" and done.model == model
    assert [(c.index, c.text, c.finish_reason) for c in done.choices] == [(0, " ".join(answer_words(5)), "stop")]
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (words(PROMPT), 5)
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["prompt_tokens"], stored["completion_tokens"]) == (1, words(PROMPT), 5)
    assert stored["cost_micros"] == _cost(words(PROMPT), 5)


@pytest.mark.parametrize("model", MODELS)
def test_completion_streamed(stack, new_account, model):
    account_id, key = new_account()
    chunks = list(
        _client(stack, key).completions.create(
            model=model, prompt=[PROMPT], max_tokens=4, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == " ".join(answer_words(4))
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert {c.model for c in chunks} == {model} and all(c.object == "text_completion" for c in chunks)
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (words(PROMPT), 4)
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["prompt_tokens"], stored["completion_tokens"]) == (1, words(PROMPT), 4)


@pytest.mark.parametrize("model", ["contract-anthropic", "policy-retaining"])
def test_echo_and_suffix(stack, new_account, model):
    account_id, key = new_account()
    c = _client(stack, key)
    echoed = c.completions.create(model=model, prompt=PROMPT, max_tokens=3, echo=True)
    assert echoed.choices[0].text == PROMPT + " ".join(answer_words(3))
    streamed = "".join(x.choices[0].text for x in c.completions.create(model=model, prompt=PROMPT, max_tokens=3, echo=True, stream=True))
    assert streamed == PROMPT + " ".join(answer_words(3))
    filled = c.completions.create(model=model, prompt=PROMPT, suffix="return result", max_tokens=3)
    assert filled.choices[0].text == " ".join(answer_words(3))
    stored = wait_for_usage(stack, account_id, 3)
    assert stored["requests"] == 3
    assert stored["prompt_tokens"] == 2 * words(PROMPT) + filled.usage.prompt_tokens > 3 * words(PROMPT)  # the suffix is read


def test_several_prompts_and_n_on_a_native_upstream(stack, new_account):
    account_id, key = new_account()
    done = _client(stack, key).completions.create(model="policy-retaining", prompt=["one two", "three"], n=2, max_tokens=2)
    assert [c.index for c in done.choices] == [0, 1, 2, 3]
    assert done.usage.completion_tokens == 8
    assert wait_for_usage(stack, account_id, 1)["completion_tokens"] == 8


def test_refusals_are_clear_400s_and_unmetered(stack, new_account):
    account_id, key = new_account()
    c = _client(stack, key)
    cases = [
        ({"model": "contract-anthropic", "prompt": ["a", "b"]}, "multiple_prompts_unsupported"),
        ({"model": "policy-retaining", "prompt": "a", "logprobs": 2}, "unsupported_logprobs"),
        ({"model": "contract-gemini", "prompt": [15339, 1070]}, "invalid_prompt"),
        ({"model": "contract-gemini", "prompt": "a", "best_of": 3}, "unsupported_best_of"),
        ({"model": "contract-gemini", "prompt": "a", "max_tokens": "5"}, "invalid_max_tokens"),
        ({"model": "contract-gemini", "prompt": None}, "invalid_prompt"),
    ]
    for body, code in cases:
        with pytest.raises(openai.BadRequestError) as err:
            c.completions.create(**body)
        assert err.value.body["code"] == code, body
        assert err.value.body["message"]
    with pytest.raises(openai.NotFoundError):
        c.completions.create(model="no-such-model", prompt="a")
    ok = c.completions.create(model="contract-gemini", prompt="a", max_tokens=1)  # the one metered request
    assert ok.choices[0].text
    assert wait_for_usage(stack, account_id, 1)["requests"] == 1


def test_the_hold_is_bounded_by_max_tokens(stack, new_account):
    """$7 per million output tokens: a million max_tokens cannot be held on a $0.50 balance,
    and an answer without max_tokens is held for OpenAI's default of 16."""
    _, key = new_account(balance_micros=500_000)
    c = _client(stack, key)
    with pytest.raises(openai.APIStatusError) as err:
        c.completions.create(model="contract-openai", prompt=PROMPT, max_tokens=1_000_000)
    assert err.value.status_code == 402
    assert len(c.completions.create(model="contract-openai", prompt=PROMPT).choices[0].text.split()) == 16
