"""The routing table: the current catalog plus live channel health, behind one version.

Every change that can alter what ``Route`` answers (a catalog reload, a channel state
transition, an operator action) bumps ``version`` and wakes ``publish_changes``, which
tells every edge with ``RoutingTableChanged`` so they drop their cached routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable

import structlog

from services.router.catalog import Catalog, Channel, Model, order
from services.router.health import ROUTABLE, ChannelView, HealthTracker, Transition
from tollgate import events
from tollgate.telemetry import Log

TICK_S = 0.2  # time-based transitions (open -> half_open, cooling_down -> closed) are noticed this fast


class RoutingTable:
    def __init__(
        self,
        catalog: Catalog,
        *,
        log: Log | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ):
        self.catalog = catalog
        self.version = catalog.version
        self.changed = asyncio.Event()
        self.health = HealthTracker(catalog.health, clock=clock, wall=wall)
        self.health.sync(c.id for c in catalog.channels)
        self._log = log or structlog.get_logger(service="router")

    # -- changes --------------------------------------------------------------------
    def swap(self, catalog: Catalog) -> None:
        """Serve a newly loaded catalog; known channels keep their health."""
        self.catalog = catalog
        self.health.sync((c.id for c in catalog.channels), catalog.health)
        self._bump()
        self._log.info("catalog reloaded", table_version=self.version, models=len(catalog.models), channels=len(catalog.channels))

    def record(self, outcome: events.ChannelOutcome) -> None:
        self._apply(self.health.record(outcome))

    def advance(self) -> None:
        self._apply(self.health.advance())

    def set_enabled(self, channel_id: str, enabled: bool, reason: str = "") -> None:
        """Raises KeyError for a channel the catalog does not have."""
        if channel_id not in self.health:
            raise KeyError(channel_id)
        t = self.health.set_enabled(channel_id, enabled, reason)
        self._apply([t] if t else [])

    def _apply(self, transitions: list[Transition]) -> None:
        for t in transitions:
            self._log_transition(t)
        if transitions:
            self._bump()

    def _bump(self) -> None:
        self.version += 1
        self.changed.set()

    def _log_transition(self, t: Transition) -> None:
        fields = {"channel": t.channel_id, "old": t.old, "new": t.new, "reason": t.reason}
        if t.cause == "auth":
            self._log.error(
                "CHANNEL DISABLED: the provider rejected its credential; fix the channel's secret, then run `tollgate channels enable`",
                **fields,
            )
        elif t.new in ("open", "disabled"):
            self._log.warning("channel state changed", **fields)
        else:
            self._log.info("channel state changed", **fields)

    # -- reads ----------------------------------------------------------------------
    def route(self, name: str, rng: random.Random) -> tuple[Model | None, list[tuple[Channel, ChannelView]]]:
        """The model and its routable channels (closed or half-open) in default order."""
        self.advance()
        catalog = self.catalog
        model = catalog.resolve(name)
        if model is None:
            return None, []
        serving = [c for c in catalog.channels if model.id in c.models and self.health.state(c.id) in ROUTABLE]
        return model, [(c, self.health.view(c.id)) for c in order(serving, rng)]

    def channels(self) -> list[tuple[Channel, ChannelView]]:
        self.advance()
        return [(c, self.health.view(c.id)) for c in self.catalog.channels]


async def publish_changes(
    stop: asyncio.Event, table: RoutingTable, publish: Callable[[bytes], Awaitable[None]], log, tick_s: float = TICK_S
) -> None:
    """Tick the time-based transitions and publish ``RoutingTableChanged`` whenever the
    version moved (bursts coalesce into one notice carrying the latest version). The first
    notice goes out at start, so edges drop routes cached from a previous router."""
    published = None
    while not stop.is_set():
        table.advance()
        if table.version != published:
            table.changed.clear()
            version = table.version
            try:
                await publish(events.encode(events.RoutingTableChanged(table_version=version)))
                published = version
            except Exception as exc:  # edges fall back to their cache TTL; retried next tick
                log.warning("routing change not published", table_version=version, error=type(exc).__name__)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(table.changed.wait(), tick_s)


def nats_publisher(nc) -> Callable[[bytes], Awaitable[None]]:
    async def publish(payload: bytes) -> None:
        await nc.publish(events.ROUTING_CHANGED_SUBJECT, payload)

    return publish
