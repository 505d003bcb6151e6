"""Channel health: a sliding window of upstream outcomes per channel, a circuit breaker,
rate-limit cool-downs, credential failures and a latency EWMA.

Pure logic with an injectable clock (``HealthTracker``), plus the NATS subscriber that
feeds it the ``ChannelOutcome`` events every edge publishes for every upstream attempt.

States (what ``Route`` does with them):

- ``closed``: healthy, routed.
- ``open``: the window had at least ``min_samples`` attempts and an error rate (kind
  "error" or "timeout") of at least ``error_threshold``; not routed until the cooldown ends.
- ``half_open``: the cooldown ended; routed again, and the next outcome decides: ok ->
  ``closed`` with a fresh window and the base cooldown; error/timeout -> ``open`` again
  with the cooldown doubled (capped at ``max_cooldown_s``).
- ``cooling_down``: the provider answered 429; not routed until its Retry-After (or
  ``retry_after_default_s``) has passed, then ``closed``. A 429 is not an error.
- ``disabled``: the provider rejected the credential (401/403), or an operator disabled
  the channel; not routed until an operator re-enables it.
Kind "client_error" (the request's own fault) says nothing about the channel: ignored.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

import msgspec
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tollgate import events
from tollgate.telemetry import Log

CLOSED, OPEN, HALF_OPEN, COOLING_DOWN, DISABLED = "closed", "open", "half_open", "cooling_down", "disabled"
ROUTABLE = frozenset({CLOSED, HALF_OPEN})
FAILURES = frozenset({"error", "timeout"})
OPERATOR_REASON = "disabled by an operator"


class HealthConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The catalog's ``[health]`` table."""

    window_s: float = 60.0  # outcomes older than this leave the window
    window_size: int = 50  # and at most this many recent ones are kept
    min_samples: int = 5  # the breaker never opens on fewer attempts
    error_threshold: float = 0.5  # error share that opens the breaker
    cooldown_s: float = 10.0  # how long the breaker stays open the first time
    max_cooldown_s: float = 300.0  # cap for the doubling after failed half-open probes
    retry_after_default_s: float = 1.0  # cool-down after a 429 without Retry-After
    max_retry_after_s: float = 600.0  # cap on a provider's Retry-After
    latency_alpha: float = 0.2  # EWMA weight of the newest latency

    def __post_init__(self) -> None:
        positive = ("window_s", "cooldown_s", "max_cooldown_s", "retry_after_default_s", "max_retry_after_s")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"health.{name} must be positive")
        if self.min_samples < 1 or self.window_size < self.min_samples:
            raise ValueError("health: need 1 <= min_samples <= window_size")
        if not 0 < self.error_threshold <= 1 or not 0 < self.latency_alpha <= 1:
            raise ValueError("health.error_threshold and health.latency_alpha must be in (0, 1]")
        if self.max_cooldown_s < self.cooldown_s:
            raise ValueError("health.max_cooldown_s must be at least cooldown_s")


class Transition(NamedTuple):
    channel_id: str
    old: str
    new: str
    reason: str
    cause: str  # "breaker" | "probe" | "rate_limit" | "auth" | "operator" | "time"


class ChannelView(NamedTuple):
    state: str
    error_rate: float
    samples: int
    latency_ewma_ms: float
    reason: str
    cooldown_until_ms: int  # wall clock, epoch ms; 0 unless open or cooling down


@dataclass(slots=True)
class ChannelHealth:
    window: deque  # (monotonic seconds, failed?)
    state: str = CLOSED
    until: float = 0.0  # when open/cooling_down ends (tracker clock)
    cooldown_s: float = 0.0  # the current open period (doubles on failed probes)
    reason: str = ""
    latency_ewma_ms: float = 0.0
    seen_latency: bool = False


class HealthTracker:
    def __init__(
        self, config: HealthConfig | None = None, *, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time
    ):
        self.config = config or HealthConfig()
        self._clock = clock
        self._wall = wall
        self._channels: dict[str, ChannelHealth] = {}

    # -- membership -----------------------------------------------------------------
    def sync(self, channel_ids: Iterable[str], config: HealthConfig | None = None) -> None:
        """Follow a (re)loaded catalog: keep known channels' health, add new ones, drop removed."""
        if config is not None and config != self.config:
            self.config = config
            for h in self._channels.values():
                h.window = deque(h.window, maxlen=config.window_size)
        wanted = list(channel_ids)
        self._channels = {cid: self._channels.get(cid) or self._fresh() for cid in wanted}

    def _fresh(self) -> ChannelHealth:
        return ChannelHealth(window=deque(maxlen=self.config.window_size), cooldown_s=self.config.cooldown_s)

    def __contains__(self, channel_id: str) -> bool:
        return channel_id in self._channels

    # -- reads ----------------------------------------------------------------------
    def state(self, channel_id: str) -> str:
        return self._channels[channel_id].state

    def states(self) -> dict[str, str]:
        """Every channel's state, as last advanced (a snapshot: safe from another thread)."""
        return {cid: h.state for cid, h in list(self._channels.items())}

    def view(self, channel_id: str) -> ChannelView:
        h = self._channels[channel_id]
        now = self._clock()
        self._prune(h, now)
        samples = len(h.window)
        errors = sum(1 for _, failed in h.window if failed)
        until_ms = int((self._wall() + (h.until - now)) * 1000) if h.state in (OPEN, COOLING_DOWN) else 0
        return ChannelView(h.state, errors / samples if samples else 0.0, samples, h.latency_ewma_ms, h.reason, until_ms)

    # -- writes ---------------------------------------------------------------------
    def advance(self) -> list[Transition]:
        """Time-based transitions: open -> half_open and cooling_down -> closed once due."""
        now = self._clock()
        changed = []
        for cid, h in self._channels.items():
            if (t := self._advance_one(cid, h, now)) is not None:
                changed.append(t)
        return changed

    def record(self, outcome: events.ChannelOutcome) -> list[Transition]:
        """Apply one upstream attempt's outcome; returns the state transitions it caused."""
        h = self._channels.get(outcome.channel_id)
        if h is None:
            return []  # a channel this catalog no longer (or not yet) has
        now = self._clock()
        changed = [t] if (t := self._advance_one(outcome.channel_id, h, now)) is not None else []
        if h.state == DISABLED:
            return changed
        kind = outcome.kind
        if kind == "ok" and outcome.latency_ms > 0:
            alpha = self.config.latency_alpha
            h.latency_ewma_ms = outcome.latency_ms if not h.seen_latency else alpha * outcome.latency_ms + (1 - alpha) * h.latency_ewma_ms
            h.seen_latency = True
        if kind == "auth_failed":
            status = outcome.http_status or 401
            t = self._move(outcome.channel_id, h, DISABLED, f"provider rejected the credential (HTTP {status})", "auth")
        elif kind == "rate_limited":
            t = self._rate_limited(outcome, h, now)
        elif kind == "ok" or kind in FAILURES:
            t = self._sample(outcome.channel_id, h, kind in FAILURES, now)
        else:
            t = None  # client_error (or an unknown kind): nothing to learn about the channel
        return changed + ([t] if t is not None else [])

    def set_enabled(self, channel_id: str, enabled: bool, reason: str = "") -> Transition | None:
        """Operator action. Raises KeyError for an unknown channel."""
        h = self._channels[channel_id]
        if not enabled:
            t = self._move(channel_id, h, DISABLED, reason or OPERATOR_REASON, "operator")
            h.reason = reason or OPERATOR_REASON  # a second disable may correct the reason
            return t
        h.window.clear()
        h.cooldown_s = self.config.cooldown_s
        return self._move(channel_id, h, CLOSED, "", "operator")

    # -- internals ------------------------------------------------------------------
    def _advance_one(self, cid: str, h: ChannelHealth, now: float) -> Transition | None:
        if h.state == OPEN and now >= h.until:
            return self._move(cid, h, HALF_OPEN, "probing after the cooldown", "time")
        if h.state == COOLING_DOWN and now >= h.until:
            return self._move(cid, h, CLOSED, "", "time")
        return None

    def _sample(self, cid: str, h: ChannelHealth, failed: bool, now: float) -> Transition | None:
        cfg = self.config
        if h.state == OPEN:
            return None  # attempts that started before the breaker opened
        if h.state == HALF_OPEN:
            if failed:
                h.cooldown_s = min(h.cooldown_s * 2, cfg.max_cooldown_s)
                return self._open(cid, h, now, f"half-open probe failed; open for {h.cooldown_s:g}s", "probe")
            h.window.clear()
            h.cooldown_s = cfg.cooldown_s
            return self._move(cid, h, CLOSED, "", "probe")
        h.window.append((now, failed))
        self._prune(h, now)
        samples = len(h.window)
        errors = sum(1 for _, f in h.window if f)
        if failed and samples >= cfg.min_samples and errors / samples >= cfg.error_threshold:
            h.cooldown_s = cfg.cooldown_s
            return self._open(cid, h, now, f"{errors} of the last {samples} attempts failed; open for {h.cooldown_s:g}s", "breaker")
        return None

    def _open(self, cid: str, h: ChannelHealth, now: float, reason: str, cause: str) -> Transition | None:
        h.until = now + h.cooldown_s  # the window stays for operators to see; a successful probe clears it
        return self._move(cid, h, OPEN, reason, cause)

    def _rate_limited(self, outcome: events.ChannelOutcome, h: ChannelHealth, now: float) -> Transition | None:
        if h.state == OPEN:
            return None
        cfg = self.config
        wait = min(outcome.retry_after_s if outcome.retry_after_s > 0 else cfg.retry_after_default_s, cfg.max_retry_after_s)
        until = now + wait
        if h.state == COOLING_DOWN:
            h.until = max(h.until, until)
            return None
        h.until = until
        return self._move(
            outcome.channel_id, h, COOLING_DOWN, f"rate limited by the provider (HTTP 429); retry after {wait:g}s", "rate_limit"
        )

    @staticmethod
    def _move(cid: str, h: ChannelHealth, new: str, reason: str, cause: str) -> Transition | None:
        old = h.state
        if old == new:
            return None
        h.state, h.reason = new, reason
        if new in (CLOSED, HALF_OPEN, DISABLED):
            h.until = 0.0
        return Transition(cid, old, new, reason, cause)

    def _prune(self, h: ChannelHealth, now: float) -> None:
        horizon = now - self.config.window_s
        while h.window and h.window[0][0] < horizon:
            h.window.popleft()


# tollgate_router_channel_state: the breaker as a number (0 closed, 1 half-open, 2 open),
# then the states that also take a channel out of rotation without the breaker.
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2, COOLING_DOWN: 3, DISABLED: 4}


class ChannelStateCollector(Collector):
    """Per catalog channel, its health state at scrape time (read without advancing it:
    the routing notifier advances the table every ``TICK_S``). Scrapes may come from the
    metrics server's thread, so it reads snapshots only."""

    def __init__(self, table):
        self._table = table

    def collect(self):
        states = self._table.health.states()
        gauge = GaugeMetricFamily(
            "tollgate_router_channel_state",
            "channel health: 0 closed, 1 half-open, 2 open, 3 cooling down (429), 4 disabled",
            labels=["channel", "provider"],
        )
        for channel in self._table.catalog.channels:
            state = states.get(channel.id)
            if state is not None:
                gauge.add_metric([channel.id, channel.provider], STATE_VALUES[state])
        yield gauge

    def describe(self):
        return []


async def subscribe_outcomes(nc, table, log: Log) -> list:
    """Feed every edge's ChannelOutcome reports (core NATS, no queue group: every router
    replica keeps the same health) into ``table.record``: one a message (v1), or what an edge
    gathered in one linger (v2, ``ChannelOutcomes``), in order."""

    def subscriber(subject: str):
        decoder = events.DECODERS[subject]

        async def on_message(msg) -> None:
            try:
                decoded = decoder.decode(msg.data)
            except msgspec.DecodeError as exc:
                log.warning("bad channel outcome", error=str(exc))
                return
            for outcome in decoded.outcomes if isinstance(decoded, events.ChannelOutcomes) else (decoded,):
                table.record(outcome)

        return nc.subscribe(subject, cb=on_message)

    return [await subscriber(events.CHANNEL_OUTCOME_SUBJECT), await subscriber(events.CHANNEL_OUTCOMES_SUBJECT)]
