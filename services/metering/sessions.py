"""Console sessions in metering's HTTP app: the session cookie, CSRF on unsafe methods, the web
rate limit, and the principal a session resolves to (through the Identity service).

A signed-in browser holds two cookies: ``tollgate_session`` (the session token: HttpOnly,
Secure, SameSite=Lax) and ``tollgate_csrf`` (readable by the page, SameSite=Strict), whose
value the page sends back in ``x-csrf-token`` on POST, PUT, PATCH and DELETE. The server
recomputes it from the session token (``tollgate.identity.csrf_token``): a cross-site form
or script cannot read it, so it cannot forge an unsafe request. A bearer credential
(API key, admin token) needs no CSRF token: browsers never send it on their own.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque

import grpc
from litestar import Request

from tollgate import errors, identity
from tollgate.cache import CachedLookup
from tollgate.errors import Forbidden, RateLimited, Unauthorized
from tollgate.rpc import identity_pb2 as pb
from tollgate.rpc import identity_pb2_grpc as pb_grpc

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
GRPC_OVERRIDES: dict[grpc.StatusCode, type[errors.TollgateError]] = {grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimited}


def session_cookie(request: Request) -> str:
    """The session token in the request's cookie ("" when none or malformed)."""
    token = request.cookies.get(identity.SESSION_COOKIE, "")
    return token if identity.looks_like(token, identity.SESSION_PREFIX) else ""


def check_csrf(request: Request, token: str) -> None:
    """Refuse an unsafe method whose ``x-csrf-token`` header does not match the session."""
    if request.method.upper() in UNSAFE_METHODS and not identity.csrf_ok(token, request.headers.get(identity.CSRF_HEADER, "")):
        raise Forbidden(
            "Missing or wrong CSRF token: send the tollgate_csrf cookie's value in the x-csrf-token header.", code="csrf_failed"
        )


def cookie_credential(request: Request) -> str:
    """The session token of a cookie-authenticated request, CSRF-checked ("" when there is no session cookie)."""
    token = session_cookie(request)
    if token:
        check_csrf(request, token)
    return token


def grpc_error(err: grpc.aio.AioRpcError) -> errors.TollgateError:
    """An Identity RPC's error; a throttled one keeps its retry-after seconds."""
    converted = errors.from_grpc(err, GRPC_OVERRIDES)
    retry = next((v for k, v in (err.trailing_metadata() or ()) if k == "retry-after"), None)
    if isinstance(converted, RateLimited) and isinstance(retry, str) and retry.isdigit():
        converted.headers = {"retry-after": retry}
    return converted


class WebLimiter:
    """At most ``limit`` requests per rolling minute per signed-in user (the console's web limit)."""

    def __init__(self, limit: int = 120, window_s: float = 60.0, max_users: int = 100_000):
        self._limit = limit
        self._window = window_s
        self._max_users = max_users
        self._seen: dict[str, deque[float]] = {}

    def hit(self, user_id: str, now: float | None = None) -> None:
        if self._limit <= 0:
            return
        now = time.monotonic() if now is None else now
        times = self._seen.get(user_id)
        if times is None:
            if len(self._seen) >= self._max_users:
                self._seen.clear()  # bounded memory: forgetting everyone only ever allows more
            times = self._seen[user_id] = deque()
        while times and times[0] <= now - self._window:
            times.popleft()
        if len(times) >= self._limit:
            retry = max(1, math.ceil(times[0] + self._window - now))
            raise RateLimited(
                f"Too many console requests: at most {self._limit} a minute. Try again in {retry} seconds.",
                code="web_rate_limited",
                headers={"retry-after": str(retry)},
            )
        times.append(now)


class SessionResolver:
    """Session token -> SessionInfo, via Identity.ResolveSession (over a channel that presents
    the admin credential), cached for ``ttl`` seconds by the token's hash (never the token)."""

    def __init__(self, stub: pb_grpc.IdentityStub, *, ttl: float = 5.0, web_rpm: int = 120):
        self._stub = stub
        self.limiter = WebLimiter(web_rpm)
        self._cache: CachedLookup[str, pb.SessionInfo] = CachedLookup(
            self._resolve, ttl=ttl, maxsize=10_000, negative=(Unauthorized,), negative_ttl=2.0
        )

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def hit(self, token: str) -> None:
        """Count one console request of this session against the web limit."""
        self.limiter.hit(self._key(token)[:32])

    async def session(self, token: str) -> pb.SessionInfo:
        return await self._cache.get(self._key(token), token)

    def forget(self, token: str) -> None:
        self._cache.invalidate(self._key(token))

    async def _resolve(self, _key: str, token: str) -> pb.SessionInfo:
        try:
            return await self._stub.ResolveSession(pb.ResolveSessionRequest(session_token=token), timeout=5)
        except grpc.aio.AioRpcError as err:
            raise grpc_error(err) from None
