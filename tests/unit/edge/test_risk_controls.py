"""What the edge does for risk control: an account-wide throttle counted across edges, the
403 for suspended and deactivated accounts, refused credentials reported without secrets,
failed attempts listed for tickets."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from services.edge.auth import AccountState, Authenticator, Principal, status_error
from services.edge.ratelimit import RateLimiter
from services.edge.signals import AuthFailureReporter
from services.edge.upstream import Attempt, attempt_log
from tollgate import events
from tollgate.errors import ERROR_CODE_METADATA, Forbidden, RateLimited, Unauthorized
from tollgate.keys import hash_key
from tollgate.rpc import accounts_pb2 as pb


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def throttled(key: str, account: AccountState) -> Principal:
    return Principal("acct", key, "sk-x", account)


def test_a_throttle_limits_the_whole_account_across_its_keys_and_edges_until_it_ends():
    clock = Clock(6000.0)
    limiter = RateLimiter(None, None, clock=clock)
    account = AccountState("acct", 10)
    account.throttle_rpm, account.throttle_until_ms = 3, int((clock.t + 300) * 1000)
    limiter.on_counts(events.RateCounts(edge_id="other", window=100, counts={"acct:acct": [1, 0]}))  # another edge's request
    limiter.admit(throttled("key_1", account))
    limiter.admit(throttled("key_2", account))  # another key of the same account
    with pytest.raises(RateLimited) as err:
        limiter.admit(throttled("key_3", account))
    assert err.value.code == "account_throttled" and "3 requests per minute" in err.value.message
    assert err.value.headers["retry-after"] == "60"
    clock.t += 301  # the throttle ended
    for _ in range(10):
        limiter.admit(throttled("key_1", account))


def test_an_unthrottled_account_counts_nothing_extra():
    limiter = RateLimiter(None, None, clock=Clock(6000.0))
    limiter.admit(throttled("key_1", AccountState("acct", 10)))
    assert limiter._local[100] == {}  # no key limit, no throttle: nothing counted


def test_suspended_and_deactivated_accounts_get_a_403_saying_what_to_do():
    suspended = status_error("suspended", "risk rule burst: 61 requests")
    assert isinstance(suspended, Forbidden) and suspended.code == "account_suspended"
    assert "risk rule burst" in suspended.message and "reactivation" in suspended.message
    deactivated = status_error("deactivated", "")
    assert deactivated.code == "account_deactivated" and "cannot be reactivated by request" in deactivated.message


class Stub:
    def __init__(self, reply=None, error: grpc.StatusCode | None = None):
        self.reply, self.error = reply, error

    async def Authenticate(self, request, timeout):
        if self.error is not None:
            trailing = grpc.aio.Metadata((ERROR_CODE_METADATA, "invalid_api_key"))
            raise grpc.aio.AioRpcError(self.error, grpc.aio.Metadata(), trailing, details="Incorrect API key provided.")
        return self.reply


async def test_refused_credentials_are_reported_with_a_hash_prefix_and_the_address_never_the_key():
    seen: list[tuple] = []
    auth = Authenticator(Stub(error=grpc.StatusCode.UNAUTHENTICATED), ttl=60, negative_ttl=5, maxsize=10, pepper="p")
    auth.on_failure = lambda *a: seen.append(a)
    for _ in range(2):  # the second answered from the negative cache: reported all the same
        with pytest.raises(Unauthorized):
            await auth.principal("sk-tg-wrong-key", "10.1.2.3")
    with pytest.raises(Unauthorized):
        await auth.principal("", "10.1.2.3")
    digest = hash_key("sk-tg-wrong-key", "p")
    assert seen == [
        (digest, "invalid_api_key", "10.1.2.3", ""),
        (digest, "invalid_api_key", "10.1.2.3", ""),
        ("", "missing_api_key", "10.1.2.3", ""),
    ]
    expired = pb.Principal(account_id="acct_e", key_id="k", account_status="active", expires_at_ms=1)
    auth = Authenticator(Stub(reply=expired), ttl=60, negative_ttl=5, maxsize=10)
    auth.on_failure = lambda *a: seen.append(a)
    with pytest.raises(Unauthorized):
        await auth.principal("sk-tg-expired", "10.9.9.9")
    assert seen[-1][1:] == ("expired_api_key", "10.9.9.9", "acct_e")


class FakeNats:
    is_connected = True

    def __init__(self):
        self.sent: list[tuple[str, bytes]] = []

    async def publish(self, subject: str, data: bytes) -> None:
        self.sent.append((subject, data))


async def test_the_reporter_publishes_auth_failures_without_blocking_and_drops_beyond_its_bound():
    nc = FakeNats()
    reporter = AuthFailureReporter(nc, None, maxsize=2)  # type: ignore[arg-type]
    for _ in range(3):
        reporter.report("ab" * 32, "invalid_api_key", "10.0.0.1")
    assert reporter.dropped == 1
    reporter.start()
    for _ in range(50):
        if len(nc.sent) == 2:
            break
        await asyncio.sleep(0.01)
    await reporter.close()
    subject, data = nc.sent[0]
    event = events.decode(subject, data)
    assert subject == events.AUTH_FAILED_SUBJECT and event.key_hint == "ab" * 6 and event.address == "10.0.0.1"


def test_the_attempt_log_lists_attempts_that_reached_an_upstream():
    failures = [
        Attempt("ch-a", "HTTP 503", status=503),
        Attempt("ch-b", "timed out", timeout=True),
        Attempt("ch-c", "connection failed (ConnectError)"),
        Attempt("ch-d", "at its own rate limit", limited=True),
        Attempt("ch-e", "HTTP 429", status=429),
    ]
    assert [(n.channel_id, n.status, n.error) for n in attempt_log(failures)] == [
        ("ch-a", 503, "upstream_503"),
        ("ch-b", 0, "timeout"),
        ("ch-c", 0, "connect"),
        ("ch-e", 429, "rate_limited"),
    ]
