"""Channel health: the breaker, rate-limit cool-downs, credential failures and the latency
EWMA (pure logic on a fake clock), and the routing table that turns them into routes and
``RoutingTableChanged`` notices."""

from __future__ import annotations

import asyncio
import random

import pytest
import structlog

from services.router.catalog import parse
from services.router.health import CLOSED, COOLING_DOWN, DISABLED, HALF_OPEN, OPEN, HealthConfig, HealthTracker
from services.router.table import RoutingTable, publish_changes
from tollgate import events

WALL0 = 1_700_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def wall(self) -> float:
        return WALL0 + self.t

    def tick(self, seconds: float) -> None:
        self.t += seconds


def outcome(kind: str, channel: str = "c1", **kw) -> events.ChannelOutcome:
    return events.ChannelOutcome(channel_id=channel, model="m", kind=kind, **kw)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def tracker(clock: FakeClock, **config) -> HealthTracker:
    h = HealthTracker(HealthConfig(**config), clock=clock, wall=clock.wall)
    h.sync(["c1", "c2"])
    return h


def feed(h: HealthTracker, *kinds: str, channel: str = "c1", **kw) -> list:
    transitions = []
    for kind in kinds:
        transitions += h.record(outcome(kind, channel, **kw))
    return transitions


# -- the breaker --------------------------------------------------------------------


def test_errors_open_the_breaker_only_after_min_samples(clock: FakeClock) -> None:
    h = tracker(clock)
    assert feed(h, "error", "timeout", "error", "error") == []  # 4 of 4 failed, but fewer than 5 samples
    assert h.view("c1").state == CLOSED and h.view("c1").error_rate == 1.0 and h.view("c1").samples == 4
    [t] = feed(h, "error")
    assert (t.channel_id, t.old, t.new, t.cause) == ("c1", CLOSED, OPEN, "breaker")
    assert t.reason == "5 of the last 5 attempts failed; open for 10s"
    view = h.view("c1")
    assert view.state == OPEN and view.cooldown_until_ms == int((WALL0 + clock.t + 10) * 1000)
    assert h.state("c2") == CLOSED  # per channel


def test_error_rate_threshold(clock: FakeClock) -> None:
    h = tracker(clock)
    feed(h, "ok", "ok", "ok", "error", "error")  # 40%
    assert h.state("c1") == CLOSED
    feed(h, "error")  # 3 of 6 = 50%
    assert h.state("c1") == OPEN


def test_window_forgets_old_outcomes_and_is_bounded(clock: FakeClock) -> None:
    h = tracker(clock, window_s=60, window_size=10)
    feed(h, "error", "error", "error", "error")
    clock.tick(61)
    feed(h, "error")
    assert (h.view("c1").samples, h.state("c1")) == (1, CLOSED)
    feed(h, *["ok"] * 20)
    assert h.view("c1").samples == 10  # at most window_size
    feed(h, "error", "error", "error", "error")  # 4 of the last 10
    assert h.state("c1") == CLOSED


def test_half_open_after_the_cooldown_and_ok_closes(clock: FakeClock) -> None:
    h = tracker(clock, cooldown_s=1)
    feed(h, *["error"] * 5)
    clock.tick(0.9)
    assert h.advance() == []
    clock.tick(0.1)
    [t] = h.advance()
    assert (t.old, t.new, t.cause) == (OPEN, HALF_OPEN, "time")
    assert h.view("c1").cooldown_until_ms == 0
    [t] = feed(h, "ok")
    assert (t.old, t.new, t.cause) == (HALF_OPEN, CLOSED, "probe")
    assert h.view("c1").samples == 0  # fresh window
    # The next trip starts again from the base cooldown.
    feed(h, *["error"] * 5)
    assert h.view("c1").cooldown_until_ms == int((WALL0 + clock.t + 1) * 1000)


def test_failed_probe_reopens_with_a_doubled_capped_cooldown(clock: FakeClock) -> None:
    h = tracker(clock, cooldown_s=1, max_cooldown_s=3)
    feed(h, *["error"] * 5)
    waits = []
    for _ in range(3):
        until = h.view("c1").cooldown_until_ms
        waits.append(round(until / 1000 - WALL0 - clock.t, 3))
        clock.t = until / 1000 - WALL0
        h.advance()
        assert h.state("c1") == HALF_OPEN
        [t] = feed(h, "timeout")
        assert (t.new, t.cause) == (OPEN, "probe")
    assert waits == [1, 2, 3]
    assert h.view("c1").reason == "half-open probe failed; open for 3s"


def test_outcomes_while_open_are_ignored(clock: FakeClock) -> None:
    h = tracker(clock)
    feed(h, *["error"] * 5)
    assert feed(h, "ok", "ok", "error", "rate_limited") == []
    assert h.state("c1") == OPEN


def test_time_transitions_happen_on_the_next_outcome_too(clock: FakeClock) -> None:
    h = tracker(clock, cooldown_s=1)
    feed(h, *["error"] * 5)
    clock.tick(5)
    transitions = feed(h, "ok")
    assert [(t.old, t.new) for t in transitions] == [(OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


# -- 429: cooling down, never an error, never disabled -----------------------------


def test_rate_limited_cools_down_for_retry_after(clock: FakeClock) -> None:
    h = tracker(clock)
    [t] = feed(h, "rate_limited", http_status=429, retry_after_s=2.5)
    assert (t.new, t.cause) == (COOLING_DOWN, "rate_limit")
    assert t.reason == "rate limited by the provider (HTTP 429); retry after 2.5s"
    view = h.view("c1")
    assert (view.samples, view.error_rate) == (0, 0.0)  # not counted
    assert view.cooldown_until_ms == int((WALL0 + clock.t + 2.5) * 1000)
    clock.tick(2.4)
    assert h.advance() == []
    clock.tick(0.1)
    [t] = h.advance()
    assert (t.old, t.new) == (COOLING_DOWN, CLOSED)


def test_rate_limited_default_and_cap(clock: FakeClock) -> None:
    h = tracker(clock, max_retry_after_s=30)
    feed(h, "rate_limited")
    assert h.view("c1").cooldown_until_ms == int((WALL0 + clock.t + 1) * 1000)  # default 1 s
    feed(h, "rate_limited", channel="c2", retry_after_s=86_400)
    assert h.view("c2").cooldown_until_ms == int((WALL0 + clock.t + 30) * 1000)


def test_many_429s_never_open_or_disable(clock: FakeClock) -> None:
    h = tracker(clock)
    for _ in range(200):
        feed(h, "rate_limited", retry_after_s=0.5)
        clock.tick(0.3)
        h.advance()
        assert h.state("c1") in (CLOSED, COOLING_DOWN)
    assert h.view("c1").samples == 0
    clock.tick(1)
    h.advance()
    assert h.state("c1") == CLOSED


def test_repeated_429_extends_the_cooldown_without_a_transition(clock: FakeClock) -> None:
    h = tracker(clock)
    feed(h, "rate_limited", retry_after_s=1)
    assert feed(h, "rate_limited", retry_after_s=5) == []
    clock.tick(4)
    h.advance()
    assert h.state("c1") == COOLING_DOWN


def test_429_during_half_open_cools_down(clock: FakeClock) -> None:
    h = tracker(clock, cooldown_s=1)
    feed(h, *["error"] * 5)
    clock.tick(1)
    h.advance()
    [t] = feed(h, "rate_limited")
    assert (t.old, t.new) == (HALF_OPEN, COOLING_DOWN)


# -- 401/403: disabled until an operator re-enables ---------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_disables_until_reenabled(clock: FakeClock, status: int) -> None:
    h = tracker(clock)
    feed(h, "ok", "error")
    [t] = feed(h, "auth_failed", http_status=status)
    assert (t.new, t.cause, t.reason) == (DISABLED, "auth", f"provider rejected the credential (HTTP {status})")
    clock.tick(3600)
    assert h.advance() == []
    assert feed(h, "ok", "ok", "auth_failed", "rate_limited") == []
    assert h.view("c1").state == DISABLED and h.view("c1").reason == t.reason
    t = h.set_enabled("c1", True)
    assert (t.old, t.new, t.cause) == (DISABLED, CLOSED, "operator")
    assert (h.view("c1").samples, h.view("c1").reason) == (0, "")


def test_auth_failure_without_a_status_says_401(clock: FakeClock) -> None:
    h = tracker(clock)
    feed(h, "auth_failed")
    assert h.view("c1").reason == "provider rejected the credential (HTTP 401)"


def test_operator_disable_and_enable(clock: FakeClock) -> None:
    h = tracker(clock)
    t = h.set_enabled("c1", False, "maintenance window")
    assert (t.new, h.view("c1").reason) == (DISABLED, "maintenance window")
    assert h.set_enabled("c1", False, "") is None  # already disabled: only the reason changes
    assert h.view("c1").reason == "disabled by an operator"
    feed(h, *["error"] * 5, channel="c2")
    assert h.set_enabled("c2", True).new == CLOSED  # also closes an open breaker
    assert h.set_enabled("c2", True) is None
    with pytest.raises(KeyError):
        h.set_enabled("nope", False)


# -- ignored outcomes, latency, membership ------------------------------------------


def test_client_errors_and_unknown_channels_are_ignored(clock: FakeClock) -> None:
    h = tracker(clock)
    assert feed(h, *["client_error"] * 50) == []
    assert feed(h, "error", channel="not-in-catalog") == []
    assert (h.state("c1"), h.view("c1").samples) == (CLOSED, 0)


def test_latency_ewma(clock: FakeClock) -> None:
    h = tracker(clock)
    assert h.view("c1").latency_ewma_ms == 0.0
    feed(h, "ok", latency_ms=100)
    assert h.view("c1").latency_ewma_ms == 100
    feed(h, "ok", latency_ms=200)
    assert h.view("c1").latency_ewma_ms == pytest.approx(120)
    feed(h, "ok", latency_ms=50)
    assert h.view("c1").latency_ewma_ms == pytest.approx(106)
    feed(h, "error", latency_ms=5000)
    feed(h, "timeout", latency_ms=60000)
    feed(h, "ok", latency_ms=0)  # no measurement
    assert h.view("c1").latency_ewma_ms == pytest.approx(106)


def test_sync_keeps_known_channels_and_applies_new_config(clock: FakeClock) -> None:
    h = tracker(clock)
    feed(h, *["error"] * 5)
    h.set_enabled("c2", False, "x")
    h.sync(["c1", "c3"], HealthConfig(window_size=7))
    assert (h.state("c1"), h.state("c3")) == (OPEN, CLOSED)
    assert "c2" not in h
    assert h.config.window_size == 7


# -- routing table ------------------------------------------------------------------

CATALOG = b"""
[health]
cooldown_s = 1

[[models]]
id = "m"
timeouts = { first_byte_ms = 5_000 }

[[channels]]
id = "a"
provider = "openai"
base_url = "https://a.test/v1"
priority = 10
models = { "m" = "m-a" }

[[channels]]
id = "b"
provider = "groq"
base_url = "https://b.test/v1"
models = { "m" = "m-b" }
"""


def table(clock: FakeClock) -> RoutingTable:
    return RoutingTable(parse(CATALOG, version=1), clock=clock, wall=clock.wall)


def routed(t: RoutingTable) -> list[tuple[str, str]]:
    _, serving = t.route("m", random.Random(0))
    return [(c.id, view.state) for c, view in serving]


def test_route_skips_open_cooling_and_disabled_channels(clock: FakeClock) -> None:
    t = table(clock)
    assert routed(t) == [("a", CLOSED), ("b", CLOSED)]
    for _ in range(5):
        t.record(outcome("error", "a"))
    assert routed(t) == [("b", CLOSED)]
    t.record(outcome("rate_limited", "b", retry_after_s=3))
    assert routed(t) == []
    clock.tick(1)  # a: half-open (routed again, still first by priority); b still cooling down
    assert routed(t) == [("a", HALF_OPEN)]
    t.set_enabled("a", False, "test")
    clock.tick(2)
    assert routed(t) == [("b", CLOSED)]
    with pytest.raises(KeyError):
        t.set_enabled("ghost", True)


def test_every_transition_bumps_the_version(clock: FakeClock) -> None:
    t = table(clock)
    assert t.version == 1
    for _ in range(4):
        t.record(outcome("error", "a"))
    assert t.version == 1 and not t.changed.is_set()
    t.record(outcome("error", "a"))
    assert t.version == 2 and t.changed.is_set()
    clock.tick(1)
    t.advance()
    assert t.version == 3  # open -> half_open, by time alone
    t.record(outcome("ok", "a"))
    assert t.version == 4
    t.record(outcome("client_error", "a"))
    t.set_enabled("a", True)  # already closed: nothing changes
    assert t.version == 4
    t.swap(parse(CATALOG, version=1))
    assert t.version == 5


def test_auth_failure_is_logged_loudly(clock: FakeClock) -> None:
    logged: list[tuple[str, str, dict]] = []

    class Log:
        def __getattr__(self, level: str):
            return lambda event, **kw: logged.append((level, event, kw))

    t = RoutingTable(parse(CATALOG, version=1), log=Log(), clock=clock, wall=clock.wall)
    t.record(outcome("auth_failed", "a", http_status=401))
    [(level, event, fields)] = logged
    assert level == "error" and "tollgate channels enable" in event
    assert fields == {"channel": "a", "old": "closed", "new": "disabled", "reason": "provider rejected the credential (HTTP 401)"}


async def test_publish_changes_notices_time_based_transitions() -> None:
    t = RoutingTable(parse(CATALOG, version=7))
    sent: list[int] = []

    async def publish(payload: bytes) -> None:
        sent.append(events.decode(events.ROUTING_CHANGED_SUBJECT, payload).table_version)

    stop = asyncio.Event()
    task = asyncio.create_task(publish_changes(stop, t, publish, structlog.get_logger(), tick_s=0.05))
    try:
        await asyncio.sleep(0.1)
        assert sent == [7]  # the current version at start
        for _ in range(5):
            t.record(outcome("error", "a"))
        await asyncio.sleep(0.05)
        assert sent == [7, 8]
        await asyncio.sleep(1.1)  # cooldown_s = 1: half-open without any new outcome
        assert sent == [7, 8, 9] and t.health.state("a") == HALF_OPEN
    finally:
        stop.set()
        await asyncio.wait_for(task, 1)


def test_an_open_channel_still_shows_the_window_that_opened_it(clock: FakeClock) -> None:
    h = tracker(clock, cooldown_s=1)
    feed(h, "ok", *["error"] * 4, "error")  # opens on the 5th sample; the last error arrives while open
    assert (h.view("c1").state, h.view("c1").samples, h.view("c1").error_rate) == (OPEN, 5, 0.8)
