"""``POST /v1/chat/completions``: the OpenAI front door, non-streaming and SSE."""

from __future__ import annotations

import time

import httpx
import msgspec
from litestar import Request, Response
from litestar.response import Stream

from services.edge.auth import Principal
from services.edge.context import SCOPE_KEY, Edge, RequestTimer
from services.edge.providers.base import Usage
from services.edge.routes import Route
from services.edge.upstream import CallFailed, Outcome, call
from tollgate import events
from tollgate.errors import BadRequest, InsufficientQuota, UpstreamError, UpstreamTimeout
from tollgate.pricing import cost_micros

_JSON = msgspec.json.Decoder()
_ENCODE = msgspec.json.encode
DONE = b"data: [DONE]\n\n"


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def authorize(edge: Edge, request: Request) -> Principal:
    principal = await edge.auth.principal(bearer(request))
    if principal.account.balance_micros <= 0:
        raise InsufficientQuota("You exceeded your current quota: the account balance is exhausted. Top up to continue.")
    return principal


def parse_chat(raw: bytes) -> dict:
    try:
        body = _JSON.decode(raw)
    except msgspec.DecodeError:
        raise BadRequest("The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("you must provide a model parameter", code="missing_model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array", code="invalid_messages")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise BadRequest("'stream' must be a boolean", code="invalid_stream")
    return body


class Meter:
    """Builds the one usage event of a request; content never passes through here."""

    def __init__(self, edge: Edge, request: Request, timer: RequestTimer, principal: Principal, body: dict, route: Route):
        self.edge = edge
        self.timer = timer
        self.principal = principal
        self.route = route
        self.model_requested = body["model"]
        self.stream = bool(body.get("stream"))
        self.client_app = (request.headers.get("x-title") or request.headers.get("http-referer") or "")[:200]
        self.ttft_ms = 0

    def publish(self, *, status: int, usage: Usage | None, attempts: int, outcome: Outcome | None = None, channel=None, error_code: str = "") -> None:
        usage = usage or Usage()
        price = self.route.price
        channel = outcome.candidate if outcome else channel
        cost = cost_micros(
            usage.prompt_tokens,
            usage.completion_tokens,
            price.input_per_mtok_micros,
            price.output_per_mtok_micros,
            usage.cached_tokens,
            price.cached_input_per_mtok_micros,
        )
        upstream_ms = int(self.timer.upstream_s * 1000)
        self.edge.publisher.submit(
            events.UsageEvent(
                request_id=self.timer.request_id,
                occurred_at_ms=time.time_ns() // 1_000_000,
                account_id=self.principal.account_id,
                key_id=self.principal.key_id,
                endpoint="chat",
                model_requested=self.model_requested,
                model_served=self.route.model,
                provider=channel.provider if channel else "",
                channel_id=channel.channel_id if channel else "",
                stream=self.stream,
                status=status,
                error_code=error_code,
                attempts=attempts,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cached_tokens=usage.cached_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                cost_micros=cost,
                price_version=price.version,
                latency_ms=self.timer.elapsed_ms(),
                ttft_ms=self.ttft_ms,
                upstream_latency_ms=upstream_ms,
                gateway_overhead_ms=int(self.timer.overhead_ms()),
                client_app=self.client_app,
            )
        )


async def chat_completions(request: Request) -> Response:
    edge: Edge = request.app.state.edge
    timer: RequestTimer = request.scope[SCOPE_KEY]
    principal = await authorize(edge, request)
    body = parse_chat(await request.body())
    route = await edge.routes.route(body["model"])
    meter = Meter(edge, request, timer, principal, body, route)
    try:
        outcome = await call(edge.client, route, body, stream=meter.stream)
    except CallFailed as failed:
        timer.upstream_s += failed.upstream_s
        if failed.attempts:  # an upstream was reached: the request is metered
            meter.publish(status=failed.error.status, usage=None, attempts=failed.attempts, channel=failed.last, error_code=failed.error.code or "")
        raise failed.error from None
    timer.upstream_s += outcome.upstream_s
    if meter.stream:
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return Stream(relay(outcome, meter, wants_usage), media_type="text/event-stream", headers=_channel_headers(outcome))
    return await complete(outcome, meter)


def _channel_headers(outcome: Outcome) -> dict[str, str]:
    return {"x-tollgate-channel": outcome.candidate.channel_id, "x-tollgate-attempts": str(outcome.attempts), "cache-control": "no-cache"}


async def complete(outcome: Outcome, meter: Meter) -> Response:
    started = time.perf_counter()
    try:
        payload = await outcome.response.aread()
    except httpx.TimeoutException:
        meter.publish(status=504, usage=None, attempts=outcome.attempts, outcome=outcome, error_code="upstream_timeout")
        raise UpstreamTimeout("The upstream timed out while sending its answer.") from None
    except httpx.HTTPError:
        meter.publish(status=502, usage=None, attempts=outcome.attempts, outcome=outcome, error_code="upstream_error")
        raise UpstreamError("The upstream connection failed while sending its answer.") from None
    finally:
        meter.timer.upstream_s += time.perf_counter() - started
        await outcome.response.aclose()
    usage = outcome.adapter.completion_usage(payload)
    meter.ttft_ms = meter.timer.elapsed_ms()
    meter.publish(status=200, usage=usage, attempts=outcome.attempts, outcome=outcome)
    return Response(content=payload, status_code=200, media_type="application/json", headers=_channel_headers(outcome))


async def relay(outcome: Outcome, meter: Meter, wants_usage: bool):
    """Pass SSE events through as they arrive, reading only the usage they carry."""
    usage: Usage | None = None
    status, error_code = 200, ""
    buffer = b""
    try:
        pieces = outcome.response.aiter_bytes().__aiter__()
        while True:
            waited = time.perf_counter()
            try:
                piece = await pieces.__anext__()
            except StopAsyncIteration:
                break
            finally:
                meter.timer.upstream_s += time.perf_counter() - waited
            buffer += piece
            while (newline := buffer.find(b"\n")) >= 0:
                line, buffer = buffer[:newline].rstrip(b"\r"), buffer[newline + 1 :]
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].lstrip()
                if payload == b"[DONE]":
                    continue
                chunk = outcome.adapter.chunk(payload)
                if chunk is not None:
                    if chunk.usage is not None:
                        usage = chunk.usage
                        if not chunk.has_choices and not wants_usage:
                            continue
                    if chunk.has_choices and not meter.ttft_ms:
                        meter.ttft_ms = meter.timer.elapsed_ms()
                yield b"data: " + payload + b"\n\n"
    except httpx.HTTPError as exc:
        timeout = isinstance(exc, httpx.TimeoutException)
        err = (UpstreamTimeout if timeout else UpstreamError)("The upstream stream ended abnormally.")
        status, error_code = err.status, err.code or ""
        yield b"data: " + _ENCODE(err.to_openai()) + b"\n\n"
    except BaseException:  # the client went away (cancelled): bill what was delivered
        status, error_code = 499, "client_closed"
        raise
    finally:
        await outcome.response.aclose()
        meter.publish(status=status, usage=usage, attempts=outcome.attempts, outcome=outcome, error_code=error_code)
    yield DONE
