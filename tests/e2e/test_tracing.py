"""One chat completion is one trace across edge, accounts, router and metering: every
service exports OTLP to an in-memory collector in this process."""

from __future__ import annotations

import json

import openai
import pytest

from tests.e2e.otlp import Collector, Span
from tollgate import credentials
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc
from tools.stack import Ports, Stack

PROMPT = "tracing prompt that must stay out of spans"
CHAT = "POST /v1/chat/completions"
PYTHON_SERVICES = ("accounts", "router", "metering", "edge", "edge2")


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    collector = Collector("grpc").start()
    stack = Stack(
        data_dir=tmp_path_factory.mktemp("traced"),
        ports=Ports.free(),
        extra_env={**collector.env(), "TOLLGATE_LOG_LEVEL": "debug", "TOLLGATE_METERING_BATCH_WAIT_S": "0.2"},
        log_to_files=True,
    )
    stack.start()
    try:
        yield stack, collector
    finally:
        stack.stop()
        collector.stop()
    unclean = {name: code for name, code in stack.exit_codes.items() if name in PYTHON_SERVICES and code != 0}
    assert not unclean, f"services did not shut down cleanly with tracing on: {unclean}"


def _key(stack: Stack) -> str:
    with credentials.channel(stack.settings.accounts_addr, stack.settings.admin_credential) as channel:
        stub = pb_grpc.AccountsStub(channel)
        account = stub.CreateAccount(pb.CreateAccountRequest(name="traced", initial_balance_micros=5_000_000))
        return stub.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, name="k", rpm_limit=-1)).secret


def _one(spans: list[Span], **want) -> Span:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in want.items())]
    assert len(found) == 1, (
        f"expected one span with {want}, found {[(s.service, s.kind, s.name) for s in found]} in "
        f"{[(s.service, s.kind, s.name) for s in spans]}"
    )
    return found[0]


def test_one_trace_crosses_every_service(traced):
    stack, collector = traced
    key = _key(stack)  # a fresh key on a fresh edge: Authenticate, Route and AcquireLease all reach their services
    client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
    raw = client.chat.completions.with_raw_response.create(model="sim-1", messages=[{"role": "user", "content": PROMPT}], max_tokens=3)
    raw.parse()
    request_id = raw.headers["x-request-id"]

    root = collector.wait(
        lambda spans: next((s for s in spans if s.attributes.get("tollgate.request_id") == request_id), None), what="the edge's server span"
    )
    expected = {
        ("tollgate-edge", "SERVER"),
        ("tollgate-edge", "CLIENT"),
        ("tollgate-edge", "PRODUCER"),
        ("tollgate-accounts", "SERVER"),
        ("tollgate-router", "SERVER"),
        ("tollgate-accounts", "CONSUMER"),
        ("tollgate-metering", "CONSUMER"),
    }
    spans = collector.wait(
        lambda all_: (t := [s for s in all_ if s.trace_id == root.trace_id]) and expected <= {(s.service, s.kind) for s in t} and t,
        what="spans of every service in the request's trace",
    )
    ids = {s.span_id: s for s in spans}

    # The edge: the request's server span is the root, with who served it (and no content).
    assert (root.service, root.kind, root.name, root.parent_id) == ("tollgate-edge", "SERVER", CHAT, "")
    assert root.attributes["http.response.status_code"] == 200 and root.attributes["tollgate.status"] == 200
    assert root.attributes["tollgate.endpoint"] == "chat" and root.attributes["tollgate.model"] == "sim-1"
    assert root.attributes["tollgate.channel"] == raw.headers["x-tollgate-channel"] and root.attributes["tollgate.provider"]
    assert root.attributes["gen_ai.usage.output_tokens"] == 3

    # gRPC: each client span in the edge is the parent of its server span in accounts or router.
    for service, rpc in (
        ("accounts", "tollgate.accounts.v1.Accounts/Authenticate"),
        ("accounts", "tollgate.accounts.v1.Accounts/AcquireLease"),
        ("router", "tollgate.router.v1.Router/Route"),
    ):
        call = _one(spans, service="tollgate-edge", kind="CLIENT", name=rpc)
        assert call.parent_id == root.span_id, rpc
        served = _one(spans, service=f"tollgate-{service}", kind="SERVER", name=rpc)
        assert served.parent_id == call.span_id, rpc
        assert served.attributes["rpc.grpc.status_code"] == 0 and call.attributes["rpc.grpc.status_code"] == 0
        assert served.attributes["rpc.system"] == "grpc" and not served.error

    # The upstream HTTP call.
    upstream = _one(spans, service="tollgate-edge", kind="CLIENT", name="upstream simulator")
    assert upstream.parent_id == root.span_id and upstream.attributes["http.response.status_code"] == 200
    assert (
        upstream.attributes["server.address"] == "127.0.0.1"
        and upstream.attributes["tollgate.channel"] == root.attributes["tollgate.channel"]
    )

    # The usage message: produced under the request, consumed by accounts (the debit) and metering (the insert).
    send = _one(spans, service="tollgate-edge", kind="PRODUCER")
    assert send.parent_id == root.span_id and send.attributes["messaging.message.id"] == request_id
    for service, consumer in (("tollgate-accounts", "accounts-ledger"), ("tollgate-metering", "metering-usage")):
        processed = _one(spans, service=service, kind="CONSUMER")
        assert processed.parent_id == send.span_id, service
        assert processed.attributes["messaging.consumer.group.name"] == consumer
        assert processed.attributes["messaging.message.id"] == request_id and not processed.error

    # Every parent is in the trace: nothing hangs off a span that was not exported.
    assert all(s.parent_id in ids for s in spans if s is not root), [
        (s.service, s.name) for s in spans if s.parent_id not in ids and s is not root
    ]
    assert not any(PROMPT in json.dumps(s.attributes) for s in collector.spans)
    assert not any(key.encode() in payload or PROMPT.encode() in payload for payload in collector.raw)

    # The edge's log lines of the request carry its request id and the trace id.
    lines = [json.loads(line) for line in (stack.data_dir / "logs" / "edge.log").read_text().splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line.get("request_id") == request_id]
    assert request_lines and all(line["trace_id"] == root.trace_id for line in request_lines)
    assert any(line["event"] == "request" and line["status"] == 200 for line in request_lines)


def test_a_failed_call_is_an_error_span_and_a_known_key_needs_no_rpc(traced):
    stack, collector = traced
    key = _key(stack)
    client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
    client.chat.completions.create(
        model="sim-claude", messages=[{"role": "user", "content": "warm"}], max_tokens=1
    )  # not sim-1: routes are cached
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert refused.value.status_code == 404
    spans = collector.wait(
        lambda all_: [s for s in all_ if s.kind == "SERVER" and s.attributes.get("tollgate.model_requested") == "no-such-model"],
        what="the failed request's server span",
    )
    failed = spans[-1]
    assert failed.service == "tollgate-edge" and failed.attributes["http.response.status_code"] == 404
    assert not failed.error  # a client's mistake (an unknown model, 404) is not the edge's failure; the router's span is
    trace = collector.wait(
        lambda all_: [s for s in all_ if s.trace_id == failed.trace_id and s.kind == "SERVER" and s.service == "tollgate-router"],
        what="the router's NOT_FOUND span",
    )
    assert trace[0].attributes["rpc.grpc.status_code"] == 5 and trace[0].error  # NOT_FOUND
    in_trace = [s for s in collector.spans if s.trace_id == failed.trace_id]
    assert not any(s.name == "tollgate.accounts.v1.Accounts/Authenticate" for s in in_trace), "the key was cached: no Authenticate call"
    assert not any(s.kind == "PRODUCER" for s in in_trace), "an unrouted request is not metered"
