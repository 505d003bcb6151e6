"""Bounded TTL caches with single-flight loading and push invalidation."""

from __future__ import annotations

import asyncio
import copy
import functools
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from cachetools import TTLCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class CachedLookup(Generic[K, V]):
    """``await lookup.get(key)`` answers from memory while fresh, else calls ``fetch(key, *fetch_args)`` once
    however many requests wait for the same key. Exceptions listed in ``negative`` are
    remembered for ``negative_ttl`` seconds (so a flood of bad keys costs one RPC)."""

    def __init__(
        self,
        fetch: Callable[..., Awaitable[V]],
        *,
        ttl: float,
        maxsize: int,
        negative: tuple[type[Exception], ...] = (),
        negative_ttl: float = 0.0,
    ):
        self._fetch = fetch
        self._hits: TTLCache[K, V] = TTLCache(maxsize, ttl)
        self._misses: TTLCache[K, Exception] | None = TTLCache(maxsize, negative_ttl) if negative and negative_ttl > 0 else None
        self._negative = negative
        self._inflight: dict[K, asyncio.Task[V]] = {}
        self._generation = 0
        self.fetches = 0

    def _forget(self, key: K, task: asyncio.Task[V]) -> None:
        """A finished load leaves the in-flight table, unless a newer one took its place."""
        if self._inflight.get(key) is task:
            self._inflight.pop(key)

    async def get(self, key: K, *fetch_args: Any) -> V:
        try:
            return self._hits[key]
        except KeyError:
            pass
        if self._misses is not None:
            err = self._misses.get(key)
            if err is not None:
                raise copy.copy(err).with_traceback(None)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key, self._generation, fetch_args))
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._forget, key))
        return await asyncio.shield(task)

    async def _load(self, key: K, generation: int, fetch_args: tuple[Any, ...]) -> V:
        self.fetches += 1
        try:
            value = await self._fetch(key, *fetch_args)
        except self._negative as err:
            if self._misses is not None and generation == self._generation:
                self._misses[key] = err
            raise
        if generation == self._generation:  # nothing was invalidated while we fetched
            self._hits[key] = value
        return value

    def __len__(self) -> int:
        """Entries held (expired ones may count until the next access evicts them)."""
        return len(self._hits)

    def peek(self, key: K) -> V | None:
        return self._hits.get(key)

    def invalidate(self, key: K) -> None:
        self._generation += 1
        self._hits.pop(key, None)
        self._inflight.pop(key, None)  # later callers must not join a fetch that began before
        if self._misses is not None:
            self._misses.pop(key, None)

    def clear(self) -> None:
        self._generation += 1
        self._hits.clear()
        self._inflight.clear()
        if self._misses is not None:
            self._misses.clear()
