"""The JetStream streams every service sets up: bounded by age and by bytes."""

from __future__ import annotations

import subprocess

import pytest

from tests.unit.tollgate.test_health_metrics import connect
from tollgate import bus, events
from tools.stack import free_ports, nats_server_binary


@pytest.fixture(params=["roomy", "cramped"])
def nats_server(request, tmp_path):
    """A nats-server whose JetStream may store 1 GiB (roomy) or 64 MiB (cramped: less than the
    usage stream's byte bound, as on a nearly full disk)."""
    [port] = free_ports(1)
    store = "1G" if request.param == "roomy" else "64M"
    conf = tmp_path / "nats.conf"
    conf.write_text(f'jetstream {{ store_dir: "{tmp_path / "js"}", max_file_store: {store} }}\n')
    proc = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    yield port, request.param
    proc.terminate()
    proc.wait(10)


async def test_usage_stream_is_bounded_by_bytes_where_the_server_can_hold_it(nats_server):
    port, kind = nats_server
    nc = await connect(port)
    try:
        js = nc.jetstream()
        await bus.ensure_streams(js, 1, usage_max_bytes=256 << 20)
        usage = (await js.stream_info(events.USAGE_STREAM)).config
        assert usage.max_age == 7 * bus.DAY_S
        assert usage.max_bytes == (256 << 20 if kind == "roomy" else -1)  # cramped: a stream without the bound, not none
        await bus.ensure_streams(js, 1, usage_max_bytes=128 << 20)  # a later start with another bound updates it
        assert (await js.stream_info(events.USAGE_STREAM)).config.max_bytes == (128 << 20 if kind == "roomy" else -1)
        dead = (await js.stream_info(events.DEAD_LETTER_STREAM)).config
        assert dead.max_bytes in (256 << 20, -1)
    finally:
        await nc.close()
