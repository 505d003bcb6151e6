"""Short-lived upstream credentials minted from a channel's secret (an OAuth2 access token
from a service-account file, say), cached per channel and refreshed before they expire.

A provider kind that needs one registers a minter factory (``MINTERS`` in
``tollgate.providers``): ``factory(secret)`` -> a blocking ``mint()`` returning the token and
how many seconds it lives. The edge owns one ``TokenBroker``; a request asks it for the
channel's token and gets the cached one at once while it is fresh. Once a token has lived
past half its lifetime (at most ``REFRESH_AHEAD_S`` before its expiry) the next request
starts one refresh in a worker thread and still goes out with the current token; only a
request that finds no token, or an expired one, waits for the refresh (shared by every
request waiting on it). Tokens are never logged or rendered into errors.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["REFRESH_AHEAD_S", "Minter", "TokenBroker", "TokenCache", "TokenError"]

REFRESH_AHEAD_S = 300.0  # refresh at most this long before expiry (Google tokens live an hour)
EXPIRY_SKEW_S = 30.0  # a token this close to its expiry counts as expired (clock skew, time in flight)


class TokenError(Exception):
    """A token could not be minted (the message never holds a secret)."""


class Minter(Protocol):
    def __call__(self) -> tuple[str, float]:
        """Blocking: a fresh token and the seconds it lives."""
        ...


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: float  # clock time from which a request starts a background refresh
    expires_at: float  # clock time from which a request waits for a new token


class TokenCache:
    """One channel's token: at most one refresh in flight, run off the event loop."""

    def __init__(self, mint: Minter, clock: Callable[[], float] = time.monotonic) -> None:
        self._mint = mint
        self._clock = clock
        self._token: _Token | None = None
        self._refreshing: asyncio.Task[_Token] | None = None
        self.mints = 0  # completed mints (for tests and metrics)

    async def get(self) -> str:
        now = self._clock()
        token = self._token
        if token is None or now >= token.expires_at:
            return (await asyncio.shield(self._refresh())).value
        if now >= token.refresh_at:
            self._refresh()  # in the background: this request goes out with the current token
        return token.value

    def invalidate(self) -> None:
        """Forget the token (the upstream refused it): the next request mints a new one."""
        self._token = None

    def _refresh(self) -> asyncio.Task[_Token]:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.get_running_loop().create_task(self._run())
            self._refreshing.add_done_callback(_consume)
        return self._refreshing

    async def _run(self) -> _Token:
        started = self._clock()
        value, lifetime = await asyncio.to_thread(self._mint)
        if not value or lifetime <= 0:
            raise TokenError("the token endpoint answered no usable token")
        expires = started + lifetime
        token = _Token(
            value, refresh_at=expires - min(REFRESH_AHEAD_S, lifetime / 2), expires_at=expires - min(EXPIRY_SKEW_S, lifetime / 10)
        )
        self._token = token
        self.mints += 1
        return token


def _consume(task: asyncio.Task[_Token]) -> None:
    """A background refresh's failure is retried by the next request; never left unretrieved."""
    if not task.cancelled():
        task.exception()


class TokenBroker:
    """The edge's minted credentials: one ``TokenCache`` per channel, replaced when the
    channel's secret changes (a rotated service-account file)."""

    def __init__(self, factories: Mapping[str, Callable[[str], Minter]], clock: Callable[[], float] = time.monotonic) -> None:
        self._factories = factories
        self._clock = clock
        self._caches: dict[str, tuple[str, TokenCache]] = {}

    def mints(self, kind: str) -> bool:
        return kind in self._factories

    async def secret(self, kind: str, channel_id: str, secret: str) -> str:
        """What the adapter sends for this channel: its minted token, or the secret itself
        for a kind that mints none. Raises ``TokenError``."""
        factory = self._factories.get(kind)
        if factory is None:
            return secret
        digest = hashlib.blake2b(secret.encode(), digest_size=16).hexdigest()
        held = self._caches.get(channel_id)
        if held is None or held[0] != digest:
            held = digest, TokenCache(factory(secret), self._clock)
            self._caches[channel_id] = held
        return await held[1].get()

    def invalidate(self, channel_id: str) -> None:
        held = self._caches.get(channel_id)
        if held is not None:
            held[1].invalidate()

    def cache(self, channel_id: str) -> TokenCache | None:
        held = self._caches.get(channel_id)
        return held[1] if held else None
