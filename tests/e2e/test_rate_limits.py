"""Per-key rate limits hold across edge replicas, with OpenAI's headers."""

from __future__ import annotations

import time

import openai
import pytest


def test_a_60_rpm_key_gets_429_at_the_61st_request_across_two_edges(stack, new_account):
    _, key = new_account(rpm_limit=60)
    edges = [
        openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=30)
        for url in (stack.edge_url, f"http://127.0.0.1:{stack.ports.edge2}/v1")
    ]
    # Start early in a minute window so all 61 requests fall in one.
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)
    remaining = []
    for i in range(60):
        raw = edges[i % 2].chat.completions.with_raw_response.create(
            model="sim-1", messages=[{"role": "user", "content": "x"}], max_tokens=1
        )
        assert raw.headers["x-ratelimit-limit-requests"] == "60"
        remaining.append(int(raw.headers["x-ratelimit-remaining-requests"]))
        time.sleep(0.12)  # longer than the edges' count-sharing interval (documented accuracy)
    assert remaining == list(range(59, -1, -1))  # each edge saw the other's requests
    for edge in edges:  # the 61st, on either edge
        with pytest.raises(openai.RateLimitError) as err:
            edge.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": "x"}], max_tokens=1)
        headers = err.value.response.headers
        assert err.value.body["code"] == "rate_limit_exceeded"
        assert headers["x-ratelimit-remaining-requests"] == "0" and int(headers["retry-after"]) >= 1
        assert headers["x-ratelimit-reset-requests"].endswith("s")
