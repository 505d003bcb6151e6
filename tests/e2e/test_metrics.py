"""Prometheus metrics and health of the running stack: a real completion through the openai
SDK, then every service's /metrics scraped and checked for the series it must move, plus
/readyz on the HTTP services and grpc.health.v1 on the gRPC ones."""

from __future__ import annotations

import secrets
import time

import grpc
import httpx
import openai
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from tollgate.rpc import router_pb2 as rpb
from tollgate.rpc import router_pb2_grpc as rpb_grpc

# tests/data/catalog.toml prices sim-1 at 3 / 7 USD per million input / output tokens.
IN_PRICE, OUT_PRICE = 3_000_000, 7_000_000
PROMPT = "Say hello to the gateway please"  # 6 words = 6 simulator prompt tokens
CHAT = {"endpoint": "chat", "model": "sim-1", "status": "200"}
SIM = {"provider": "simulator", "model": "sim-1"}


class Scrape(dict):
    """(series name, labels) -> value from one /metrics answer."""

    def get_(self, name: str, **labels: str) -> float:
        return self.get((name, frozenset(labels.items())), 0.0)

    def sum(self, name: str, **labels: str) -> float:
        return sum(v for (n, ls), v in self.items() if n == name and set(labels.items()) <= ls)

    def label_values(self, name: str, label: str) -> set[str]:
        return {dict(ls)[label] for (n, ls) in self if n == name and label in dict(ls)}


def scrape(url: str) -> Scrape:
    answer = httpx.get(url, timeout=10)
    answer.raise_for_status()
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4"), answer.headers["content-type"]
    return Scrape({(s.name, frozenset(s.labels.items())): s.value for f in text_string_to_metric_families(answer.text) for s in f.samples})


def urls(stack) -> dict[str, str]:
    p = stack.ports
    return {
        "edge": f"http://127.0.0.1:{p.edge}/metrics",
        "metering": f"{stack.metering_url}/metrics",
        "accounts": f"http://127.0.0.1:{p.accounts_metrics}/metrics",
        "router": f"http://127.0.0.1:{p.router_metrics}/metrics",
    }


def cost(prompt: int, completion: int) -> int:
    return -(-(prompt * IN_PRICE + completion * OUT_PRICE) // 1_000_000)


def eventually(check, timeout: float = 20.0):
    """``check()`` until it returns without an AssertionError (metrics of asynchronous work)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def test_a_completion_moves_every_services_series(stack, new_account):
    _, key = new_account()
    client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
    before = {name: scrape(url) for name, url in urls(stack).items()}

    reply = client.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": PROMPT}], max_tokens=5)
    chunks = list(
        client.chat.completions.create(
            model="sim-1", messages=[{"role": "user", "content": PROMPT}], max_tokens=4, stream=True, stream_options={"include_usage": True}
        )
    )
    streamed = chunks[-1].usage
    raw_name = f"no-such-model-{secrets.token_hex(4)}"  # what a client typed: never a label
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model=raw_name, messages=[{"role": "user", "content": PROMPT}])
    assert err.value.status_code == 404
    prompt = reply.usage.prompt_tokens + streamed.prompt_tokens
    completion = reply.usage.completion_tokens + streamed.completion_tokens
    assert (prompt, completion) == (12, 9)

    edge, edge0 = scrape(urls(stack)["edge"]), before["edge"]

    def delta(name, **labels):
        return edge.get_(name, **labels) - edge0.get_(name, **labels)

    assert delta("tollgate_edge_requests_total", **CHAT) == 2
    assert delta("tollgate_edge_request_seconds_count", **CHAT) == 2
    assert delta("tollgate_edge_requests_total", endpoint="chat", model="unknown", status="404") == 1
    assert raw_name not in str(list(edge))
    assert delta("tollgate_edge_gateway_overhead_seconds_count", endpoint="chat") == 3
    assert delta("tollgate_edge_upstream_seconds_count", **SIM) == 2 and edge.get_("tollgate_edge_upstream_seconds_sum", **SIM) > 0
    assert delta("tollgate_edge_ttft_seconds_count", **SIM) >= 1
    assert delta("tollgate_edge_tokens_total", kind="prompt", model="sim-1") == prompt
    assert delta("tollgate_edge_tokens_total", kind="completion", model="sim-1") == completion
    assert ("tollgate_edge_tokens_total", frozenset({"kind": "reasoning", "model": "sim-1"}.items())) in edge
    assert delta("tollgate_edge_cost_micro_usd_total", model="sim-1") == cost(6, 5) + cost(6, 4) > 0
    assert edge.get_("tollgate_edge_usage_publish_failures_total") == 0
    assert ("tollgate_edge_usage_publish_failures_total", frozenset()) in edge and (
        "tollgate_edge_usage_events_pending",
        frozenset(),
    ) in edge
    assert edge.label_values("tollgate_edge_requests_total", "model") <= {"sim-1", "unknown", *_catalog_models(stack)}

    def published() -> None:
        now = scrape(urls(stack)["edge"])
        assert now.get_("tollgate_edge_usage_events_published_total") - edge0.get_("tollgate_edge_usage_events_published_total") >= 2
        assert now.get_("tollgate_edge_usage_events_pending") == 0
        assert (
            now.get_("tollgate_edge_usage_spool_oldest_seconds") == 0 and now.get_("tollgate_edge_usage_spool_bytes") > 0
        )  # the active segment stays until it rotates

    eventually(published)

    def metered() -> None:
        metering = scrape(urls(stack)["metering"])
        assert (
            metering.get_("tollgate_metering_events_inserted_total") - before["metering"].get_("tollgate_metering_events_inserted_total")
            >= 2
        )
        assert ("tollgate_metering_consumer_lag", frozenset()) in metering and metering.get_("tollgate_metering_consumer_lag") >= 0

    eventually(metered)

    def debited() -> Scrape:
        accounts = scrape(urls(stack)["accounts"])
        was = before["accounts"].get_("tollgate_accounts_ledger_events_processed_total", result="debited")
        assert accounts.get_("tollgate_accounts_ledger_events_processed_total", result="debited") - was >= 2
        assert ("tollgate_accounts_ledger_consumer_lag", frozenset()) in accounts
        return accounts

    accounts = eventually(debited)
    assert accounts.get_("tollgate_accounts_ledger_failures_total") == 0
    authenticate = "/tollgate.accounts.v1.Accounts/Authenticate"
    assert accounts.get_("tollgate_grpc_server_handled_total", method=authenticate, code="OK") >= 1
    assert accounts.sum("tollgate_grpc_server_seconds_count", method=authenticate) >= 1

    router, router0 = scrape(urls(stack)["router"]), before["router"]
    route = "/tollgate.router.v1.Router/Route"
    assert router.get_("tollgate_grpc_server_handled_total", method=route, code="OK") >= 1
    assert (
        router.get_("tollgate_grpc_server_handled_total", method=route, code="NOT_FOUND")
        - router0.get_("tollgate_grpc_server_handled_total", method=route, code="NOT_FOUND")
        == 1
    )  # the unknown model, asked once (the edge then caches the miss)
    with grpc.insecure_channel(stack.settings.router_addr) as channel:
        channels = rpb_grpc.RouterStub(channel).ListChannels(rpb.ListChannelsRequest(), timeout=5).channels
    assert router.label_values("tollgate_router_channel_state", "channel") == {c.channel_id for c in channels}
    assert router.get_("tollgate_router_channel_state", channel="sim-primary", provider="simulator") == 0  # closed: it just served


def _catalog_models(stack) -> set[str]:
    with grpc.insecure_channel(stack.settings.router_addr) as channel:
        return {m.id for m in rpb_grpc.RouterStub(channel).ListModels(rpb.ListModelsRequest(), timeout=5).models}


def test_http_services_are_ready(stack):
    for base, checks in (
        (f"http://127.0.0.1:{stack.ports.edge}", {"nats", "accounts", "router", "usage_spool"}),
        (stack.metering_url, {"nats", "clickhouse"}),
    ):
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        answer = httpx.get(f"{base}/readyz", timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["status"] == "ready" and set(body["checks"]) == checks and all(c["ok"] for c in body["checks"].values()), body


@pytest.mark.parametrize("service", ["accounts", "router"])
def test_grpc_services_report_serving(stack, service):
    addr, name = {
        "accounts": (stack.settings.accounts_addr, "tollgate.accounts.v1.Accounts"),
        "router": (stack.settings.router_addr, "tollgate.router.v1.Router"),
    }[service]
    with grpc.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for target in ("", name):
            assert stub.Check(health_pb2.HealthCheckRequest(service=target), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as err:
            stub.Check(health_pb2.HealthCheckRequest(service="tollgate.nope.v1.Nothing"), timeout=5)
        assert err.value.code() is grpc.StatusCode.NOT_FOUND


def test_an_edge_with_a_metrics_port_keeps_its_totals_off_the_api_port(stack, new_account):
    from tools.stack import free_port

    metrics_port = free_port()
    _, url = stack.start_edge("edge-metrics-port", env={"TOLLGATE_EDGE_METRICS_PORT": str(metrics_port)})
    _, key = new_account()
    openai.OpenAI(base_url=url, api_key=key, max_retries=0).chat.completions.create(
        model="sim-1", messages=[{"role": "user", "content": PROMPT}], max_tokens=3
    )
    api = url.removesuffix("/v1")
    assert httpx.get(f"{api}/metrics", timeout=10).status_code == 404
    assert httpx.get(f"{api}/readyz", timeout=10).status_code == 200  # probes stay where they were
    series = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
    assert series.get_("tollgate_edge_requests_total", **CHAT) == 1
