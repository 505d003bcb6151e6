"""The edge's Prometheus series. One ``EdgeMetrics`` per process, made in ``main`` around
the process registry and reached through ``Edge.metrics``.

Labels stay bounded: ``endpoint`` is one of the front doors' names, ``model`` a catalog
model id (the router's answer, never the client's text; "unknown" when the request never
resolved one), ``provider`` a catalog provider kind, ``status`` an HTTP status. No account,
key or request ids, and no content."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

UNKNOWN = "unknown"
TOKEN_KINDS = ("prompt", "completion", "cached", "reasoning")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
OVERHEAD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)


class EdgeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter("tollgate_edge_requests", "API requests answered", ["endpoint", "model", "status"], registry=r)
        self.request_seconds = Histogram(
            "tollgate_edge_request_seconds",
            "API request latency, to the last byte",
            ["endpoint", "model", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead_seconds = Histogram(
            "tollgate_edge_gateway_overhead_seconds",
            "time spent in Tollgate per request, upstream excluded",
            ["endpoint"],
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.upstream_seconds = Histogram(
            "tollgate_edge_upstream_seconds",
            "time waiting on the upstream per metered request",
            ["provider", "model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft_seconds = Histogram(
            "tollgate_edge_ttft_seconds",
            "time to the first byte of the answer sent to the client",
            ["provider", "model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("tollgate_edge_tokens", "tokens metered, by kind", ["kind", "model"], registry=r)
        self.cost = Counter("tollgate_edge_cost_micro_usd", "cost metered, in micro-USD", ["model"], registry=r)
        # The labelled children a request updates, by label values: ``labels()`` validates, locks
        # and builds a key on every call (~2 µs each, seven a request); the label sets are bounded.
        self._answered: dict[tuple[str, str, int], tuple] = {}
        self._metered: dict[tuple[str, str], tuple] = {}

    def request(self, endpoint: str, model: str, status: int, seconds: float, overhead_s: float) -> None:
        """One answered request (called once, when its last byte went out or it was abandoned)."""
        key = (endpoint, model or UNKNOWN, status)
        children = self._answered.get(key)
        if children is None:
            model, code = key[1], str(status)
            children = (
                self.requests.labels(endpoint, model, code),
                self.request_seconds.labels(endpoint, model, code),
                self.overhead_seconds.labels(endpoint),
            )
            _remember(self._answered, key, children)
        children[0].inc()
        children[1].observe(seconds)
        children[2].observe(overhead_s)

    def metered(self, *, provider: str, model: str, upstream_s: float, ttft_s: float, tokens: dict[str, int], cost_micros: int) -> None:
        """One usage event: the upstream's share of its latency, its tokens and its cost."""
        children = self._metered.get((provider, model))
        if children is None:
            children = (
                self.upstream_seconds.labels(provider, model) if provider else None,
                self.ttft_seconds.labels(provider, model) if provider else None,
                tuple(self.tokens.labels(kind, model) for kind in TOKEN_KINDS),
                self.cost.labels(model),
            )
            _remember(self._metered, (provider, model), children)
        upstream, ttft, by_kind, cost = children
        if upstream is not None:
            upstream.observe(upstream_s)
            if ttft_s > 0:
                ttft.observe(ttft_s)
        for kind, counter in zip(TOKEN_KINDS, by_kind, strict=True):
            counter.inc(tokens.get(kind, 0))
        cost.inc(cost_micros)

    def watch_publisher(self, publisher, outcomes=None) -> None:
        """Expose the usage publisher's counters (and the outcome reporter's drops) at scrape time."""
        self.registry.register(PublisherCollector(publisher, outcomes))


def _remember(cache: dict, key: tuple, children: tuple, most: int = 4096) -> None:
    """Keep ``children`` for ``key``; a cache grown past ``most`` starts over (label sets are
    bounded by the catalog and the front doors, so that only happens after many catalog changes)."""
    if len(cache) >= most:
        cache.clear()
    cache[key] = children


class PublisherCollector(Collector):
    """Reads the publisher's own counters at scrape time, so it needs no Prometheus objects."""

    def __init__(self, publisher, outcomes=None):
        self._publisher = publisher
        self._outcomes = outcomes

    def collect(self):
        p = self._publisher
        yield CounterMetricFamily("tollgate_edge_usage_events_published", "usage events acknowledged by JetStream", value=p.published)
        yield CounterMetricFamily(
            "tollgate_edge_usage_publish_failures", "usage publish attempts that failed (each is retried)", value=p.failures
        )
        yield CounterMetricFamily("tollgate_edge_usage_events_dropped", "usage events dropped because the queue was full", value=p.dropped)
        yield GaugeMetricFamily(
            "tollgate_edge_usage_events_pending", "usage events accepted but not yet acknowledged by JetStream", value=p.pending
        )
        if p.spool is not None:
            yield GaugeMetricFamily(
                "tollgate_edge_usage_spool_bytes",
                "bytes in the usage spool (its bound: TOLLGATE_EDGE_SPOOL_MAX_BYTES)",
                value=p.spool.bytes,
            )
            yield GaugeMetricFamily(
                "tollgate_edge_usage_spool_oldest_seconds",
                "age of the oldest spool segment holding unacknowledged events",
                value=p.spool.oldest_age_s(),
            )
        if self._outcomes is not None:
            yield CounterMetricFamily(
                "tollgate_edge_channel_outcomes_dropped", "channel health reports dropped (queue full)", value=self._outcomes.dropped
            )

    def describe(self):
        return []
