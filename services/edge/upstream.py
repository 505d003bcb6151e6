"""Calling upstream channels: one ordered loop over every (model, channel) attempt of a
request's plan, failing over only before anything reached the client, bounded by a number
of attempts and a deadline, reporting each attempt's outcome for channel health, and
gathering every failure into one error."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.trace import SpanKind

from services.edge import http_client
from services.edge.routes import Route
from tollgate import events, tracing
from tollgate.errors import BadRequest, ModelUnavailable, RateLimited, TollgateError, UpstreamError, UpstreamTimeout
from tollgate.providers import adapter_for
from tollgate.providers.base import Adapter, ChannelMisconfigured, UpstreamRequest
from tollgate.providers.tokens import TokenBroker, TokenError
from tollgate.rpc import router_pb2 as pb

# Upstream answers that say "this request is wrong" (the client's fault): passed back, no failover.
CLIENT_ERRORS = frozenset({400, 413, 422})
AUTH_FAILURES = frozenset({401, 403})


@dataclass
class Attempt:
    channel_id: str
    cause: str
    status: int = 0
    timeout: bool = False
    retry_after: str = ""
    limited: bool = False  # skipped: the channel is at its own RPM/TPM limit
    deadline: bool = False  # the model's total_ms ran out


@dataclass
class Outcome:
    """What the loop settled on: an open upstream response and who produced it."""

    response: http_client.Response
    route: Route
    candidate: pb.Candidate
    adapter: Adapter
    attempts: int
    upstream_s: float
    started: float  # perf_counter() when this attempt was sent
    failures: list[Attempt] = field(default_factory=list)


class CallFailed(Exception):
    """Every attempt failed (or the upstream refused the request itself)."""

    def __init__(
        self, error: TollgateError, attempts: int, upstream_s: float, last: pb.Candidate | None, failures: list[Attempt] | None = None
    ):
        super().__init__(error.message)
        self.error = error
        self.attempts = attempts
        self.upstream_s = upstream_s
        self.last = last
        self.failures = failures or []  # the attempts that failed, in order


Build = Callable[[pb.Candidate, Adapter, str], UpstreamRequest | None]
Report = Callable[[events.ChannelOutcome], None]
# Counts one request against the channel's RPM/TPM limits; None when admitted, else the
# seconds until it has room again (the channel is skipped).
Admit = Callable[[pb.Candidate], int | None]


def _admit_all(_candidate: pb.Candidate) -> int | None:
    return None


def secret_for(candidate: pb.Candidate, environ=os.environ) -> str | None:
    """The channel's upstream secret; None when it is referenced but not configured."""
    if candidate.api_key_env:
        return environ.get(candidate.api_key_env) or None
    if candidate.api_key_file:
        try:
            return Path(candidate.api_key_file).read_text().strip() or None
        except OSError:
            return None
    return ""


def outcome_kind(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 429:
        return "rate_limited"
    if status in AUTH_FAILURES:
        return "auth_failed"
    if status in CLIENT_ERRORS:
        return "client_error"
    return "error"


def _timeout(route: Route, default: http_client.Timeouts, arrived: float = 0.0) -> http_client.Timeouts:
    """The route's timeouts over the client's: connect_ms, first_byte_ms (until the answer's
    first bytes), idle_ms (every gap after that) and total_ms (a deadline counted from
    ``arrived``, the request's arrival, for the whole answer; none when it is unknown)."""
    t = route.timeouts
    if t is None or not (t.connect_ms or t.first_byte_ms or t.idle_ms or t.total_ms):
        return default
    return http_client.Timeouts(
        connect=t.connect_ms / 1000 if t.connect_ms else default.connect,
        read=t.first_byte_ms / 1000 if t.first_byte_ms else default.read,
        idle=t.idle_ms / 1000 if t.idle_ms else default.idle,
        deadline=arrived + t.total_ms / 1000 if t.total_ms and arrived else default.deadline,
    )


# What building an upstream request from a client's body raises when a field has a type or
# shape the translation does not expect (a number where it reads a string, a list for an object).
UNTRANSLATABLE = (TypeError, AttributeError, ValueError, KeyError, IndexError, RecursionError, UnicodeError)


async def call(
    client: http_client.Client,
    plan: list[tuple[Route, pb.Candidate]],
    build: Build,
    *,
    report: Report,
    max_attempts: int,
    deadline_s: float,
    environ=os.environ,
    admit: Admit = _admit_all,
    arrived: float = 0.0,
    tokens: TokenBroker | None = None,
) -> Outcome:
    """Try the plan in order; ``build(candidate, adapter, secret)`` makes each attempt's request.
    ``admit`` counts an attempt against its channel's own limits (a channel at its limit is
    skipped); ``arrived`` (perf_counter of the request's arrival) starts a route's total_ms; a
    channel whose kind mints tokens (``tokens``) gets its cached token as the secret."""
    failures: list[Attempt] = []
    upstream_s = 0.0
    attempts = 0
    last: pb.Candidate | None = None
    give_up_at = time.perf_counter() + deadline_s
    for route, candidate in plan:
        if attempts >= max_attempts or time.perf_counter() >= give_up_at:
            failures.append(Attempt(candidate.channel_id, "not tried: attempt budget or deadline exhausted"))
            break
        try:
            adapter = adapter_for(candidate.provider, candidate.settings, candidate.upstream_model)
        except ValueError:  # settings this edge's adapter does not take (a router of another version)
            adapter = None
        if adapter is None:
            failures.append(Attempt(candidate.channel_id, f"no adapter for provider {candidate.provider!r} with its settings"))
            continue
        secret = secret_for(candidate, environ)
        if secret is None:
            failures.append(Attempt(candidate.channel_id, "its credential is not configured"))
            continue
        if tokens is not None and tokens.mints(candidate.provider):
            try:
                secret = await tokens.secret(candidate.provider, candidate.channel_id, secret)
            except TokenError as err:  # never reached the upstream: the next channel is tried, nothing is metered
                failures.append(Attempt(candidate.channel_id, f"no access token: {err}"))
                continue
        try:
            req = build(candidate, adapter, secret)
        except TollgateError as err:
            raise CallFailed(err, attempts, upstream_s, last, failures) from None
        except ChannelMisconfigured as exc:  # the channel's own configuration, not the client's request: the next channel
            failures.append(Attempt(candidate.channel_id, f"misconfigured: {exc}"))
            continue
        except UNTRANSLATABLE:  # client input of a shape the translation to this upstream cannot take: theirs, not ours
            bad = BadRequest("The request has a field of a type or shape this model's upstream cannot take.", code="invalid_request")
            raise CallFailed(bad, attempts, upstream_s, last, failures) from None
        if req is None:
            failures.append(Attempt(candidate.channel_id, f"provider {candidate.provider!r} does not serve this endpoint"))
            continue
        timeouts = _timeout(route, client.timeouts, arrived)
        if timeouts.deadline and time.perf_counter() >= timeouts.deadline:
            failures.append(Attempt(candidate.channel_id, "not tried: the model's total_ms had passed", timeout=True, deadline=True))
            break
        wait = admit(candidate)
        if wait is not None:
            failures.append(Attempt(candidate.channel_id, "at its own rate limit", retry_after=str(wait), limited=True))
            continue
        attempts += 1
        last = candidate
        started = time.perf_counter()
        span = tracing.child_span(f"upstream {candidate.provider}", kind=SpanKind.CLIENT)  # None unless the request is traced
        if span is not None:
            span.set_attributes(_span_attributes(req.url, candidate, attempts))
        try:
            response = await client.request("POST", req.url, req.headers, req.body, timeouts)
        except http_client.DeadlineExceeded:  # the request's own time is up: no other channel gets a try
            failures.append(Attempt(candidate.channel_id, "ran past the model's total_ms", timeout=True, deadline=True))
            if span is not None:
                tracing.end(span, error="deadline")
            break
        except http_client.TimeoutException:
            _report(report, route, candidate, "timeout", 0, started)
            failures.append(Attempt(candidate.channel_id, "timed out", timeout=True))
            if span is not None:
                tracing.end(span, error="timeout")
            continue
        except http_client.HTTPError as exc:
            _report(report, route, candidate, "error", 0, started)
            failures.append(Attempt(candidate.channel_id, f"connection failed ({type(exc).__name__})"))
            if span is not None:
                tracing.end(span, error=type(exc).__name__)
            continue
        except BaseException as exc:  # cancelled (the client left, shutdown) or unexpected: the span still ends
            if span is not None:
                tracing.end(span, error=type(exc).__name__)
            raise
        finally:
            upstream_s += time.perf_counter() - started
        status = adapter.upstream_status(response.status_code, response.headers)
        if span is not None:  # ends at the response's headers, as HTTP client spans do; the body is the server span's
            span.set_attribute("http.response.status_code", status)
            tracing.end(span, error=str(status) if status >= 400 else "")
        retry_after = response.headers.get("retry-after", "")
        if status in AUTH_FAILURES and tokens is not None:
            tokens.invalidate(candidate.channel_id)  # a refused token is not sent again
        _report(report, route, candidate, outcome_kind(status), status, started, retry_after)
        if status < 400:
            return Outcome(response, route, candidate, adapter, attempts, upstream_s, started, failures)
        payload = await _read_quietly(response)
        if status in CLIENT_ERRORS:
            message = adapter.error_message(payload) or f"upstream rejected the request (HTTP {status})"
            raise CallFailed(BadRequest(message, code="upstream_bad_request"), attempts, upstream_s, candidate, failures)
        failures.append(Attempt(candidate.channel_id, f"HTTP {status}", status=status, retry_after=retry_after))
    model = plan[0][0].model if plan else "?"
    raise CallFailed(_summarize(model, failures), attempts, upstream_s, last, failures)


def _span_attributes(address: str, candidate: pb.Candidate, attempt: int) -> dict[str, Any]:
    """Where the attempt went; never its URL's query (a provider key may ride there) or body."""
    try:
        url = urlsplit(address)
        host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    except ValueError:  # the client refuses it too
        url, host, port = urlsplit(""), "", 0
    return {
        "http.request.method": "POST",
        "server.address": host,
        "server.port": port,
        "url.path": url.path or "/",
        "tollgate.channel": candidate.channel_id,
        "tollgate.provider": candidate.provider,
        "tollgate.attempt": attempt,
    }


def _report(report: Report, route: Route, candidate: pb.Candidate, kind: str, status: int, started: float, retry_after: str = "") -> None:
    report(
        events.ChannelOutcome(
            channel_id=candidate.channel_id,
            model=route.model,
            kind=kind,
            http_status=status,
            latency_ms=int((time.perf_counter() - started) * 1000),
            retry_after_s=float(retry_after) if retry_after.replace(".", "", 1).isdigit() else 0.0,
            occurred_at_ms=time.time_ns() // 1_000_000,
        )
    )


async def _read_quietly(response: http_client.Response) -> bytes:
    try:
        return await response.aread()
    except http_client.HTTPError:
        return b""
    finally:
        await response.aclose()


def attempt_log(failures: list[Attempt]) -> list[events.AttemptNote]:
    """The attempts that reached (or tried to reach) an upstream, as the usage event carries
    them for tickets' diagnostics: channel, status, an error code; never a message body."""
    notes = []
    for f in failures:
        if f.status:
            error = "rate_limited" if f.status == 429 else f"upstream_{f.status}"
        elif f.timeout:
            error = "deadline" if f.deadline else "timeout"
        elif f.cause.startswith("connection"):
            error = "connect"
        else:
            continue  # not tried (budget, limits, configuration): no upstream was involved
        notes.append(events.AttemptNote(channel_id=f.channel_id, status=min(f.status, 65535), error=error))
    return notes[-16:]


def _summarize(model: str, failures: list[Attempt]) -> TollgateError:
    detail = "; ".join(f"{f.channel_id}: {f.cause}" for f in failures) or "no channel was tried"
    message = f"All upstream channels failed for model {model} ({detail})"
    tried = [f for f in failures if f.status or f.timeout or f.cause.startswith("connection")]
    limited = [f for f in failures if f.limited]
    if limited and not tried:  # every channel that could serve it is at its own RPM/TPM limit
        wait = min(int(f.retry_after) for f in limited)
        return RateLimited(
            f"Every channel for model {model} is at its rate limit ({detail}); retry after {wait}s",
            code="channel_rate_limited",
            headers={"retry-after": str(wait)},
        )
    if tried and all(f.timeout for f in tried):
        return UpstreamTimeout(message, code="deadline_exceeded" if tried[-1].deadline else None)
    if tried and all(f.status == 429 for f in tried):
        waits = [f.retry_after for f in tried if f.retry_after.isdigit()]
        return RateLimited(message, code="upstream_rate_limited", headers={"retry-after": min(waits, key=int)} if waits else None)
    if not tried:
        return ModelUnavailable(message, code="no_usable_channel")
    return UpstreamError(message)
