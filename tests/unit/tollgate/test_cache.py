"""CachedLookup: TTL cache with single-flight loading, negative caching and invalidation."""

from __future__ import annotations

import asyncio

import pytest

from tollgate.cache import CachedLookup
from tollgate.errors import ModelUnavailable, NotFound, Unauthorized


class Fetcher:
    """A fetch function that counts calls and can be held open with a gate."""

    def __init__(self, value=lambda key, *args: f"value:{key}", error: Exception | None = None):
        self.calls: list[tuple] = []
        self.value = value
        self.error = error
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def __call__(self, key, *args):
        self.calls.append((key, *args))
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.value(key, *args)


async def test_second_get_is_a_hit() -> None:
    fetch = Fetcher()
    cache = CachedLookup(fetch, ttl=60, maxsize=10)
    assert cache.peek("a") is None
    assert await cache.get("a") == "value:a"
    assert await cache.get("a") == "value:a"
    assert fetch.calls == [("a",)]
    assert cache.fetches == 1
    assert cache.peek("a") == "value:a"
    assert await cache.get("b") == "value:b"
    assert cache.fetches == 2


async def test_fetch_args_are_passed_but_not_part_of_the_key() -> None:
    fetch = Fetcher(value=lambda key, secret: f"{key}/{secret}")
    cache = CachedLookup(fetch, ttl=60, maxsize=10)
    assert await cache.get("digest", "secret-1") == "digest/secret-1"
    assert await cache.get("digest", "secret-2") == "digest/secret-1"
    assert fetch.calls == [("digest", "secret-1")]


async def test_concurrent_gets_fetch_once() -> None:
    fetch = Fetcher()
    fetch.gate = asyncio.Event()
    cache = CachedLookup(fetch, ttl=60, maxsize=10)
    waiters = [asyncio.create_task(cache.get("k")) for _ in range(25)]
    other = asyncio.create_task(cache.get("other"))
    await fetch.started.wait()
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    fetch.gate.set()
    assert await asyncio.gather(*waiters) == ["value:k"] * 25
    assert await other == "value:other"
    assert sorted(fetch.calls) == [("k",), ("other",)]
    assert cache.fetches == 2


async def test_concurrent_gets_share_a_failure() -> None:
    fetch = Fetcher(error=RuntimeError("boom"))
    fetch.gate = asyncio.Event()
    cache = CachedLookup(fetch, ttl=60, maxsize=10)
    waiters = [asyncio.create_task(cache.get("k")) for _ in range(5)]
    await fetch.started.wait()
    fetch.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and str(r) == "boom" for r in results)
    assert len(fetch.calls) == 1


async def test_cancelled_waiter_does_not_cancel_the_shared_fetch() -> None:
    fetch = Fetcher()
    fetch.gate = asyncio.Event()
    cache = CachedLookup(fetch, ttl=60, maxsize=10)
    first = asyncio.create_task(cache.get("k"))
    second = asyncio.create_task(cache.get("k"))
    await fetch.started.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    fetch.gate.set()
    assert await second == "value:k"
    assert cache.peek("k") == "value:k"
    assert len(fetch.calls) == 1


async def test_unlisted_errors_are_not_cached() -> None:
    fetch = Fetcher(error=RuntimeError("transient"))
    cache = CachedLookup(fetch, ttl=60, maxsize=10, negative=(Unauthorized,), negative_ttl=60)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            await cache.get("k")
    assert len(fetch.calls) == 3
    fetch.error = None
    assert await cache.get("k") == "value:k"


async def test_negative_caching_of_listed_error() -> None:
    fetch = Fetcher(error=Unauthorized("Incorrect API key provided."))
    cache = CachedLookup(fetch, ttl=60, maxsize=10, negative=(Unauthorized,), negative_ttl=60)
    for _ in range(5):
        with pytest.raises(Unauthorized, match=r"Incorrect API key provided\."):
            await cache.get("bad")
    assert len(fetch.calls) == 1
    assert cache.peek("bad") is None
    # Other keys are unaffected.
    fetch.error = None
    assert await cache.get("good") == "value:good"
    # Invalidation drops the negative entry too.
    cache.invalidate("bad")
    assert await cache.get("bad") == "value:bad"
    assert len(fetch.calls) == 3


async def test_negative_cache_subclass_and_expiry() -> None:
    fetch = Fetcher(error=ModelUnavailable("No available channel for model x"))
    cache = CachedLookup(fetch, ttl=60, maxsize=10, negative=(NotFound, ModelUnavailable), negative_ttl=0.05)
    with pytest.raises(ModelUnavailable):
        await cache.get("x")
    with pytest.raises(ModelUnavailable, match="No available channel for model x"):
        await cache.get("x")
    assert len(fetch.calls) == 1
    await asyncio.sleep(0.08)
    fetch.error = None
    assert await cache.get("x") == "value:x"
    assert len(fetch.calls) == 2


async def test_negative_caching_disabled_without_ttl() -> None:
    fetch = Fetcher(error=Unauthorized("no"))
    cache = CachedLookup(fetch, ttl=60, maxsize=10, negative=(Unauthorized,))  # negative_ttl=0
    for _ in range(3):
        with pytest.raises(Unauthorized):
            await cache.get("k")
    assert len(fetch.calls) == 3


async def test_invalidate_during_inflight_fetch_does_not_store_stale_value() -> None:
    fetch = Fetcher()
    fetch.gate = asyncio.Event()
    cache = CachedLookup(fetch, ttl=60, maxsize=10)
    waiter = asyncio.create_task(cache.get("k"))
    await fetch.started.wait()
    cache.invalidate("k")
    fetch.gate.set()
    assert await waiter == "value:k"  # the waiter still gets its answer...
    assert cache.peek("k") is None  # ...but it is not cached
    fetch.gate = None
    assert await cache.get("k") == "value:k"
    assert len(fetch.calls) == 2
    assert cache.peek("k") == "value:k"


async def test_clear_during_inflight_fetch_does_not_store_stale_value() -> None:
    fetch = Fetcher()
    fetch.gate = asyncio.Event()
    cache = CachedLookup(fetch, ttl=60, maxsize=10)
    waiter = asyncio.create_task(cache.get("k"))
    await fetch.started.wait()
    cache.clear()
    fetch.gate.set()
    await waiter
    assert cache.peek("k") is None


async def test_invalidate_during_inflight_failure_does_not_cache_negative() -> None:
    fetch = Fetcher(error=Unauthorized("revoked"))
    fetch.gate = asyncio.Event()
    cache = CachedLookup(fetch, ttl=60, maxsize=10, negative=(Unauthorized,), negative_ttl=60)
    waiter = asyncio.create_task(cache.get("k"))
    await fetch.started.wait()
    cache.invalidate("k")
    fetch.gate.set()
    with pytest.raises(Unauthorized):
        await waiter
    fetch.gate = None
    fetch.error = None
    assert await cache.get("k") == "value:k"


async def test_invalidate_and_clear_drop_hits() -> None:
    fetch = Fetcher()
    cache = CachedLookup(fetch, ttl=60, maxsize=10)
    await cache.get("a")
    await cache.get("b")
    cache.invalidate("a")
    cache.invalidate("never-cached")
    assert cache.peek("a") is None and cache.peek("b") == "value:b"
    cache.clear()
    assert cache.peek("b") is None
    await cache.get("a")
    await cache.get("b")
    assert len(fetch.calls) == 4


async def test_ttl_expiry() -> None:
    fetch = Fetcher()
    cache = CachedLookup(fetch, ttl=0.05, maxsize=10)
    await cache.get("k")
    await cache.get("k")
    assert len(fetch.calls) == 1
    await asyncio.sleep(0.08)
    assert cache.peek("k") is None
    await cache.get("k")
    assert len(fetch.calls) == 2


async def test_maxsize_bounds_the_cache() -> None:
    fetch = Fetcher()
    cache = CachedLookup(fetch, ttl=60, maxsize=2)
    for key in "abc":
        await cache.get(key)
    assert sum(cache.peek(k) is not None for k in "abc") == 2


async def test_get_after_invalidate_does_not_join_stale_inflight_fetch() -> None:
    state = {"version": 1}
    gate = asyncio.Event()
    calls = []

    async def fetch(key):
        seen = state["version"]  # the answer reflects the source as it was when the call started
        calls.append(seen)
        await gate.wait()
        return f"{key}@v{seen}"

    cache = CachedLookup(fetch, ttl=60, maxsize=10)
    stale = asyncio.create_task(cache.get("k"))
    while not calls:
        await asyncio.sleep(0)
    # The source changes (e.g. the key is revoked) and the cache is told so.
    state["version"] = 2
    cache.invalidate("k")
    fresh = asyncio.create_task(cache.get("k"))
    await asyncio.sleep(0)
    gate.set()
    assert await stale == "k@v1"
    assert await fresh == "k@v2", "a lookup that started after invalidate() got the pre-invalidation answer"


async def test_negative_cache_preserves_error_code() -> None:
    fetch = Fetcher(error=Unauthorized("missing", code="missing_api_key"))
    cache = CachedLookup(fetch, ttl=60, maxsize=10, negative=(Unauthorized,), negative_ttl=60)
    with pytest.raises(Unauthorized):
        await cache.get("k")
    with pytest.raises(Unauthorized) as info:
        await cache.get("k")
    assert info.value.code == "missing_api_key"
