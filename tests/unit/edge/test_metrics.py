"""The edge's Prometheus series keep the labelled children a request updates: the values must be
what per-call ``labels()`` gave, for every label set."""

from __future__ import annotations

from services.edge.metrics import EdgeMetrics


def value(metrics: EdgeMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_answered_requests_count_per_label_set() -> None:
    m = EdgeMetrics()
    m.request("chat", "gpt", 200, 0.5, 0.001)
    m.request("chat", "gpt", 200, 0.25, 0.002)
    m.request("chat", "gpt", 429, 0.01, 0.001)
    m.request("chat", "", 400, 0.01, 0.001)
    assert value(m, "tollgate_edge_requests_total", endpoint="chat", model="gpt", status="200") == 2
    assert value(m, "tollgate_edge_requests_total", endpoint="chat", model="gpt", status="429") == 1
    assert value(m, "tollgate_edge_requests_total", endpoint="chat", model="unknown", status="400") == 1
    assert value(m, "tollgate_edge_request_seconds_sum", endpoint="chat", model="gpt", status="200") == 0.75
    assert value(m, "tollgate_edge_gateway_overhead_seconds_count", endpoint="chat") == 4


def test_metered_usage_per_provider_and_model() -> None:
    m = EdgeMetrics()
    tokens = {"prompt": 10, "completion": 5, "cached": 0, "reasoning": 1}
    for _ in range(3):
        m.metered(provider="openai", model="gpt", upstream_s=0.1, ttft_s=0.05, tokens=tokens, cost_micros=7)
    m.metered(provider="", model="gpt", upstream_s=0.0, ttft_s=0.0, tokens={"prompt": 1}, cost_micros=1)  # no channel served it
    assert value(m, "tollgate_edge_tokens_total", kind="prompt", model="gpt") == 31
    assert value(m, "tollgate_edge_tokens_total", kind="reasoning", model="gpt") == 3
    assert value(m, "tollgate_edge_cost_micro_usd_total", model="gpt") == 22
    assert value(m, "tollgate_edge_upstream_seconds_count", provider="openai", model="gpt") == 3
    assert value(m, "tollgate_edge_ttft_seconds_count", provider="openai", model="gpt") == 3
    assert value(m, "tollgate_edge_upstream_seconds_count", provider="", model="gpt") is None


def test_the_children_cache_starts_over_when_full() -> None:
    m = EdgeMetrics()
    for i in range(5000):
        m.request("chat", f"m{i}", 200, 0.1, 0.001)
    m.request("chat", "m0", 200, 0.1, 0.001)
    assert value(m, "tollgate_edge_requests_total", endpoint="chat", model="m0", status="200") == 2
    assert len(m._answered) <= 4096
