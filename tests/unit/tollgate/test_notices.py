"""Control notices: the accounts outbox, the subscribers' catch-up after an outage, gap
handling, and the caches they invalidate (tollgate/notices.py, services/accounts/notices.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from types import SimpleNamespace

import pytest
import structlog

from services.accounts.notices import Notifier, Outbox
from services.edge.auth import Authenticator
from services.metering.auth import Authorizer
from tollgate import bus, events, notices
from tollgate.errors import Unauthorized
from tollgate.keys import hash_key
from tollgate.notices import CONTROL_STREAM, NoticeFeed, plan
from tollgate.rpc import accounts_pb2 as pb
from tools.stack import free_ports, nats_server_binary

LOG = structlog.get_logger()
KEY = "sk-" + "a" * 48
PEPPER = "p"


# -- what a catch-up reads -----------------------------------------------------------------
def test_first_read_since_start_goes_by_start_time_minus_the_margin():
    p = plan(None, None, first_seq=1, last_seq=5, stream_created="c", started_s=1000.0, now_s=1010.0, max_age_s=3600)
    assert p == notices.Plan(gap=False, read=True, from_time_s=1000.0 - notices.START_MARGIN_S)
    empty = plan(None, None, first_seq=0, last_seq=0, stream_created="c", started_s=1000.0, now_s=1010.0, max_age_s=3600)
    assert not empty.read and not empty.gap


def test_first_read_after_longer_than_the_stream_keeps_notices_is_a_gap():
    p = plan(None, None, first_seq=7, last_seq=9, stream_created="c", started_s=0.0, now_s=3600.0, max_age_s=3600)
    assert p.gap and p.read


def test_next_reads_continue_after_the_last_sequence_read():
    assert plan(4, "c", first_seq=1, last_seq=6, stream_created="c", started_s=0, now_s=10, max_age_s=3600) == notices.Plan(False, True, 5)
    assert not plan(6, "c", first_seq=1, last_seq=6, stream_created="c", started_s=0, now_s=10, max_age_s=3600).read
    # everything read has since expired, nothing new: not a gap
    assert plan(6, "c", first_seq=7, last_seq=6, stream_created="c", started_s=0, now_s=10, max_age_s=3600) == notices.Plan(False, False, 7)


def test_unread_notices_that_expired_or_a_recreated_stream_are_gaps():
    expired = plan(4, "c", first_seq=8, last_seq=9, stream_created="c", started_s=0, now_s=10, max_age_s=3600)
    assert expired == notices.Plan(gap=True, read=True, from_seq=8)
    recreated = plan(4, "c", first_seq=1, last_seq=9, stream_created="d", started_s=0, now_s=10, max_age_s=3600)
    assert recreated == notices.Plan(gap=True, read=True, from_seq=1)
    shorter = plan(4, "c", first_seq=1, last_seq=2, stream_created="c", started_s=0, now_s=10, max_age_s=3600)
    assert shorter.gap and shorter.from_seq == 1


def test_a_feed_takes_only_control_subjects():
    with pytest.raises(ValueError):
        NoticeFeed({events.BALANCE_CHANGED_SUBJECT: print}, on_gap=lambda: None, log=LOG)


# -- the accounts outbox, on SQLite and PostgreSQL -----------------------------------------------
async def test_the_outbox_keeps_notices_in_order_across_a_restart_until_removed(accounts_db):
    first = Outbox(accounts_db)
    for n in range(3):
        await first.add(events.KEY_REVOKED_SUBJECT, events.encode(revoked(n)))
    first.close()
    again = Outbox(accounts_db)  # accounts restarted: the table exists, the rows are there
    try:
        rows = await again.oldest(10)
        assert [(s, events.decode(s, d)) for _, s, d, _ in rows] == [(events.KEY_REVOKED_SUBJECT, revoked(n)) for n in range(3)]
        assert [r[0] for r in rows] == sorted(r[0] for r in rows) and await again.count() == 3
        await again.remove(rows[0][0])
        assert [r[0] for r in await again.oldest(1)] == [rows[1][0]] and await again.count() == 2
    finally:
        again.close()


# -- against a real nats-server --------------------------------------------------------------
class Nats:
    """A nats-server (JetStream, file storage) that a test can kill and start again on the same port and data."""

    def __init__(self, tmp_path):
        [self.port] = free_ports(1)
        self.data = tmp_path / "nats"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Starts it; the monotonic time it accepted a connection."""
        argv = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.data)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return time.monotonic()
            time.sleep(0.02)
        raise AssertionError("nats-server did not come up")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def nats_server(tmp_path):
    server = Nats(tmp_path)
    server.start()
    yield server
    if server.proc.poll() is None:
        server.proc.terminate()
        server.proc.wait(10)


class Recorder:
    def __init__(self):
        self.seen: list[object] = []
        self.gaps = 0

    def handlers(self) -> dict:
        return {s: self.seen.append for s in notices.CONTROL_SUBJECTS}

    def gap(self) -> None:
        self.gaps += 1


def revoked(n: int) -> events.KeyRevoked:
    return events.KeyRevoked(key_id=f"key_{n}", key_hash=f"h{n}", account_id="acct")


async def publish(js, *notices_):
    for event in notices_:
        subject = events.ACCOUNT_STATUS_SUBJECT if isinstance(event, events.AccountStatusChanged) else events.KEY_REVOKED_SUBJECT
        await js.publish(subject, events.encode(event))


async def test_catch_up_applies_unread_notices_in_stream_order_once_and_reports_gaps(nats_server):
    nc = await bus.connect(nats_server.url, name="test")
    try:
        js = nc.jetstream()
        await notices.ensure_control_stream(js)
        suspended = events.AccountStatusChanged(account_id="acct", status="suspended", reason="r")
        active = events.AccountStatusChanged(account_id="acct", status="active")
        await publish(js, revoked(1), suspended, active)
        rec = Recorder()
        feed = NoticeFeed(rec.handlers(), on_gap=rec.gap, log=LOG)  # not started: no live subscription
        assert await feed.catch_up(js) == 3
        assert rec.seen == [revoked(1), suspended, active] and feed.seq == 3 and rec.gaps == 0
        assert await feed.catch_up(js) == 0  # nothing new: nothing applied again
        await publish(js, revoked(2))
        assert await feed.catch_up(js) == 1 and rec.seen[-1] == revoked(2) and feed.seq == 4

        await publish(js, revoked(3), revoked(4))
        await js.purge_stream(CONTROL_STREAM)  # as if they had expired unread
        assert await feed.catch_up(js) == 0
        assert rec.gaps == 1 and feed.seq == 6

        await js.delete_stream(CONTROL_STREAM)  # NATS lost its data: a new stream
        await notices.ensure_control_stream(js)
        await publish(js, revoked(5))
        assert await feed.catch_up(js) == 1
        assert rec.gaps == 2 and rec.seen[-1] == revoked(5) and feed.seq == 1
        assert not (await js.consumers_info(CONTROL_STREAM))  # the reading consumers are deleted
    finally:
        await nc.close()


async def test_a_server_that_cannot_reserve_the_byte_bound_gets_the_stream_without_it(tmp_path):
    [port] = free_ports(1)
    conf = tmp_path / "nats.conf"
    conf.write_text(f'port: {port}\nnet: "127.0.0.1"\njetstream {{ store_dir: "{tmp_path / "js"}", max_file_store: 1MB }}\n')
    proc = subprocess.Popen([nats_server_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        nc = None
        for _ in range(100):
            with contextlib.suppress(Exception):
                nc = await bus.connect(f"nats://127.0.0.1:{port}", name="test", connect_timeout=1)
                break
            await asyncio.sleep(0.05)
        js = nc.jetstream()
        await notices.ensure_control_stream(js)
        info = await js.stream_info(CONTROL_STREAM)
        assert info.config.max_bytes == -1 and info.config.max_age == notices.MAX_AGE_S
        await notices.ensure_control_stream(js)  # again (every start): still there
        await nc.close()
    finally:
        proc.terminate()
        proc.wait(10)


async def test_a_new_process_applies_notices_sent_since_it_started_but_not_older_ones(nats_server):
    """A process that started before NATS answered catches up from its start time (less a margin for clock skew)."""
    nc = await bus.connect(nats_server.url, name="test")
    try:
        js = nc.jetstream()
        await notices.ensure_control_stream(js)
        await publish(js, revoked(1))
        rec = Recorder()
        feed = NoticeFeed(rec.handlers(), on_gap=rec.gap, log=LOG)
        await publish(js, revoked(2))
        assert await feed.catch_up(js) == 2 and rec.seen == [revoked(1), revoked(2)]  # both within the margin
        later, now = Recorder(), time.time()
        feed = NoticeFeed(later.handlers(), on_gap=later.gap, log=LOG, clock=lambda: now + notices.START_MARGIN_S + 5)
        assert await feed.catch_up(js) == 0  # both are older than its start minus the margin
        assert feed.seq == 2 and later.seen == []
        await publish(js, revoked(3))
        assert await feed.catch_up(js) == 1 and later.seen == [revoked(3)]
    finally:
        await nc.close()


async def test_a_notice_written_while_nats_is_down_is_applied_within_a_second_of_nats_returning(nats_server, tmp_path):
    """Accounts writes the revoke while NATS is down, and even restarts before NATS returns;
    a subscriber in another process applies it within a second of NATS answering again."""
    db = tmp_path / "accounts.sqlite3"
    accounts_nc = await bus.connect(nats_server.url, name="accounts")
    edge_nc = await bus.connect(nats_server.url, name="edge")
    tasks: list[asyncio.Task] = []
    try:
        await notices.ensure_control_stream(accounts_nc.jetstream())
        rec = Recorder()
        feed = NoticeFeed(rec.handlers(), on_gap=rec.gap, log=LOG)
        await feed.start(edge_nc)
        first_stop = asyncio.Event()
        first = Notifier(accounts_nc, Outbox(db), LOG)
        tasks.append(asyncio.create_task(first.run(first_stop)))

        await first.publish(events.KEY_REVOKED_SUBJECT, revoked(1))  # NATS up: live
        for _ in range(100):
            if rec.seen:
                break
            await asyncio.sleep(0.01)
        assert rec.seen == [revoked(1)]

        nats_server.kill()
        while accounts_nc.is_connected or edge_nc.is_connected:
            await asyncio.sleep(0.01)
        await first.publish(events.KEY_REVOKED_SUBJECT, revoked(2))
        await first.publish(events.ACCOUNT_STATUS_SUBJECT, events.AccountStatusChanged(account_id="acct", status="suspended"))
        await first.balance_changed("acct", 5)  # a hint: core NATS, never in the outbox
        assert await Outbox(db).count() == 2
        first_stop.set()
        await tasks.pop()
        second = Notifier(accounts_nc, Outbox(db), LOG)  # accounts restarted while NATS was down
        second_stop = asyncio.Event()
        tasks.append(asyncio.create_task(second.run(second_stop)))
        await asyncio.sleep(1.0)
        assert rec.seen == [revoked(1)] and second.pending == 2

        back = await asyncio.to_thread(nats_server.start)
        suspended = events.AccountStatusChanged(account_id="acct", status="suspended")
        while suspended not in rec.seen:
            assert time.monotonic() - back < 3.0, f"not applied: {rec.seen}"
            await asyncio.sleep(0.01)
        applied_s = time.monotonic() - back
        assert rec.seen.index(revoked(2)) < rec.seen.index(suspended)  # in the order accounts wrote them
        # the client waits up to reconnect_time_wait (0.5 s) before trying again: 1 s after that
        print(f"notice applied {applied_s:.3f} s after NATS accepted connections again")
        assert applied_s < 1.5, applied_s
        for _ in range(100):
            if await Outbox(db).count() == 0:
                break
            await asyncio.sleep(0.02)
        assert await Outbox(db).count() == 0 and rec.gaps == 0
        second_stop.set()
        await tasks.pop()
        await feed.close()
    finally:
        for task in tasks:
            task.cancel()
        await accounts_nc.close()
        await edge_nc.close()


class Relay:
    """A TCP relay in front of nats-server whose connections can be cut (and new ones refused)
    while NATS itself stays up: one process cut off from NATS."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> float:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return time.monotonic()

    async def _relay(self, client_r, client_w) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [client_w, server_w]

        async def pipe(src, dst) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    async def cut(self) -> None:
        self._server.close()
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        await self._server.wait_closed()


async def test_a_subscriber_cut_off_while_the_notice_was_published_applies_it_within_a_second_of_reconnecting(nats_server, tmp_path):
    """NATS stays up and takes the notice at once; only the subscriber's connection is down, so it
    misses the live message: the catch-up after its reconnect applies it."""
    relay = Relay(nats_server.port)
    await relay.start()
    accounts_nc = await bus.connect(nats_server.url, name="accounts")
    edge_nc = await bus.connect(f"nats://127.0.0.1:{relay.port}", name="edge")
    stop = asyncio.Event()
    notifier = Notifier(accounts_nc, Outbox(tmp_path / "accounts.sqlite3"), LOG)
    task = asyncio.create_task(notifier.run(stop))
    rec = Recorder()
    feed = NoticeFeed(rec.handlers(), on_gap=rec.gap, log=LOG)
    try:
        await notices.ensure_control_stream(accounts_nc.jetstream())
        await feed.start(edge_nc)
        await relay.cut()
        while edge_nc.is_connected:
            await asyncio.sleep(0.01)
        await notifier.publish(events.KEY_REVOKED_SUBJECT, revoked(7))
        for _ in range(200):
            if notifier.pending == 0:
                break
            await asyncio.sleep(0.01)
        assert notifier.pending == 0  # in the stream
        await asyncio.sleep(0.5)
        assert rec.seen == []
        back = await relay.start()
        while revoked(7) not in rec.seen:
            assert time.monotonic() - back < 3.0, (
                f"not applied after reconnecting {edge_nc.is_connected} {edge_nc.stats} {feed.seq} {feed.catch_ups}"
            )
            await asyncio.sleep(0.01)
        applied_s = time.monotonic() - back
        print(f"caught up {applied_s:.3f} s after the subscriber could reconnect")
        assert applied_s < 0.5 + 1.0 and rec.gaps == 0  # the client's reconnect wait, then 1 s
    finally:
        stop.set()
        await task
        await feed.close()
        await accounts_nc.close()
        await edge_nc.close()
        await relay.cut()


# -- the caches notices invalidate --------------------------------------------------------
class Accounts:
    """A fake Accounts stub: Authenticate answers for KEY until it is revoked."""

    def __init__(self):
        self.calls = 0
        self.revoked = False

    async def Authenticate(self, request, timeout=None):  # the gRPC method's name
        self.calls += 1
        if self.revoked:
            raise Unauthorized("Incorrect API key provided.")
        return pb.Principal(account_id="acct", key_id="key_1", key_prefix=KEY[:10], account_status="active")


async def test_metering_drops_a_revoked_key_from_its_cache_and_everything_on_a_gap():
    stub = Accounts()
    auth = Authorizer("admin", stub, pepper=PEPPER)
    request = SimpleNamespace(headers={"authorization": f"Bearer {KEY}"})
    assert (await auth.viewer(request)).account_id == "acct"
    assert (await auth.viewer(request)).account_id == "acct" and stub.calls == 1  # cached
    stub.revoked = True
    auth.on_key_changed(events.KeyRevoked(key_id="key_1", key_hash=hash_key(KEY, PEPPER), account_id="acct"))
    with pytest.raises(Unauthorized):
        await auth.viewer(request)
    stub.revoked = False
    auth.forget_all()  # the negative entry goes too
    assert (await auth.viewer(request)).account_id == "acct" and stub.calls == 3


async def test_edge_forgets_every_cached_key_on_a_gap():
    stub = Accounts()
    auth = Authenticator(stub, ttl=60, negative_ttl=5, maxsize=10, pepper=PEPPER)
    await auth.principal(KEY)
    await auth.principal(KEY)
    assert stub.calls == 1
    stub.revoked = True
    auth.forget_all()
    with pytest.raises(Unauthorized):
        await auth.principal(KEY)
