"""Minted upstream tokens: cached per channel, refreshed in the background once half their
life (at most REFRESH_AHEAD_S before expiry) is gone, awaited only when missing or expired,
one refresh at a time, and replaced when the channel's secret changes."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tollgate.providers.tokens import REFRESH_AHEAD_S, TokenBroker, TokenCache, TokenError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeMinter:
    """Counts mints; each blocks until ``release`` when ``gate`` is set (to observe in-flight refreshes)."""

    def __init__(self, lifetime: float = 3600.0) -> None:
        self.lifetime = lifetime
        self.count = 0
        self.gate: threading.Event | None = None
        self.threads: set[str] = set()
        self.fail = False

    def __call__(self) -> tuple[str, float]:
        self.threads.add(threading.current_thread().name)
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail:
            raise TokenError("refused")
        self.count += 1
        return f"token-{self.count}", self.lifetime


async def test_cached_until_refresh_time_then_refreshed_in_the_background() -> None:
    clock, mint = Clock(), FakeMinter(3600)
    cache = TokenCache(mint, clock)
    assert await cache.get() == "token-1"
    assert mint.threads and threading.current_thread().name not in mint.threads  # minted off the event loop
    clock.now += 3600 - REFRESH_AHEAD_S - 1
    assert await cache.get() == "token-1" and mint.count == 1  # still fresh: no refresh
    clock.now += 2  # inside the refresh window: served the current token, refresh started
    mint.gate = threading.Event()
    assert await cache.get() == "token-1"
    assert await cache.get() == "token-1"  # one refresh in flight, not two
    mint.gate.set()
    for _ in range(100):
        if cache.mints == 2:
            break
        await asyncio.sleep(0.01)
    assert mint.count == 2 and await cache.get() == "token-2"


async def test_short_lived_tokens_refresh_at_half_life_and_expired_ones_are_awaited() -> None:
    clock, mint = Clock(), FakeMinter(4)
    cache = TokenCache(mint, clock)
    assert await cache.get() == "token-1"
    clock.now += 1.9
    assert await cache.get() == "token-1" and mint.count == 1
    clock.now += 2.0  # 3.9 s of 4: past the expiry skew (0.4 s): the request waits for a new token
    assert await cache.get() == "token-2" and mint.count == 2


async def test_concurrent_first_requests_share_one_mint_and_failures_are_retried() -> None:
    mint = FakeMinter()
    mint.fail = True
    cache = TokenCache(mint, Clock())
    with pytest.raises(TokenError):
        await cache.get()
    mint.fail = False
    mint.gate = threading.Event()
    waiters = [asyncio.create_task(cache.get()) for _ in range(5)]
    await asyncio.sleep(0.05)
    mint.gate.set()
    assert await asyncio.gather(*waiters) == ["token-1"] * 5 and mint.count == 1


async def test_broker_per_channel_secret_change_and_invalidate() -> None:
    made: list[str] = []

    def factory(secret: str) -> FakeMinter:
        made.append(secret)
        return FakeMinter()

    broker = TokenBroker({"vertex": factory}, Clock())
    assert await broker.secret("openai", "c0", "sk-plain") == "sk-plain"  # a kind that mints nothing
    assert await broker.secret("vertex", "c1", "sa-1") == "token-1"
    assert await broker.secret("vertex", "c1", "sa-1") == "token-1"
    assert await broker.secret("vertex", "c2", "sa-1") == "token-1" and made == ["sa-1", "sa-1"]  # one cache per channel
    broker.invalidate("c1")
    assert await broker.secret("vertex", "c1", "sa-1") == "token-2"
    assert await broker.secret("vertex", "c1", "sa-2") == "token-1" and made[-1] == "sa-2"  # rotated file: a new credential
    assert broker.mints("vertex") and not broker.mints("openai")
