"""The edge's usage publisher at shutdown: close() flushes what is queued before it stops."""

from __future__ import annotations

import asyncio
import itertools

import structlog

from services.edge.publisher import OutcomeReporter, UsagePublisher
from tollgate import events


class SlowJetStream:
    """Acknowledges each publish after ``delay_s`` (a busy or distant NATS)."""

    def __init__(self, delay_s: float):
        self.delay_s = delay_s
        self.ids: list[str] = []  # request ids of the events acknowledged
        self.messages = 0

    async def publish(self, subject, data, timeout=None, headers=None):
        await asyncio.sleep(self.delay_s)
        self.messages += 1
        self.ids.extend(e.request_id for e in events.unbatched(events.decode(subject, data)))

    async def publish_async(self, subject, data, headers=None, **_):  # as nats-py's: sent now, acked by the future
        return asyncio.ensure_future(self.publish(subject, data, headers=headers))


def usage(i: int) -> events.UsageEvent:
    return events.UsageEvent(request_id=f"req_{i}", occurred_at_ms=1, account_id="acct", key_id="key")


async def test_close_publishes_every_queued_event_before_stopping() -> None:
    js = SlowJetStream(0.02)
    publisher = UsagePublisher(js, structlog.get_logger(), maxsize=100, workers=2)
    publisher.start()
    for i in range(40):  # 40 events, 2 at a time, 20 ms each: about 0.4 s of backlog at SIGTERM
        publisher.submit(usage(i))
    await publisher.close()
    assert sorted(js.ids) == sorted(f"req_{i}" for i in range(40))
    assert publisher.pending == 0 and publisher.published == 40
    assert js.messages < 40 and publisher.messages == js.messages  # what arrived together went together (UsageBatch)


async def test_events_of_one_shard_go_in_one_message_and_traced_ones_alone() -> None:
    """Within one linger the events of a shard share a UsageBatch message (its Nats-Msg-Id the
    batch's); different shards never share one."""
    js = SlowJetStream(0)
    seen: list[tuple[str, str, int]] = []
    publish = js.publish

    async def spy(subject, data, timeout=None, headers=None):
        seen.append((subject, headers["Nats-Msg-Id"], len(events.unbatched(events.decode(subject, data)))))
        await publish(subject, data, headers=headers)

    js.publish = spy  # type: ignore[method-assign]
    publisher = UsagePublisher(js, structlog.get_logger(), maxsize=1000, workers=1, shards=4)
    publisher.start()
    for i in range(200):
        publisher.submit(usage(i))
    await publisher.close()
    assert sorted(js.ids) == sorted(f"req_{i}" for i in range(200))
    assert len(seen) <= 8  # 4 shards, and 200 events fit in two messages of 128 per shard
    for subject, msg_id, count in seen:
        assert subject.startswith(events.USAGE_BATCH_SUBJECT + ".") and msg_id.startswith(f"batch:{count}:")


async def test_close_gives_up_after_its_timeout_and_says_how_many_were_left() -> None:
    js = SlowJetStream(10)
    logged = []

    class Log:
        def error(self, msg, **kw):
            logged.append((msg, kw))

    publisher = UsagePublisher(js, Log(), maxsize=100, workers=1)
    publisher.start()
    for i in range(3):
        publisher.submit(usage(i))
    await asyncio.wait_for(publisher.close(timeout=0.2), 2)
    # One was being sent, two were queued: all three are counted.
    assert js.ids == [] and logged == [("usage events left unpublished at shutdown", {"count": 3})]


async def test_a_trickle_of_events_goes_in_one_message_per_linger_the_shards_taking_turns() -> None:
    """At a low rate (an event every 2 ms) with 16 shards and several idle workers, what
    arrives within one linger is one batch of one shard: one message, not one per event or
    per shard; the next batch goes to the next shard."""
    js = SlowJetStream(0)
    seen: list[tuple[str, int]] = []
    publish = js.publish

    async def spy(subject, data, timeout=None, headers=None):
        seen.append((subject, len(events.unbatched(events.decode(subject, data)))))
        await publish(subject, data, headers=headers)

    js.publish = spy  # type: ignore[method-assign]
    publisher = UsagePublisher(js, structlog.get_logger(), maxsize=1000, workers=8, shards=16)
    publisher.start()
    for i in range(60):
        publisher.submit(usage(i))
        await asyncio.sleep(0.002)
    await publisher.close()
    assert sorted(js.ids) == sorted(f"req_{i}" for i in range(60))
    assert sum(n for _, n in seen) == 60 and len(seen) <= 4, seen  # ~130 ms of events: two lingers (three on a slow machine)
    shards = [int(subject.rsplit(".", 1)[1]) for subject, _ in seen]
    assert all((b - a) % 16 == 1 for a, b in itertools.pairwise(shards)), shards


class RecordingNats:
    """Core NATS that records what was published."""

    is_connected = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []

    async def publish(self, subject, data) -> None:
        self.sent.append((subject, events.decode(subject, data)))


def outcome(i: int) -> events.ChannelOutcome:
    return events.ChannelOutcome(channel_id=f"c{i % 3}", model="m", kind="ok", latency_ms=i)


async def test_channel_outcomes_of_one_linger_go_in_one_message_a_lone_one_as_v1() -> None:
    nc = RecordingNats()
    reporter = OutcomeReporter(nc, structlog.get_logger(), linger_s=0.05)
    reporter.start()
    for i in range(40):  # within one linger
        reporter.report(outcome(i))
    await asyncio.sleep(0.2)
    reporter.report(outcome(99))  # alone in the next
    await reporter.close()
    assert [subject for subject, _ in nc.sent] == [events.CHANNEL_OUTCOMES_SUBJECT, events.CHANNEL_OUTCOME_SUBJECT]
    assert nc.sent[0][1] == events.ChannelOutcomes(outcomes=[outcome(i) for i in range(40)])  # in order
    assert nc.sent[1][1] == outcome(99)


async def test_channel_outcomes_are_dropped_and_counted_while_nats_is_away() -> None:
    nc = RecordingNats()
    nc.is_connected = False
    reporter = OutcomeReporter(nc, structlog.get_logger(), linger_s=0.01)
    reporter.start()
    for i in range(5):
        reporter.report(outcome(i))
    await reporter.close()
    assert nc.sent == [] and reporter.dropped == 5
