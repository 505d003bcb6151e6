"""Per-request bookkeeping shared by the edge's middleware and handlers."""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.edge.auth import Authenticator
from services.edge.http_client import Client
from services.edge.leases import LeaseBook
from services.edge.metrics import EdgeMetrics
from services.edge.publisher import OutcomeReporter, UsagePublisher
from services.edge.ratelimit import RateLimiter
from services.edge.routes import RouteTable
from tollgate.health import Readiness
from tollgate.providers import MINTERS
from tollgate.providers.tokens import TokenBroker
from tollgate.settings import Settings

SCOPE_KEY = "tollgate"


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


@dataclass(slots=True)
class RequestTimer:
    """Wall time of one request, split into time in Tollgate and time waiting upstream."""

    request_id: str = field(default_factory=new_request_id)
    started: float = field(default_factory=time.perf_counter)
    upstream_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)  # added to the response, errors included
    span: Any = None  # the request's server span while tracing is on (tollgate.tracing), else None
    endpoint: str = ""  # the front door, once a handler names it ("" = not an API call: not in the request metrics)
    model: str = ""  # the catalog model serving it, once routed
    status: int = 0  # the metered status, when it differs from the HTTP one (a stream that broke: 502/504, 499)

    def elapsed_ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)

    def overhead_ms(self) -> float:
        return max(0.0, (time.perf_counter() - self.started - self.upstream_s) * 1000)


def timer_of(scope: Mapping[str, Any]) -> RequestTimer:
    """The request's timer, put in its ASGI scope under ``SCOPE_KEY`` by ``timing_middleware``
    (a key of our own: the scope's TypedDict does not declare it)."""
    timer: RequestTimer = scope[SCOPE_KEY]
    return timer


@dataclass(slots=True)
class Edge:
    """Everything a handler needs, built once at start-up."""

    settings: Settings
    auth: Authenticator
    routes: RouteTable
    client: Client
    publisher: UsagePublisher
    outcomes: OutcomeReporter
    limiter: RateLimiter
    leases: LeaseBook
    rng: random.Random = field(default_factory=random.Random)
    metrics: EdgeMetrics = field(default_factory=EdgeMetrics)
    readiness: Readiness = field(default_factory=Readiness)
    tokens: TokenBroker = field(default_factory=lambda: TokenBroker(MINTERS))  # minted upstream credentials (Vertex AI)
