"""The doors' token-count endpoints (Anthropic's ``POST /v1/messages/count_tokens``, Gemini's
``:countTokens``), one path for both: the model's channels that count natively in the door's
own protocol are asked, in the route's order, through the one upstream path (the channel's
secret, health reports, spans, timeouts, failover), and their answer is passed on; when none
can or none answered, the answer is the one estimator's (``tollgate.estimate`` over the request
as canonical), flagged ``x-tollgate-token-count: estimate``. Counting is not metered (no tokens
are generated), but an exhausted account is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from litestar import Request, Response

from services.edge import http_client, proxy, upstream
from services.edge.context import SCOPE_KEY, Edge, timer_of
from services.edge.frontends.base import Frontend
from tollgate import estimate
from tollgate.canonical import ChatRequest
from tollgate.errors import BadRequest, InsufficientQuota
from tollgate.providers.base import COUNT_TOKENS, Adapter, UpstreamRequest
from tollgate.rpc import router_pb2 as pb

Question = dict[str, Any]  # the body to send a counting upstream of the door's protocol


async def authorized(request: Request, door: Frontend) -> None:
    """The caller may count: a known key, an active account, a balance left."""
    edge: Edge = request.app.state.edge
    principal = await proxy.authorize(edge, door.api_key(request))
    if principal.account.balance_micros <= 0:  # counting is free, but not for exhausted accounts
        raise InsufficientQuota("You exceeded your current quota: the account balance is exhausted. Top up to continue.")


async def _from_upstream(request: Request, edge: Edge, door: Frontend, model: str, question: Question) -> Response | None:
    principal = await edge.auth.principal(door.api_key(request))  # cached since ``authorized``: its pricing group
    route = await edge.routes.route(model, principal.group)

    def build(candidate: pb.Candidate, adapter: Adapter, secret: str) -> UpstreamRequest | None:
        if COUNT_TOKENS not in adapter.abilities or adapter.protocol != door.protocol:
            return None
        return adapter.count_tokens_request(candidate.base_url, secret, candidate.upstream_model, question)

    timer = timer_of(request.scope) if SCOPE_KEY in request.scope else None
    settings = edge.settings
    try:
        outcome = await upstream.call(
            edge.client,
            [(route, c) for c in route.candidates],
            build,
            report=edge.outcomes.report,
            max_attempts=settings.max_attempts,
            deadline_s=settings.failover_deadline_s,
            tokens=edge.tokens,
        )
    except upstream.CallFailed as failed:
        if timer is not None:
            timer.upstream_s += failed.upstream_s
        if isinstance(failed.error, BadRequest):  # the upstream refused the question itself
            raise failed.error from None
        return None
    started = time.perf_counter()
    try:
        payload = await outcome.response.aread()
    except http_client.HTTPError:
        return None
    finally:
        await outcome.response.aclose()
        if timer is not None:
            timer.upstream_s += outcome.upstream_s + time.perf_counter() - started
    headers = {"x-tollgate-channel": outcome.candidate.channel_id, "x-tollgate-token-count": "upstream"}
    return Response(content=payload, status_code=200, media_type="application/json", headers=headers)


async def count(
    request: Request,
    door: Frontend,
    model: str,
    question: Question,
    canonical: Callable[[], ChatRequest],
    render: Callable[[int], dict[str, Any]],
) -> Response:
    """The upstream's count of ``question`` when a channel of the door's protocol can count;
    else ``render`` of the estimate of ``canonical()`` (the request read as canonical)."""
    edge: Edge = request.app.state.edge
    answer = await _from_upstream(request, edge, door, model, question)
    if answer is not None:
        return answer
    tokens = estimate.request_tokens(canonical())
    return Response(content=render(tokens), status_code=200, headers={"x-tollgate-token-count": "estimate"})
