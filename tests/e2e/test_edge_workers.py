"""``TOLLGATE_EDGE_WORKERS=2``: two edge processes on one port (SO_REUSEPORT) under one
supervisor. Connections spread over both; a revocation reaches both within a second; a key's
rate limit holds across them; SIGTERM stops them all cleanly."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.e2e.test_metrics import scrape
from tollgate.rpc import accounts_pb2 as pb
from tools.stack import free_ports

BODY = {"model": "sim-1", "messages": [{"role": "user", "content": "workers"}], "max_tokens": 2}


def _fresh(url: str, key: str) -> int:
    """One request on a connection of its own (the kernel picks a worker per connection)."""
    with httpx.Client(timeout=10) as http:
        return http.post(
            f"{url}/chat/completions", json=BODY, headers={"authorization": f"Bearer {key}", "connection": "close"}
        ).status_code


@pytest.fixture(scope="module")
def workers(stack):
    metrics = free_ports(2)[0]
    while metrics + 1 in (stack.ports.edge, stack.ports.edge2):  # worker 2 takes the next port
        metrics = free_ports(1)[0]
    service, url = stack.start_edge("edge-workers", env={"TOLLGATE_EDGE_WORKERS": "2", "TOLLGATE_EDGE_METRICS_PORT": str(metrics)})
    yield service, url, [f"http://127.0.0.1:{metrics + i}/metrics" for i in range(2)]
    if service.proc.poll() is None:
        service.proc.send_signal(signal.SIGTERM)
        service.proc.wait(60)


def _served(metric_urls: list[str]) -> list[float]:
    return [sum(v for (name, _), v in scrape(u).items() if name == "tollgate_edge_requests_total") for u in metric_urls]


def test_connections_spread_over_both_workers(workers, new_account):
    _, url, metric_urls = workers
    _, key = new_account()
    before = _served(metric_urls)
    codes = [_fresh(url, key) for _ in range(60)]
    assert codes == [200] * 60
    after = _served(metric_urls)
    per_worker = [a - b for a, b in zip(after, before, strict=True)]
    assert sum(per_worker) == 60 and all(n > 0 for n in per_worker), per_worker


def test_a_revoked_key_is_refused_by_every_worker_within_a_second(workers, new_account, accounts):
    _, url, _ = workers
    account_id, key = new_account()
    assert [_fresh(url, key) for _ in range(10)] == [200] * 10  # cached in both workers
    key_id = accounts.ListKeys(pb.ListKeysRequest(account_id=account_id)).keys[0].key_id
    accounts.RevokeKey(pb.RevokeKeyRequest(key_id=key_id))
    time.sleep(1.0)
    assert [_fresh(url, key) for _ in range(20)] == [401] * 20


def test_a_keys_rate_limit_holds_across_workers(workers, accounts, new_account):
    _, url, _ = workers
    account_id, _ = new_account()
    key = accounts.CreateKey(pb.CreateKeyRequest(account_id=account_id, name="rpm", rpm_limit=20)).secret
    codes = []
    if time.time() % 60 > 40:  # all 60 requests (3-10 s) in one minute window: a new window would admit 20 more
        time.sleep(61 - time.time() % 60)
    for _ in range(60):
        codes.append(_fresh(url, key))
        time.sleep(0.05)  # paced: each worker hears the other's counts every 100 ms
    assert set(codes) <= {200, 429}
    # two workers blind to each other would admit up to 40; the counts shared over NATS keep the
    # total at the limit, give or take what was admitted while a count was on its way (more on a
    # loaded machine: the bound is the limit plus a few intervals' worth, far from 40)
    assert 20 <= codes.count(200) <= 30, codes.count(200)


def test_sigterm_stops_every_worker_cleanly(workers):
    service, url, _ = workers
    service.proc.send_signal(signal.SIGTERM)
    assert service.proc.wait(60) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(url.removesuffix("/v1") + "/healthz", timeout=2)
