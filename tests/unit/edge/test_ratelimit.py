"""The edge's rate limiter: local counting, other edges' counts, windows and headers."""

from __future__ import annotations

import pytest

from services.edge.auth import AccountState, Principal
from services.edge.ratelimit import RateLimiter
from tollgate import events
from tollgate.errors import RateLimited


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def principal(rpm: int = 0, tpm: int = 0, key: str = "key_1") -> Principal:
    return Principal("acct", key, "sk-x", AccountState("acct", 10), rpm_limit=rpm, tpm_limit=tpm)


def test_requests_per_minute_with_headers_and_a_new_window():
    clock = Clock(6000.0)  # second 0 of a minute window
    limiter = RateLimiter(None, None, clock=clock)
    p = principal(rpm=3)
    assert [limiter.admit(p)["x-ratelimit-remaining-requests"] for _ in range(3)] == ["2", "1", "0"]
    clock.t += 20
    with pytest.raises(RateLimited) as err:
        limiter.admit(p)
    assert err.value.headers["retry-after"] == "40" and err.value.headers["x-ratelimit-reset-requests"] == "40s"
    clock.t += 40  # the next window
    assert limiter.admit(p)["x-ratelimit-remaining-requests"] == "2"


def test_other_edges_counts_are_added_and_stale_windows_ignored():
    clock = Clock(6000.0)
    limiter = RateLimiter(None, None, clock=clock)
    limiter.on_counts(events.RateCounts(edge_id="other", window=100, counts={"key_1": [4, 0]}))
    limiter.on_counts(events.RateCounts(edge_id="old", window=90, counts={"key_1": [99, 0]}))
    limiter.on_counts(events.RateCounts(edge_id=limiter.edge_id, window=100, counts={"key_1": [99, 0]}))  # our own echo
    assert limiter.admit(principal(rpm=5))["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(RateLimited):
        limiter.admit(principal(rpm=5))
    assert limiter.admit(principal(rpm=5, key="key_2"))  # other keys are unaffected


def test_tokens_per_minute_and_unlimited_keys():
    limiter = RateLimiter(None, None, clock=Clock(6000.0))
    p = principal(tpm=100)
    limiter.admit(p)
    limiter.add_tokens("key_1", 100)
    with pytest.raises(RateLimited) as err:
        limiter.admit(p)
    assert "tokens" in err.value.message and err.value.headers["x-ratelimit-remaining-tokens"] == "0"
    assert limiter.admit(principal()) == {}  # no limits: no counting, no headers
