"""The edge's usage publisher at shutdown: close() flushes what is queued before it stops."""

from __future__ import annotations

import asyncio

import structlog

from services.edge.publisher import UsagePublisher
from tollgate import events


class SlowJetStream:
    """Acknowledges each publish after ``delay_s`` (a busy or distant NATS)."""

    def __init__(self, delay_s: float):
        self.delay_s = delay_s
        self.ids: list[str] = []

    async def publish(self, subject, data, timeout=None, headers=None):
        await asyncio.sleep(self.delay_s)
        self.ids.append(headers["Nats-Msg-Id"])

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
