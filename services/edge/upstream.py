"""Calling upstream channels: one ordered loop over the candidates, failing over only
before anything reached the client, and gathering every attempt's failure into one error."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from services.edge.providers import adapter_for
from services.edge.providers.base import Adapter, UpstreamRequest
from services.edge.routes import Route
from tollgate.errors import BadRequest, RateLimited, TollgateError, UpstreamError, UpstreamTimeout
from tollgate.rpc import router_pb2 as pb

# Upstream answers that say "this request is wrong" (the client's fault): passed back, no failover.
CLIENT_ERRORS = frozenset({400, 413, 422})


@dataclass
class Attempt:
    channel_id: str
    cause: str
    status: int = 0
    timeout: bool = False
    retry_after: str = ""


@dataclass
class Outcome:
    """What the loop settled on: an open upstream response and who produced it."""

    response: httpx.Response
    candidate: pb.Candidate
    adapter: Adapter
    attempts: int
    upstream_s: float
    failures: list[Attempt] = field(default_factory=list)


class CallFailed(Exception):
    """Every candidate failed (or the upstream refused the request itself)."""

    def __init__(self, error: TollgateError, attempts: int, upstream_s: float, last: pb.Candidate | None):
        super().__init__(error.message)
        self.error = error
        self.attempts = attempts
        self.upstream_s = upstream_s
        self.last = last


Build = Callable[[pb.Candidate, Adapter, str], UpstreamRequest | None]


async def call(client: httpx.AsyncClient, route: Route, build: Build, *, environ=os.environ) -> Outcome:
    """Try the route's candidates in order; ``build(candidate, adapter, secret)`` makes each attempt's request."""
    failures: list[Attempt] = []
    upstream_s = 0.0
    attempts = 0
    last: pb.Candidate | None = None
    for candidate in route.candidates:
        adapter = adapter_for(candidate.provider)
        if adapter is None:
            failures.append(Attempt(candidate.channel_id, f"no adapter for provider {candidate.provider!r}"))
            continue
        secret = environ.get(candidate.api_key_env, "") if candidate.api_key_env else ""
        if candidate.api_key_env and not secret:
            failures.append(Attempt(candidate.channel_id, f"credential {candidate.api_key_env} is not configured"))
            continue
        req = build(candidate, adapter, secret)
        if req is None:
            failures.append(Attempt(candidate.channel_id, f"provider {candidate.provider!r} does not serve this endpoint"))
            continue
        attempts += 1
        last = candidate
        started = time.perf_counter()
        try:
            response = await client.send(client.build_request("POST", req.url, headers=req.headers, content=req.body), stream=True)
        except httpx.TimeoutException:
            failures.append(Attempt(candidate.channel_id, "timed out", timeout=True))
            continue
        except httpx.HTTPError as exc:
            failures.append(Attempt(candidate.channel_id, f"connection failed ({type(exc).__name__})"))
            continue
        finally:
            upstream_s += time.perf_counter() - started
        if response.status_code < 400:
            return Outcome(response, candidate, adapter, attempts, upstream_s, failures)
        payload = await _read_quietly(response)
        if response.status_code in CLIENT_ERRORS:
            message = adapter.error_message(payload) or f"upstream rejected the request (HTTP {response.status_code})"
            raise CallFailed(BadRequest(message, code="upstream_bad_request"), attempts, upstream_s, candidate)
        retry_after = response.headers.get("retry-after", "")
        failures.append(Attempt(candidate.channel_id, f"HTTP {response.status_code}", status=response.status_code, retry_after=retry_after))
    raise CallFailed(_summarize(route.model, failures), attempts, upstream_s, last)


async def _read_quietly(response: httpx.Response) -> bytes:
    try:
        return await response.aread()
    except httpx.HTTPError:
        return b""
    finally:
        await response.aclose()


def _summarize(model: str, failures: list[Attempt]) -> TollgateError:
    detail = "; ".join(f"{f.channel_id}: {f.cause}" for f in failures) or "no channel was tried"
    message = f"All upstream channels failed for model {model} ({detail})"
    if failures and all(f.timeout for f in failures):
        return UpstreamTimeout(message)
    if failures and all(f.status == 429 for f in failures):
        waits = [f.retry_after for f in failures if f.retry_after.isdigit()]
        return RateLimited(message, code="upstream_rate_limited", headers={"retry-after": min(waits, key=int)} if waits else None)
    return UpstreamError(message)
