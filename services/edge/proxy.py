"""One request path for every front door: authenticate, route, call upstream with
failover, translate between protocols when they differ, stream, and meter."""

from __future__ import annotations

import time
import weakref
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.response import Stream

from services.edge import http_client, limits, naming, preauth
from services.edge.auth import Principal
from services.edge.context import Edge, RequestTimer, timer_of
from services.edge.frontends.base import Frontend, Parsed
from services.edge.leases import Hold
from services.edge.routes import Route
from services.edge.selection import Options, order, take_options
from services.edge.upstream import Attempt, CallFailed, Outcome, attempt_log, call
from tollgate import estimate, events, sse
from tollgate import units as units_
from tollgate.canonical import ChatRequest
from tollgate.errors import ModelNotFound, ModelUnavailable, TollgateError, UpstreamError, UpstreamTimeout
from tollgate.pricing import cost_micros
from tollgate.providers.base import CHAT, Adapter, Operation, Usage
from tollgate.rpc import router_pb2 as pb

_ENCODE = msgspec.json.encode


def client_address(request: Request | None) -> str:
    """The client's address as the server saw it ("" when unknown)."""
    client = request.scope.get("client") if request is not None else None
    return str(client[0]) if client else ""


async def authorize(edge: Edge, key: str, request: Request | None = None) -> Principal:
    """The caller, with an active account and within its key's rate limits (counted here).
    Whether the balance covers the request is decided once its cost bound is known (``prepare``)."""
    principal = await edge.auth.principal(key, client_address(request))
    principal.check_status()
    if request is not None:
        timer_of(request.scope).headers.update(edge.limiter.admit(principal))
    return principal


class Meter:
    """Builds the one usage event of a request; content never passes through here."""

    def __init__(
        self,
        edge: Edge,
        request: Request,
        principal: Principal,
        route: Route,
        *,
        endpoint: str,
        model: str,
        stream: bool,
        zdr: bool = False,
    ):
        self.edge = edge
        self.timer: RequestTimer = timer_of(request.scope)
        self.principal = principal
        self.route = route
        self.endpoint = endpoint
        self.model_requested = model
        self.stream = stream
        self.zdr = zdr
        self.client_app = (request.headers.get("x-title") or request.headers.get("http-referer") or "")[:200]
        self.ttft_ms = 0
        self.hold: Hold | None = None
        self.failures: list[Attempt] = []  # failed upstream attempts before the answer (tickets' diagnostics)
        self.timer.model = route.model

    def held(self, hold: Hold) -> None:
        """Tie the request's pre-authorization to this meter: settled when it publishes, or
        released in full if the request ends without reaching an upstream."""
        self.hold = hold
        weakref.finalize(self, hold.settle, 0)

    def release(self) -> None:
        if self.hold is not None:
            self.hold.settle(0)

    def publish(
        self,
        *,
        status: int,
        usage: Usage | None,
        attempts: int,
        channel: pb.Candidate | None,
        error_code: str = "",
        route: Route | None = None,
        estimated: bool = False,
        units: list[events.UnitUsage] | None = None,
    ) -> None:
        usage = (usage or Usage()).bounded()
        units = units or []
        route = route or self.route
        tokens = usage.prompt_tokens + usage.completion_tokens
        self.edge.limiter.add_tokens(self.principal.key_id, tokens)
        if channel is not None:
            self.edge.limiter.add_channel_tokens(channel, tokens)
        price = route.price_for(channel)  # the serving channel's own price when it has one
        cost = cost_micros(
            usage.prompt_tokens,
            usage.completion_tokens,
            price.input_per_mtok_micros,
            price.output_per_mtok_micros,
            usage.cached_tokens,
            price.cached_input_per_mtok_micros,
            cache_write_tokens=usage.cache_write_tokens,
            cache_write_per_mtok=price.cache_write_per_mtok_micros,
        ) + units_.cost_micros(units, price)
        lease_id = self.hold.settle(cost) if self.hold is not None else ""
        self.timer.model, self.timer.status = route.model, status
        self.edge.metrics.metered(
            provider=channel.provider if channel else "",
            model=route.model,
            upstream_s=self.timer.upstream_s,
            ttft_s=self.ttft_ms / 1000,
            tokens={
                "prompt": usage.prompt_tokens,
                "completion": usage.completion_tokens,
                "cached": usage.cached_tokens,
                "reasoning": usage.reasoning_tokens,
            },
            cost_micros=cost,
        )
        now_ms = time.time_ns() // 1_000_000
        if self.principal.spend is not None:
            self.principal.spend.add(cost, now_ms)
        span = self.timer.span
        if span is not None and span.is_recording():  # tracing on: who served it (never what was said)
            span.set_attributes(
                {
                    "tollgate.provider": channel.provider if channel else "",
                    "tollgate.channel": channel.channel_id if channel else "",
                    "tollgate.attempts": attempts,
                    "tollgate.stream": self.stream,
                    "tollgate.account_id": self.principal.account_id,
                    "gen_ai.usage.input_tokens": usage.prompt_tokens,
                    "gen_ai.usage.output_tokens": usage.completion_tokens,
                }
            )
        self.edge.publisher.submit(
            events.UsageEvent(
                request_id=self.timer.request_id,
                occurred_at_ms=now_ms,
                account_id=self.principal.account_id,
                key_id=self.principal.key_id,
                endpoint=self.endpoint,
                model_requested=self.model_requested,
                model_served=route.model,
                provider=channel.provider if channel else "",
                channel_id=channel.channel_id if channel else "",
                stream=self.stream,
                status=status,
                error_code=error_code,
                attempts=attempts,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cached_tokens=usage.cached_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                cost_micros=cost,
                price_version=price.version,
                latency_ms=self.timer.elapsed_ms(),
                ttft_ms=self.ttft_ms,
                upstream_latency_ms=int(self.timer.upstream_s * 1000),
                gateway_overhead_ms=int(self.timer.overhead_ms()),
                client_app=self.client_app,
                usage_estimated=estimated,
                zdr=self.zdr,
                lease_id=lease_id,
                sensitivity=route.sensitivity,
                attempt_log=attempt_log(self.failures),
                units=units,
            ),
            parent=span,  # the usage message continues the request's trace
        )


async def chat(request: Request, frontend: Frontend, *, model: str | None = None, stream: bool | None = None) -> Response:
    """Serve one chat request arriving at ``frontend``'s door, whatever the upstream speaks."""
    edge: Edge = request.app.state.edge
    timer_of(request.scope).endpoint = frontend.endpoint
    principal = await authorize(edge, frontend.api_key(request), request)
    raw = await request.body()
    parsed = frontend.parse(raw, model=model, stream=stream)
    forwarded = frontend.forward_headers(request)  # validated before anything is held
    plan, meter = await prepare(
        edge, request, principal, parsed.body, parsed.model, endpoint=frontend.endpoint, stream=parsed.stream, size=len(raw)
    )
    canonical: list[ChatRequest] = []  # translated at most once, and only if an upstream needs it

    def build(candidate: pb.Candidate, adapter: Adapter, secret: str):
        if CHAT not in adapter.abilities:
            return None  # a retrieval-only kind (cohere, jina, voyage): the upstream loop skips it
        if (speaker := adapter.native_for(frontend.protocol)) is not None:  # the client's own body, never decoded into canonical
            req = speaker.native_request(candidate.base_url, secret, candidate.upstream_model, parsed.body, stream=parsed.stream)
            return msgspec.structs.replace(req, headers={**req.headers, **dict(forwarded)}) if forwarded else req
        if not canonical:
            canonical.append(frontend.to_canonical(parsed))
        return adapter.chat_request(candidate.base_url, secret, candidate.upstream_model, canonical[0], stream=parsed.stream)

    outcome = await attempt(edge, plan, build, meter)
    speaker = outcome.adapter.native_for(frontend.protocol)
    native = speaker is not None
    if speaker is not None:  # what reads a passed-through answer's usage (a view of the channel for another protocol)
        outcome.adapter = speaker
    headers = served_headers(outcome)
    if parsed.stream:
        headers["cache-control"] = "no-cache"
        return Stream(relay(outcome, meter, frontend, parsed, native), media_type="text/event-stream", headers=headers)
    return await complete(outcome, meter, frontend, parsed, native, headers)


async def prepare(
    edge: Edge,
    request: Request,
    principal: Principal,
    body: dict[str, Any],
    model: str,
    *,
    endpoint: str,
    stream: bool,
    size: int,
    completes: bool = True,
    units: list[events.UnitUsage] | None = None,
) -> tuple[list[tuple[Route, pb.Candidate]], Meter]:
    """What every endpoint does between parsing and calling upstream: take the request's
    routing options out of its body, check the key may use every model it names, plan
    the attempts, pre-authorize the worst-case cost (spend caps, then the balance lease)
    and open the request's meter."""
    if (span := timer_of(request.scope).span) is not None:
        span.set_attribute("tollgate.model_requested", model)
    edge.publisher.check_accepting()  # 503 while usage cannot be made durable
    options = take_options(body, model, require_zdr=principal.require_zdr)
    for name in options.models:
        principal.check_model(name)
    plan = await plan_for(edge, options, principal.group)
    settings = edge.settings
    routes = {id(route): route for route, _ in plan}.values()
    bounds = limits.cost_bounds(body)  # every field that bounds the cost: validated, never guessed
    worst = preauth.worst_case_micros(
        routes, size, bounds.max_output, settings.default_max_output_tokens, completes=completes, choices=bounds.choices, units=units or ()
    )
    spend = principal.spend
    if spend is None and not principal.budgeted:
        hold = await edge.leases.hold(principal.account_id, worst, principal.account.balance_micros)
    else:  # a capped or budgeted key: its own lease, which accounts grants within its caps (its parents', its budgets)
        now_ms = time.time_ns() // 1_000_000
        hints = [principal.budget_room_micros] if principal.budgeted else []
        if spend is not None:
            spend.check(worst, now_ms)
            hints.append(spend.room(now_ms))
        hold = await edge.leases.hold(
            principal.account_id, worst, principal.account.balance_micros, key_id=principal.key_id, cap_hint=min(hints)
        )
    meter = Meter(edge, request, principal, plan[0][0], endpoint=endpoint, model=model, stream=stream, zdr=options.prefs.zdr)
    meter.held(hold)
    return plan, meter


def served_headers(outcome: Outcome) -> dict[str, str]:
    return {"x-tollgate-channel": outcome.candidate.channel_id, "x-tollgate-attempts": str(outcome.attempts)}


async def plan_for(edge: Edge, options: Options, group: str = "default") -> list[tuple[Route, pb.Candidate]]:
    """Every (model, channel) attempt of a request, in order: each model's channels as the
    request's preferences order them, then the next fallback model's."""
    plan: list[tuple[Route, pb.Candidate]] = []
    unknown: list[ModelNotFound] = []
    for model in options.models:
        try:
            route = await edge.routes.route(model, group)
        except ModelNotFound as err:
            unknown.append(err)
            continue
        except ModelUnavailable:
            continue
        plan.extend((route, c) for c in order(list(route.candidates), options.prefs, edge.rng, route.price))
    if len(unknown) == len(options.models):  # no model the request names exists: 404, as the providers answer
        raise unknown[0]
    if not plan:
        wanted = options.prefs.describe()
        raise ModelUnavailable(
            f"No available channel for model {options.models[0]}"
            + (f" matching the request's provider preferences ({wanted})" if wanted else "")
        )
    return plan


async def attempt(edge: Edge, plan: list[tuple[Route, pb.Candidate]], build, meter: Meter) -> Outcome:
    settings = edge.settings
    try:
        outcome = await call(
            edge.client,
            plan,
            build,
            report=edge.outcomes.report,
            max_attempts=settings.max_attempts,
            deadline_s=settings.failover_deadline_s,
            admit=edge.limiter.admit_channel,
            arrived=meter.timer.started,
            tokens=edge.tokens,
        )
    except CallFailed as failed:
        meter.timer.upstream_s += failed.upstream_s
        meter.failures = failed.failures
        if failed.attempts:  # an upstream was reached: the request is metered
            meter.publish(
                status=failed.error.status, usage=None, attempts=failed.attempts, channel=failed.last, error_code=failed.error.code or ""
            )
        else:
            meter.release()
        raise failed.error from None
    meter.timer.upstream_s += outcome.upstream_s
    meter.route = outcome.route
    meter.failures = outcome.failures
    return outcome


async def read_body(outcome: Outcome, meter: Meter) -> bytes:
    started = time.perf_counter()
    try:
        return await outcome.response.aread()
    except http_client.HTTPError as exc:
        raise _fail(meter, outcome, broken(exc, "The upstream connection failed while sending its answer.")) from None
    finally:
        meter.timer.upstream_s += time.perf_counter() - started
        await outcome.response.aclose()


async def unary(request: Request, frontend: Frontend, *, endpoint: str, operation: Operation, parse, render=None) -> Response:
    """A non-streaming JSON endpoint (embeddings, rerank): ``parse`` validates the body into
    the OpenAI shape; an adapter with the ``operation``'s ability serves it through the
    operation's typed calls (OpenAI-shaped JSON); ``render`` turns that into the front door's shape."""
    edge: Edge = request.app.state.edge
    timer_of(request.scope).endpoint = endpoint
    principal = await authorize(edge, frontend.api_key(request), request)
    raw = await request.body()
    body = parse(raw)
    worst = operation.worst(body) if operation.worst is not None else None
    plan, meter = await prepare(
        edge, request, principal, body, body["model"], endpoint=endpoint, stream=False, size=len(raw), completes=False, units=worst
    )

    def build(candidate: pb.Candidate, adapter: Adapter, secret: str):
        if not operation.serves(adapter):
            return None  # the upstream loop skips it: "does not serve this endpoint"
        return operation.request(adapter, candidate.base_url, secret, candidate.upstream_model, body)

    outcome = await attempt(edge, plan, build, meter)
    payload = await read_body(outcome, meter)
    try:
        result, usage = operation.result(outcome.adapter, payload, body)
        used = operation.units(result, body) if operation.units is not None else None
        if render is not None:
            result = render(msgspec.json.decode(result) if isinstance(result, bytes) else result)
    except (ValueError, KeyError, TypeError, AttributeError, msgspec.DecodeError):
        raise _fail(meter, outcome, UpstreamError("The upstream answer could not be read.")) from None
    meter.publish(status=200, usage=usage, attempts=outcome.attempts, channel=outcome.candidate, units=used)
    headers = served_headers(outcome)
    content = result if isinstance(result, bytes) else _ENCODE(result)
    return Response(content=content, status_code=200, media_type="application/json", headers=headers)


def outcome_failed(meter: Meter, outcome: Outcome, kind: str) -> None:
    """A failure after the headers (mid-stream) still counts against the channel's health."""
    meter.edge.outcomes.report(
        events.ChannelOutcome(
            channel_id=outcome.candidate.channel_id,
            model=outcome.route.model,
            kind=kind,
            latency_ms=int((time.perf_counter() - outcome.started) * 1000),
            occurred_at_ms=time.time_ns() // 1_000_000,
        )
    )


def broken(exc: Exception, message: str) -> TollgateError:
    """What a failure while the answer was arriving is, for the client: the model's total
    time limit, its idle timeout, another timeout, or a broken connection."""
    if isinstance(exc, http_client.DeadlineExceeded):
        return UpstreamTimeout("The answer ran past the model's total time limit (total_ms).", code="deadline_exceeded")
    if isinstance(exc, http_client.IdleTimeout):
        return UpstreamTimeout("The upstream stopped sending mid-answer for longer than the idle timeout.", code="upstream_idle_timeout")
    if isinstance(exc, http_client.TimeoutException):
        return UpstreamTimeout("The upstream timed out while sending its answer.")
    return UpstreamError(message)


def _fail(meter: Meter, outcome: Outcome, err: TollgateError) -> TollgateError:
    meter.publish(status=err.status, usage=None, attempts=outcome.attempts, channel=outcome.candidate, error_code=err.code or "")
    return err


async def complete(outcome: Outcome, meter: Meter, frontend: Frontend, parsed: Parsed, native: bool, headers: dict[str, Any]) -> Response:
    payload = await read_body(outcome, meter)
    meter.ttft_ms = meter.timer.elapsed_ms()
    if native:
        meter.publish(status=200, usage=outcome.adapter.native_usage(payload), attempts=outcome.attempts, channel=outcome.candidate)
        payload = naming.renamed(payload, frontend.protocol, parsed.model)
        return Response(content=payload, status_code=200, media_type="application/json", headers=headers)
    try:
        canonical, usage = outcome.adapter.chat_response(payload)
        body = frontend.from_canonical(canonical, parsed.model)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _fail(meter, outcome, UpstreamError("The upstream answer could not be read.")) from None
    meter.publish(status=200, usage=usage, attempts=outcome.attempts, channel=outcome.candidate)
    return Response(content=_ENCODE(body), status_code=200, media_type="application/json", headers=headers)


async def relay(outcome: Outcome, meter: Meter, frontend: Frontend, parsed: Parsed, native: bool):
    """Pass events through as they arrive (native) or translate them chunk by chunk. What one
    read from the upstream holds goes to the client in one write (an upstream that sends a burst
    of events costs one send, not one per event; one that trickles them, as a model generating
    does, still gets each one through as it comes)."""
    decoder = outcome.adapter.stream_decoder(parsed.model)
    encoder = None if native else frontend.stream_encoder(parsed)
    parser = outcome.adapter.stream_parser()
    status, error_code = 200, ""
    delivered = 0  # events that reached the client: the completion estimate if usage never comes
    pending: list[bytes] = []  # events of the current read, translated, not yet sent
    pieces = outcome.response.aiter_bytes().__aiter__()
    published = False
    try:
        while True:
            waited = time.perf_counter()
            try:
                piece = await pieces.__anext__()
            except StopAsyncIteration:
                piece = None
            finally:
                meter.timer.upstream_s += time.perf_counter() - waited
            events_ = parser.feed(piece) if piece is not None else parser.close()
            for event in events_:
                if encoder is None:  # native: passed through as the upstream sent it
                    if decoder.observe(event) and (event.data == b"[DONE]" or not parsed.wants_usage):
                        continue
                    out = sse.frame(naming.renamed(event.data, frontend.protocol, parsed.model), event.name)
                else:
                    out = b"".join(encoder.encode(chunk) for chunk in decoder.feed(event))
                if out:
                    pending.append(out)
            if pending:
                if not meter.ttft_ms:
                    meter.ttft_ms = meter.timer.elapsed_ms()
                out, delivered, pending = b"".join(pending), delivered + len(pending), []
                yield out
            if piece is None:
                break
        tail = (
            frontend.passthrough_end()
            if encoder is None
            else b"".join(encoder.encode(chunk) for chunk in decoder.close()) + encoder.finish()
        )
        published = True  # before the last bytes: a stream the client saw end is in the spool
        meter.publish(status=200, usage=decoder.usage, attempts=outcome.attempts, channel=outcome.candidate)
        yield tail
    except (http_client.HTTPError, ValueError) as exc:
        err = broken(exc, "The upstream stream ended abnormally.")
        status, error_code = err.status, err.code or ""
        delivered += len(pending)  # what this read held before the break goes out ahead of the error
        yield b"".join(pending) + (encoder.error(err) if encoder else frontend.stream_encoder(parsed).error(err))
    except BaseException:  # the client went away (cancelled): bill what was delivered
        status, error_code = 499, "client_closed"
        raise
    finally:
        await outcome.response.aclose()
        if not published:
            _publish_cut(meter, outcome, frontend, parsed, decoder.usage, status, error_code, delivered)


def estimated_prompt(frontend: Frontend, parsed: Parsed) -> int:
    """The one estimator (``tollgate.estimate``) over the request as canonical."""
    try:
        return estimate.request_tokens(frontend.to_canonical(parsed))
    except TollgateError:
        return estimate.unreadable_tokens(parsed.body)


def _publish_cut(
    meter: Meter, outcome: Outcome, frontend: Frontend, parsed: Parsed, usage: Usage | None, status: int, error_code: str, delivered: int
) -> None:
    """Meter a stream that did not end normally: what was delivered is billed (estimated
    when the upstream's usage never came)."""
    estimated = False
    if status != 200 and delivered and (usage is None or not usage.completion_tokens):
        prompt = usage.prompt_tokens if usage and usage.prompt_tokens else estimated_prompt(frontend, parsed)
        usage, estimated = Usage(prompt_tokens=prompt, completion_tokens=delivered), True
    if status not in (200, 499) and error_code != "deadline_exceeded":  # running out of the request's own time is not the channel's fault
        outcome_failed(meter, outcome, "timeout" if status == 504 else "error")
    meter.publish(
        status=status, usage=usage, attempts=outcome.attempts, channel=outcome.candidate, error_code=error_code, estimated=estimated
    )
