"""The Anthropic door's ``POST /v1/messages/count_tokens``: an Anthropic channel counts
natively; otherwise the answer is ``estimate_tokens`` (an estimate, flagged in a header)."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response

from services.edge import http_client, limits, proxy, upstream
from services.edge.context import SCOPE_KEY, Edge, timer_of
from services.edge.frontends.base import Frontend
from services.edge.frontends.openai import decode_object
from tollgate.errors import BadRequest, InsufficientQuota
from tollgate.estimate import anthropic_tokens as estimate_tokens
from tollgate.providers.base import COUNT_TOKENS, Adapter, UpstreamRequest
from tollgate.rpc import router_pb2 as pb

# Messages-only generation settings Anthropic's count_tokens endpoint does not accept.
_NOT_COUNTED = ("max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences", "metadata", "service_tier")


async def _count_upstream(request: Request, edge: Edge, model: str, body: dict[str, Any]) -> Response | None:
    """Ask the model's channels that can count (Anthropic's), in the route's order, through the
    one upstream path (the channel's secret, health reports, spans, timeouts, failover); None
    when none can or none answered."""
    question = {k: v for k, v in body.items() if k not in _NOT_COUNTED}
    route = await edge.routes.route(model)

    def build(candidate: pb.Candidate, adapter: Adapter, secret: str) -> UpstreamRequest | None:
        if COUNT_TOKENS not in adapter.abilities:
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


async def serve(request: Request, door: Frontend) -> Response:
    """Anthropic channels count natively; otherwise the answer is ``estimate_tokens``."""
    edge: Edge = request.app.state.edge
    principal = await proxy.authorize(edge, door.api_key(request))
    if principal.account.balance_micros <= 0:  # counting is free, but not for exhausted accounts
        raise InsufficientQuota("You exceeded your current quota: the account balance is exhausted. Top up to continue.")
    body = decode_object(await request.body())
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required", code="missing_model")
    limits.check_model_name(model)
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise BadRequest("messages: must be a non-empty array", code="invalid_messages")
    answer = await _count_upstream(request, edge, model, body)
    if answer is not None:
        return answer
    return Response(content={"input_tokens": estimate_tokens(body)}, status_code=200, headers={"x-tollgate-token-count": "estimate"})
