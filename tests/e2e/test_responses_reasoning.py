"""Reasoning through the Responses door (``reasoning.effort``) against every upstream protocol,
with the ``openai`` SDK, whole and streamed: the effort reaches the upstream by the one table
(``tollgate.reasoning``: an effort for an OpenAI upstream, a budget for Anthropic and Gemini;
the simulator names the setting it received in its reasoning text), comes back as a
``reasoning`` output item with its summary text (streamed as ``response.reasoning_summary_text``
deltas), its tokens are the Response's ``reasoning_tokens``, and the one usage row bills them
within the output tokens."""

from __future__ import annotations

import pytest

from tests.e2e.test_contract import KINDS, wait_for_usage
from tests.e2e.test_reasoning import EFFORT, OPENAI_SHAPED, QUESTION, reasoning_tokens
from tests.e2e.test_responses import checked, client
from tollgate import reasoning
from tools.provider_sim.common import DEFAULT_COMPLETION_WORDS, answer_words, reasoning_words

# Upstreams reasoning settings reach (not Bedrock yet: each model family there takes its own fields).
REASONING = tuple(kind for kind in KINDS if kind != "bedrock")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("upstream", REASONING)
def test_reasoning_effort_round_trip(stack, new_account, upstream, stream):
    account_id, key = new_account()
    kw = {"model": f"contract-{upstream}", "input": QUESTION, "reasoning": {"effort": EFFORT, "summary": "auto"}, "max_output_tokens": 4096}
    if stream:
        events = list(client(stack, key).responses.create(stream=True, **kw))
        response = checked(events)
        deltas = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    else:
        response = client(stack, key).responses.create(**kw)
        deltas = None
    setting = EFFORT if upstream in OPENAI_SHAPED else str(reasoning.budget_for(EFFORT))
    expected = " ".join(reasoning_words(setting))
    kinds = [item.type for item in response.output]
    assert kinds == ["reasoning", "message"], "the reasoning item comes first, as the model produced it"
    assert "".join(part.text for part in response.output[0].summary) == expected
    if deltas is not None:
        assert deltas == expected
    assert response.output_text == " ".join(answer_words(DEFAULT_COMPLETION_WORDS))
    usage = response.usage
    assert usage.output_tokens_details.reasoning_tokens == reasoning_tokens(upstream, expected)
    assert usage.output_tokens == len(expected.split()) + DEFAULT_COMPLETION_WORDS  # the simulator's count: reasoning within output
    stored = wait_for_usage(stack, account_id, 1)
    assert (stored["requests"], stored["errors"]) == (1, 0)
    assert (stored["prompt_tokens"], stored["completion_tokens"]) == (usage.input_tokens, usage.output_tokens)
