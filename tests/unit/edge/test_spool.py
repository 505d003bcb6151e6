"""The edge's usage spool and the publisher on top of it: nothing accepted is lost by a
crash, an outage, or both; nothing is read back twice."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest
import structlog

from services.edge.publisher import LINGER_S, UsagePublisher
from services.edge.spool import Spool, SpoolFull
from tollgate import events


def usage(i: int) -> events.UsageEvent:
    return events.UsageEvent(
        request_id=f"req_{i:06d}", occurred_at_ms=1_700_000_000_000 + i, account_id="acct", key_id="key", cost_micros=i
    )


class FakeJs:
    """JetStream that is down until ``up`` is set; records what it acknowledged."""

    def __init__(self, up: bool = True):
        self.up = up
        self.acked: list[str] = []

    async def publish(self, subject, data, timeout, headers):
        if not self.up:
            raise ConnectionError("nats down")
        await asyncio.sleep(0)
        self.acked.extend(e.request_id for e in events.unbatched(events.decode(subject, data)))  # a v1 event or a UsageBatch

    async def publish_async(self, subject, data, headers=None, **_):  # as nats-py's: sent now, acked by the future
        return asyncio.ensure_future(self.publish(subject, data, None, headers))


def test_records_survive_a_crash_and_a_torn_tail(tmp_path):
    spool = Spool(tmp_path / "s", max_bytes=1 << 20)
    assert spool.open() == 0
    for i in range(5):
        spool.append(events.USAGE_SUBJECT, f"req_{i}", events.encode(usage(i)), in_memory=True)
    seg = next((tmp_path / "s").glob("seg-*.log"))
    with open(seg, "ab") as f:
        f.write(b"\x40\x00\x00\x00garbage")  # a record cut short by a crash mid-write
    os.close(spool._lock_fd)  # the process died: no close(), the lock goes with it

    again = Spool(tmp_path / "s", max_bytes=1 << 20)
    assert again.open() == 5
    records = again.read_backlog(100)
    assert [r.request_id for r in records] == [f"req_{i}" for i in range(5)]
    assert events.DECODERS[records[0].subject].decode(records[0].data) == usage(0)
    assert not again.backlog
    for r in records:
        again.ack(r.seq)
    assert again.unacked == 0 and not seg.exists()  # a replayed segment goes once acknowledged
    again.close()


def test_one_process_per_spool_and_private_files(tmp_path):
    spool = Spool(tmp_path / "s", max_bytes=1 << 20)
    spool.open()
    with pytest.raises(SystemExit, match="in use by another edge"):
        Spool(tmp_path / "s", max_bytes=1 << 20).open()
    spool.append(events.USAGE_SUBJECT, "req_x", b"x", in_memory=True)
    seg = next((tmp_path / "s").glob("seg-*.log"))
    assert stat.S_IMODE(seg.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "s").stat().st_mode) == 0o700
    spool.close()


def test_full_spool_refuses_and_rotated_segments_are_deleted_once_acked(tmp_path):
    record = len(events.encode(usage(0)))  # sized by the event: a field added to UsageEvent keeps the same layout
    spool = Spool(tmp_path / "s", max_bytes=10 * record, segment_bytes=2 * record)
    spool.open()
    handles = []
    with pytest.raises(SpoolFull):
        for i in range(1_000):
            handles.append(spool.append(events.USAGE_SUBJECT, f"req_{i}", events.encode(usage(i)), in_memory=True))
    assert spool.full and len(list((tmp_path / "s").glob("seg-*.log"))) >= 4
    for seq in handles:
        spool.ack(seq)
    assert not spool.full and spool.unacked == 0
    assert len(list((tmp_path / "s").glob("seg-*.log"))) == 1  # only the active one is left
    spool.close()


def test_backlog_reads_each_disk_only_record_once(tmp_path):
    spool = Spool(tmp_path / "s", max_bytes=1 << 20, segment_bytes=500)
    spool.open()
    spool.append(events.USAGE_SUBJECT, "req_mem", b"m", in_memory=True)
    for i in range(30):  # across several segments
        spool.append(events.USAGE_SUBJECT, f"req_{i}", b"d" * 40, in_memory=False)
    got = spool.read_backlog(10) + spool.read_backlog(1_000)
    assert [r.request_id for r in got] == [f"req_{i}" for i in range(30)]
    assert spool.read_backlog(10) == [] and not spool.backlog
    spool.close()


async def test_nats_down_then_edge_killed_then_replayed(tmp_path):
    """The fault drill in miniature: NATS down, events accepted, the process dies; the next
    process on the same spool publishes every one of them exactly once to JetStream."""
    js = FakeJs(up=False)
    spool = Spool(tmp_path / "s", max_bytes=1 << 20)
    spool.open()
    publisher = UsagePublisher(js, structlog.get_logger(), maxsize=10, workers=2, spool=spool)
    publisher.start()
    for i in range(50):  # more than the queue holds: 40 go to the spool only
        publisher.submit(usage(i))
    await asyncio.sleep(0.05)
    assert publisher.dropped == 0 and publisher.pending == 50
    for task in publisher._tasks:  # kill -9: no close, no flush
        task.cancel()
    os.close(spool._lock_fd)

    js2 = FakeJs(up=True)
    spool2 = Spool(tmp_path / "s", max_bytes=1 << 20)
    assert spool2.open() == 50
    publisher2 = UsagePublisher(js2, structlog.get_logger(), maxsize=10, workers=2, spool=spool2)
    publisher2.start()
    publisher2.submit(usage(50))  # a new request while the backlog drains: spooled, not lost
    await asyncio.wait_for(publisher2.close(), 10)
    assert sorted(js2.acked) == [f"req_{i:06d}" for i in range(51)]
    assert not list((tmp_path / "s").glob("seg-*.log"))


async def test_publisher_waits_for_nats_then_attaches(tmp_path):
    spool = Spool(tmp_path / "s", max_bytes=1 << 20)
    spool.open()
    publisher = UsagePublisher(None, structlog.get_logger(), maxsize=100, workers=1, spool=spool, fsync_s=0.01)
    publisher.start()
    for i in range(5):
        publisher.submit(usage(i))
    await asyncio.sleep(0.05)
    assert publisher.pending == 5
    js = FakeJs()
    publisher.attach(js)
    await asyncio.wait_for(publisher.close(), 5)
    assert js.acked == [f"req_{i:06d}" for i in range(5)] and publisher.pending == 0


async def test_close_with_nats_down_leaves_events_in_the_spool(tmp_path):
    spool = Spool(tmp_path / "s", max_bytes=1 << 20)
    spool.open()
    publisher = UsagePublisher(FakeJs(up=False), structlog.get_logger(), maxsize=100, workers=1, spool=spool)
    publisher.start()
    publisher.submit(usage(1))
    await asyncio.wait_for(publisher.close(timeout=0.2), 5)
    again = Spool(tmp_path / "s", max_bytes=1 << 20)
    assert again.open() == 1
    again.close()


def test_an_orphaned_spool_is_adopted_but_a_live_one_is_not(tmp_path):
    live = Spool(tmp_path / "edge-b-2", max_bytes=1 << 20)
    live.open()
    live.append(events.USAGE_SUBJECT, "req_live", b"y", in_memory=True)
    dead = Spool(tmp_path / "edge-a-1", max_bytes=1 << 20)
    dead.open()
    dead.append(events.USAGE_SUBJECT, "req_dead", b"x", in_memory=True)
    os.close(dead._lock_fd)  # the process is gone

    new = Spool(tmp_path / "edge-c-3", max_bytes=1 << 20)
    assert new.open() == 1
    assert [r.request_id for r in new.read_backlog(10)] == ["req_dead"]
    assert not (tmp_path / "edge-a-1").exists() and (tmp_path / "edge-b-2").exists()
    live.close()
    new.close()


async def test_every_copy_of_an_event_goes_to_the_shard_it_was_spooled_with(tmp_path):
    """Usage subjects carry a shard (tollgate.usage.v1.<shard>), and one metering process owns
    each shard: a retry and a replay after a crash must use the subject the event was first
    spooled with, even when the next process has another shard count. The publisher moves to
    the next shard with each batch it gathers, so the shards take turns."""
    sent: list[tuple[str, str]] = []
    spooled: dict[str, str] = {}

    class Recording(FakeJs):
        async def publish(self, subject, data, timeout, headers):
            await super().publish(subject, data, timeout, headers)
            v1 = subject.replace(events.USAGE_BATCH_SUBJECT, events.USAGE_SUBJECT)  # a batch goes to the v2 subject of the same shard
            sent.extend((v1, e.request_id) for e in events.unbatched(events.decode(subject, data)))

    spool = Spool(tmp_path / "s", max_bytes=1 << 20)
    spool.open()
    append = spool.append

    def recording_append(subject, request_id, data, **kw):
        spooled[request_id] = subject
        return append(subject, request_id, data, **kw)

    spool.append = recording_append  # type: ignore[method-assign]
    publisher = UsagePublisher(FakeJs(up=False), structlog.get_logger(), maxsize=10, workers=4, spool=spool, shards=16)
    publisher.start()
    for i in range(30):
        publisher.submit(usage(i))
        if i % 10 == 9:  # three batches (a linger each): three shards
            await asyncio.sleep(LINGER_S + 0.05)
    for task in publisher._tasks:  # kill -9
        task.cancel()
    os.close(spool._lock_fd)
    assert len(set(spooled.values())) == 3 and all(events.decoder_for(s) is not None for s in spooled.values())

    spool2 = Spool(tmp_path / "s", max_bytes=1 << 20)
    assert spool2.open() == 30
    publisher2 = UsagePublisher(Recording(), structlog.get_logger(), maxsize=10, workers=2, spool=spool2, shards=7)
    publisher2.start()
    publisher2.submit(usage(30))
    await asyncio.wait_for(publisher2.close(), 10)
    got = dict((rid, subject) for subject, rid in sent)
    assert len(sent) == 31 and {rid: got[rid] for rid in spooled} == spooled
    assert got["req_000030"] in {f"{events.USAGE_SUBJECT}.{k}" for k in range(7)}
