"""Every span the edge starts ends, once, whatever happens to the work it covers: an
upstream attempt cancelled or failing with an unexpected error, and usage events still
queued or in flight when the publisher closes (an in-memory exporter of the test's own)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from services.edge import http_client, upstream
from services.edge.publisher import UsagePublisher
from services.edge.routes import Route
from tests.unit.edge.upstream_fakes import HandlerClient
from tollgate import events, tracing
from tollgate.providers.base import ChannelMisconfigured, UpstreamRequest
from tollgate.rpc import router_pb2 as pb


@pytest.fixture
def spans(monkeypatch):
    """The tracing helpers' tracer swapped for one exporting to memory (no global provider)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_TRACER", provider.get_tracer("test"))
    yield exporter
    provider.shutdown()


def _ended(exporter: InMemorySpanExporter, kind: SpanKind) -> list:
    return [s for s in exporter.get_finished_spans() if s.kind == kind]


# -- upstream attempts --------------------------------------------------------------------
CANDIDATE = pb.Candidate(channel_id="ch1", provider="openai", base_url="http://upstream.test")
ROUTE = Route(model="m", price=pb.Price(), candidates=(CANDIDATE,))


def _build(candidate, adapter, secret) -> UpstreamRequest:
    return UpstreamRequest(url="http://upstream.test/v1/chat/completions", headers={}, body=b"{}")


async def _call(client: HandlerClient):
    return await upstream.call(client, [(ROUTE, CANDIDATE)], _build, report=lambda _o: None, max_attempts=1, deadline_s=30)


async def test_a_cancelled_upstream_attempt_ends_its_span(spans):
    sent = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        sent.set()
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    request_span = tracing._TRACER.start_span("request", kind=SpanKind.SERVER)
    client = HandlerClient(hang)
    with trace.use_span(request_span, end_on_exit=True):
        task = asyncio.create_task(_call(client))
        await asyncio.wait_for(sent.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    [span] = _ended(spans, SpanKind.CLIENT)
    assert span.name == "upstream openai" and span.parent.span_id == request_span.get_span_context().span_id
    assert span.status.status_code == StatusCode.ERROR and span.attributes["error.type"] == "CancelledError"


async def test_an_unexpected_error_ends_the_upstream_span(spans):
    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug, not a connection failure")

    client = HandlerClient(broken)
    with trace.use_span(tracing._TRACER.start_span("request", kind=SpanKind.SERVER), end_on_exit=True), pytest.raises(RuntimeError):
        await _call(client)
    [span] = _ended(spans, SpanKind.CLIENT)
    assert span.status.status_code == StatusCode.ERROR and span.attributes["error.type"] == "RuntimeError"


async def test_a_failed_connection_ends_the_upstream_span_once(spans):
    def refused(request: httpx.Request) -> httpx.Response:
        raise http_client.ConnectError("refused")

    client = HandlerClient(refused)
    with trace.use_span(tracing._TRACER.start_span("request", kind=SpanKind.SERVER), end_on_exit=True), pytest.raises(upstream.CallFailed):
        await _call(client)
    [span] = _ended(spans, SpanKind.CLIENT)
    assert span.attributes["error.type"] == "ConnectError"


# -- usage publisher ----------------------------------------------------------------------
class HungJetStream:
    """Never acknowledges (NATS unreachable at shutdown)."""

    async def publish(self, subject, data, timeout=None, headers=None):
        await asyncio.sleep(60)

    async def publish_async(self, subject, data, headers=None, **_):  # as nats-py's: sent now, acked by the future
        return asyncio.ensure_future(self.publish(subject, data, headers=headers))


def usage(i: int) -> events.UsageEvent:
    return events.UsageEvent(request_id=f"req_{i}", occurred_at_ms=1, account_id="acct", key_id="key")


async def test_close_ends_the_send_spans_of_events_left_unpublished(spans):
    class Log:
        def error(self, msg, **kw):
            pass

    publisher = UsagePublisher(HungJetStream(), Log(), maxsize=100, workers=1)
    publisher.start()
    request = tracing._TRACER.start_span("request", kind=SpanKind.SERVER)
    for i in range(3):  # one in flight, two queued when close gives up
        publisher.submit(usage(i), parent=request)
    await asyncio.sleep(0.05)
    await asyncio.wait_for(publisher.close(timeout=0.1), 5)
    request.end()
    sent = _ended(spans, SpanKind.PRODUCER)
    assert sorted(s.attributes["messaging.message.id"] for s in sent) == ["req_0", "req_1", "req_2"]  # each ended once
    assert all(s.status.status_code == StatusCode.ERROR and s.attributes["error.type"] == "unpublished" for s in sent)


async def test_a_published_event_ends_its_send_span_without_error(spans):
    class Js:
        async def publish(self, subject, data, timeout=None, headers=None):
            pass

        async def publish_async(self, subject, data, headers=None, **_):
            return asyncio.ensure_future(self.publish(subject, data, headers=headers))

    publisher = UsagePublisher(Js(), structlog.get_logger(), maxsize=100, workers=1)
    publisher.start()
    request = tracing._TRACER.start_span("request", kind=SpanKind.SERVER)
    publisher.submit(usage(0), parent=request)
    await publisher.close()
    request.end()
    [span] = _ended(spans, SpanKind.PRODUCER)
    assert span.status.status_code == StatusCode.UNSET and "error.type" not in span.attributes


async def test_the_routes_timeouts_go_to_the_client():
    """A route's connect_ms / first_byte_ms replace the client's connect / read timeouts."""
    client = HandlerClient(lambda request: httpx.Response(200), http_client.Timeouts(connect=10.0, read=300.0))
    timed = Route(model="m", price=pb.Price(), candidates=(CANDIDATE,), timeouts=pb.Timeouts(connect_ms=1500, first_byte_ms=2500))
    first_byte_only = Route(model="m", price=pb.Price(), candidates=(CANDIDATE,), timeouts=pb.Timeouts(first_byte_ms=2500))
    for route in (ROUTE, timed, first_byte_only):
        outcome = await upstream.call(client, [(route, CANDIDATE)], _build, report=lambda _o: None, max_attempts=1, deadline_s=30)
        await outcome.response.aclose()
    assert [(t.connect, t.read) for _, t in client.sent] == [(10.0, 300.0), (1.5, 2.5), (10.0, 2.5)]


async def test_the_routes_idle_and_total_timeouts_go_to_the_client():
    """idle_ms bounds the gaps after the first bytes; total_ms is a deadline from the request's arrival."""
    client = HandlerClient(lambda request: httpx.Response(200), http_client.Timeouts(connect=10.0, read=300.0, idle=60.0))
    route = Route(model="m", price=pb.Price(), candidates=(CANDIDATE,), timeouts=pb.Timeouts(idle_ms=500, total_ms=4000))
    now = time.perf_counter()
    for r, started in ((ROUTE, now), (route, now), (route, 0.0)):
        outcome = await upstream.call(client, [(r, CANDIDATE)], _build, report=_ignore, max_attempts=1, deadline_s=30, arrived=started)
        await outcome.response.aclose()
    assert [(t.read, t.idle, t.deadline) for _, t in client.sent] == [(300.0, 60.0, 0.0), (300.0, 0.5, now + 4.0), (300.0, 0.5, 0.0)]


SECOND = pb.Candidate(channel_id="ch2", provider="openai", base_url="http://upstream.test")


def _ignore(_outcome: events.ChannelOutcome) -> None:
    pass


async def test_a_channel_at_its_own_limit_is_skipped():
    client = HandlerClient(lambda request: httpx.Response(200))
    admitted: list[str] = []

    def admit(candidate: pb.Candidate) -> int | None:
        admitted.append(candidate.channel_id)
        return 12 if candidate.channel_id == "ch1" else None

    plan = [(ROUTE, CANDIDATE), (ROUTE, SECOND)]
    outcome = await upstream.call(client, plan, _build, report=lambda _o: None, max_attempts=4, deadline_s=30, admit=admit)
    assert (outcome.candidate.channel_id, outcome.attempts, len(client.sent)) == ("ch2", 1, 1)
    assert admitted == ["ch1", "ch2"] and outcome.failures[0].limited


async def test_every_channel_at_its_limit_is_a_429_with_the_soonest_retry_after():
    client = HandlerClient(lambda request: httpx.Response(200))
    waits = {"ch1": 12, "ch2": 7}
    plan = [(ROUTE, CANDIDATE), (ROUTE, SECOND)]
    with pytest.raises(upstream.CallFailed) as failed:
        await upstream.call(client, plan, _build, report=_ignore, max_attempts=4, deadline_s=30, admit=lambda c: waits[c.channel_id])
    err = failed.value.error
    assert (err.status, err.code, err.headers, failed.value.attempts) == (429, "channel_rate_limited", {"retry-after": "7"}, 0)
    assert "ch1: at its own rate limit" in err.message and not client.sent  # nothing reached an upstream


async def test_a_limited_channel_next_to_a_failing_one_is_not_a_429():
    """The 429 is only for a plan where every channel was full; a real failure is reported as such."""
    client = HandlerClient(lambda request: httpx.Response(500))
    plan = [(ROUTE, CANDIDATE), (ROUTE, SECOND)]
    with pytest.raises(upstream.CallFailed) as failed:
        await upstream.call(
            client, plan, _build, report=_ignore, max_attempts=4, deadline_s=30, admit=lambda c: 5 if c.channel_id == "ch1" else None
        )
    assert failed.value.error.status == 502 and failed.value.attempts == 1


async def test_the_total_deadline_stops_failover():
    """A request whose total_ms ran out while waiting for an upstream is not tried elsewhere;
    one whose deadline had passed before an attempt does not start it."""

    def deadline(request: httpx.Request) -> httpx.Response:
        raise http_client.DeadlineExceeded("the upstream did not answer before the request's deadline")

    client = HandlerClient(deadline)
    timed = Route(model="m", price=pb.Price(), candidates=(CANDIDATE, SECOND), timeouts=pb.Timeouts(total_ms=60_000))
    outcomes: list[events.ChannelOutcome] = []
    with pytest.raises(upstream.CallFailed) as failed:
        await upstream.call(
            client, [(timed, CANDIDATE), (timed, SECOND)], _build, report=outcomes.append, max_attempts=4, deadline_s=30, arrived=1e12
        )
    assert failed.value.error.status == 504 and failed.value.attempts == 1 and len(client.sent) == 1
    assert failed.value.error.code == "deadline_exceeded"
    assert not outcomes  # the request's own time ran out: not the channel's failure
    client = HandlerClient(lambda request: httpx.Response(200))
    with pytest.raises(upstream.CallFailed) as failed:  # started long ago: the deadline is behind us
        await upstream.call(client, [(timed, CANDIDATE)], _build, report=outcomes.append, max_attempts=4, deadline_s=30, arrived=1.0)
    assert failed.value.error.status == 504 and failed.value.attempts == 0 and not client.sent


async def test_every_attempt_shares_the_requests_deadline():
    """total_ms counts from the request's arrival: a failover attempt gets what is left, not a fresh deadline."""

    async def slow_failure(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        return httpx.Response(500)

    client = HandlerClient(slow_failure)
    timed = Route(model="m", price=pb.Price(), candidates=(CANDIDATE, SECOND), timeouts=pb.Timeouts(total_ms=60_000))
    arrived = time.perf_counter()
    with pytest.raises(upstream.CallFailed):
        plan = [(timed, CANDIDATE), (timed, SECOND)]
        await upstream.call(client, plan, _build, report=_ignore, max_attempts=4, deadline_s=30, arrived=arrived)
    assert [t.deadline for _, t in client.sent] == [arrived + 60.0] * 2


async def test_a_misconfigured_channel_is_skipped_for_the_next():
    """A channel whose secret cannot be used (e.g. a bedrock secret not of the form
    KEY_ID:SECRET) is a channel failure naming what is wrong, never the client's 400, and the
    next channel serves the request."""
    backup = pb.Candidate(channel_id="ch2", provider="openai", base_url="http://upstream.test")

    def build(candidate, adapter, secret) -> UpstreamRequest:
        if candidate.channel_id == "ch1":
            raise ChannelMisconfigured("its secret is not KEY_ID:SECRET")
        return _build(candidate, adapter, secret)

    async def ok(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={})

    plan = [(ROUTE, CANDIDATE), (ROUTE, backup)]
    outcome = await upstream.call(HandlerClient(ok), plan, build, report=lambda _o: None, max_attempts=2, deadline_s=30)
    assert outcome.candidate.channel_id == "ch2" and outcome.attempts == 1
    assert [(f.channel_id, f.cause) for f in outcome.failures] == [("ch1", "misconfigured: its secret is not KEY_ID:SECRET")]
    await outcome.response.aclose()
    with pytest.raises(upstream.CallFailed) as failed:
        await upstream.call(HandlerClient(ok), plan[:1], build, report=lambda _o: None, max_attempts=2, deadline_s=30)
    assert failed.value.error.status == 503 and "misconfigured" in failed.value.error.message
