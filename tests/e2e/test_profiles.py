"""The OpenAI-compatible kinds added as profiles (moonshot, qwen, zhipu, siliconflow): the
openai SDK through the edge to a channel of each kind at the simulator's OpenAI endpoint,
whole and streamed, with fields those profiles reshape set (a temperature above Moonshot's
and Zhipu's range, max_completion_tokens that some rename); each request metered exactly once."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import PROFILE_KINDS
from tests.e2e.test_contract import wait_for_usage

QUESTION = [{"role": "user", "content": "Say something nice"}]  # 3 words


@pytest.mark.parametrize("kind", PROFILE_KINDS)
def test_a_profile_kind_serves_the_openai_sdk(stack, new_account, kind: str):
    account_id, key = new_account()
    oai = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    model = f"profile-{kind}"
    shaped = {"temperature": 1.8, "n": 1, "max_completion_tokens": 4}
    whole = oai.chat.completions.create(model=model, messages=QUESTION, **shaped)
    assert whole.choices[0].message.content == "the quick brown fox"
    assert whole.model == model
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (3, 4)
    chunks = list(
        oai.chat.completions.create(
            model=model, messages=QUESTION, temperature=1.8, max_tokens=3, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "the quick brown"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    stored = wait_for_usage(stack, account_id, 2)
    assert (stored["requests"], stored["errors"]) == (2, 0)
    assert (stored["prompt_tokens"], stored["completion_tokens"]) == (6, 7)
