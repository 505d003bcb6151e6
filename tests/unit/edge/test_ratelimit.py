"""The edge's rate limiter: local counting, other edges' counts, windows and headers."""

from __future__ import annotations

import asyncio

import pytest

from services.edge.auth import AccountState, Principal
from services.edge.ratelimit import RateLimiter
from tollgate import events
from tollgate.errors import RateLimited
from tollgate.rpc import router_pb2 as pb


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


# -- channels with limits of their own (catalog rpm / tpm) --------------------------------------


def channel(rpm: int = 0, tpm: int = 0, cid: str = "ch1") -> pb.Candidate:
    return pb.Candidate(channel_id=cid, rpm=rpm, tpm=tpm)


def test_a_channel_at_its_rpm_is_refused_until_the_next_window():
    clock = Clock(6010.0)  # second 10 of a window
    limiter = RateLimiter(None, None, clock=clock)
    assert [limiter.admit_channel(channel(rpm=2)) for _ in range(2)] == [None, None]
    assert limiter.admit_channel(channel(rpm=2)) == 50  # seconds until the window resets
    assert limiter.admit_channel(channel(rpm=2, cid="ch2")) is None  # other channels are unaffected
    assert limiter.admit_channel(channel()) is None  # no limits: never refused
    clock.t += 50
    assert limiter.admit_channel(channel(rpm=2)) is None


def test_a_channels_tpm_counts_metered_tokens():
    limiter = RateLimiter(None, None, clock=Clock(6000.0))
    c = channel(tpm=100)
    assert limiter.admit_channel(c) is None
    limiter.add_channel_tokens(c, 99)
    assert limiter.admit_channel(c) is None  # 99 < 100: still room
    limiter.add_channel_tokens(c, 1)
    assert limiter.admit_channel(c) == 60
    limiter.add_channel_tokens(channel(cid="free"), 10**6)  # a channel without a tpm is not counted
    assert limiter.admit_channel(channel(rpm=1, cid="free")) is None


def test_other_edges_channel_counts_are_added():
    clock = Clock(6000.0)
    limiter = RateLimiter(None, None, clock=clock)
    limiter.on_counts(events.RateCounts(edge_id="other", window=100, counts={}, channels={"ch1": [2, 0], "ch2": [0, 500]}))
    limiter.on_counts(events.RateCounts(edge_id=limiter.edge_id, window=100, counts={}, channels={"ch3": [9, 0]}))  # our own echo
    assert limiter.admit_channel(channel(rpm=3)) is None  # 2 elsewhere + 1 here
    assert limiter.admit_channel(channel(rpm=3)) is not None
    assert limiter.admit_channel(channel(tpm=500, cid="ch2")) is not None
    assert limiter.admit_channel(channel(rpm=9, cid="ch3")) is None


async def test_channel_counts_are_broadcast_with_the_key_counts():
    sent: list[tuple[str, bytes]] = []

    class Bus:
        is_connected = True

        async def publish(self, subject: str, data: bytes) -> None:
            sent.append((subject, data))

    limiter = RateLimiter(Bus(), None, interval=0.01, clock=Clock(6000.0))
    limiter.admit_channel(channel(rpm=5))
    limiter.add_channel_tokens(channel(tpm=5), 7)
    limiter.start()
    try:
        for _ in range(100):
            if sent:
                break
            await asyncio.sleep(0.01)
    finally:
        await limiter.close()
    subject, data = sent[0]
    event = events.decode(subject, data)
    assert subject == events.RATE_COUNTS_SUBJECT and event.channels == {"ch1": [1, 7]}
    other = RateLimiter(None, None, clock=Clock(6000.0))
    other.on_counts(event)
    assert other.admit_channel(channel(rpm=2)) is None and other.admit_channel(channel(rpm=2)) == 60
