"""The Risk service over real gRPC and a real store (SQLite and PostgreSQL): actions and their
records, deactivation after N records, reactivation requests and decisions, throttles in the
principal, who may call what, tickets and their diagnostics."""

from __future__ import annotations

import grpc
import pytest
import structlog

from services.accounts.access import Access
from services.accounts.risk.engine import Enforcer, Engine, now_ms
from services.accounts.risk.rules import RulesWatcher
from services.accounts.risk.service import RiskAccess, RiskService
from services.accounts.risk.store import RiskStore
from services.accounts.service import AccountsService
from services.accounts.store import SqlStore
from tests.unit.conftest import ADMIN, PEPPER, FakeNotifier
from tollgate import credentials, events
from tollgate.rpc import accounts_pb2 as apb
from tollgate.rpc import accounts_pb2_grpc as apb_grpc
from tollgate.rpc import risk_pb2 as pb
from tollgate.rpc import risk_pb2_grpc as pb_grpc

RULES = """
[deactivation]
records = 2
period_s = 3600

[tickets]
keep_s = 60
lookback_s = 600

[[rules]]
name = "burst"
kind = "sensitive_rpm"
threshold = 2
window_s = 60
action = "suspend"
cooldown_s = 0

[[rules]]
name = "errors"
kind = "error_rate"
threshold = 0.5
min_requests = 2
action = "throttle"
throttle_rpm = 7
throttle_s = 300
"""


class Env:
    def __init__(self, addr, accounts, risk_store, notifier, engine):
        self.addr, self.accounts, self.risk_store, self.notifier, self.engine = addr, accounts, risk_store, notifier, engine
        self._channels: list[grpc.aio.Channel] = []
        self.admin, self.admin_accounts = self.risk_as(ADMIN), self.accounts_as(ADMIN)

    def _channel(self, credential: str) -> grpc.aio.Channel:
        channel = credentials.aio_channel(self.addr, credential)
        self._channels.append(channel)
        return channel

    def risk_as(self, credential: str) -> pb_grpc.RiskStub:
        return pb_grpc.RiskStub(self._channel(credential))

    def accounts_as(self, credential: str) -> apb_grpc.AccountsStub:
        return apb_grpc.AccountsStub(self._channel(credential))

    async def account(self, name: str = "a") -> tuple[str, str]:
        account = await self.admin_accounts.CreateAccount(apb.CreateAccountRequest(name=name, initial_balance_micros=1_000_000))
        key = await self.admin_accounts.CreateKey(apb.CreateKeyRequest(account_id=account.account_id, name="k"))
        return account.account_id, key.secret

    async def traffic(self, account_id: str, n: int, **kw) -> None:
        at = now_ms()
        await self.engine.usage(
            [
                events.UsageEvent(request_id=f"{account_id}-{at}-{i}", occurred_at_ms=at + i, account_id=account_id, key_id="k", **kw)
                for i in range(n)
            ]
        )


@pytest.fixture
async def env(accounts_db: str, tmp_path):
    accounts = SqlStore(accounts_db)
    risk_store = RiskStore(accounts_db)
    notifier = FakeNotifier()
    log = structlog.get_logger()
    (tmp_path / "risk.toml").write_text(RULES)
    engine = Engine(None, None, risk_store, Enforcer(risk_store, notifier, log), RulesWatcher(tmp_path / "risk.toml", log), log)  # type: ignore[arg-type]
    server = grpc.aio.server()
    apb_grpc.add_AccountsServicer_to_server(AccountsService(accounts, notifier, Access(ADMIN, accounts, PEPPER), pepper=PEPPER), server)  # type: ignore[arg-type]
    pb_grpc.add_RiskServicer_to_server(RiskService(risk_store, engine, RiskAccess(Access(ADMIN, accounts, PEPPER))), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    e = Env(f"127.0.0.1:{port}", accounts, risk_store, notifier, engine)
    try:
        yield e
    finally:
        for channel in e._channels:
            await channel.close()
        await server.stop(None)
        risk_store.close()
        accounts.close()


def statuses(notifier: FakeNotifier, account_id: str) -> list[str]:
    return [e.status for s, e in notifier.published if s == events.ACCOUNT_STATUS_SUBJECT and e.account_id == account_id]


async def test_a_rule_suspends_with_a_record_and_the_admin_reactivates_on_request(env) -> None:
    account_id, key = await env.account()
    await env.traffic(account_id, 2, sensitivity="high")
    assert (await env.accounts.get_account(account_id)).status == "active"
    await env.traffic(account_id, 1, sensitivity="high")
    account = await env.accounts.get_account(account_id)
    assert account.status == "suspended" and "risk rule burst" in account.status_reason
    assert statuses(env.notifier, account_id) == ["suspended"]
    user = env.risk_as(key)  # the suspended account's own key still reaches its standing
    records = (await user.ListRecords(pb.ListRecordsRequest())).records
    assert [(r.rule, r.action) for r in records] == [("burst", "suspend")] and '"requests": 3' in records[0].figures
    standing = await user.GetStanding(pb.GetStandingRequest())
    assert standing.status == "suspended" and standing.records_in_period == 1 and standing.deactivate_after == 2

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await user.RequestReactivation(pb.RequestReactivationRequest(message=" "))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    asked = await user.RequestReactivation(pb.RequestReactivationRequest(message="fixed the loop"))
    assert asked.status == "pending"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await user.RequestReactivation(pb.RequestReactivationRequest(message="again"))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS and "already waiting" in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await user.DecideReactivation(pb.DecideReactivationRequest(request_id=asked.id, approve=True))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    queue = (await env.admin.ListReactivations(pb.ListReactivationsRequest(status="pending"))).requests
    assert [r.id for r in queue] == [asked.id] and "risk rule burst" in queue[0].status_reason
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await env.admin.DecideReactivation(pb.DecideReactivationRequest(request_id=asked.id, approve=False))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # a rejection needs a note
    decided = await env.admin.DecideReactivation(pb.DecideReactivationRequest(request_id=asked.id, approve=True))
    assert decided.status == "approved"
    assert (await env.accounts.get_account(account_id)).status == "active"
    assert statuses(env.notifier, account_id) == ["suspended", "active"]
    await env.traffic(account_id, 2, sensitivity="high")  # the windows started afresh
    assert (await env.accounts.get_account(account_id)).status == "active"


async def test_repeated_records_deactivate_for_good(env) -> None:
    account_id, key = await env.account()
    await env.traffic(account_id, 3, sensitivity="high")
    user = env.risk_as(key)
    first = await user.RequestReactivation(pb.RequestReactivationRequest(message="sorry"))
    await env.admin.DecideReactivation(pb.DecideReactivationRequest(request_id=first.id, approve=True))
    await env.traffic(account_id, 3, sensitivity="high")
    account = await env.accounts.get_account(account_id)
    assert account.status == "deactivated" and "2 risk records" in account.status_reason
    assert statuses(env.notifier, account_id)[-1] == "deactivated"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await user.RequestReactivation(pb.RequestReactivationRequest(message="please"))
    assert "permanently" in (err.value.details() or "")
    actions = [r.action for r in (await env.admin.ListRecords(pb.ListRecordsRequest(account_id=account_id))).records]
    assert actions == ["deactivate", "suspend", "suspend"]


async def test_a_throttle_reaches_the_principal_and_the_edges(env) -> None:
    account_id, key = await env.account()
    await env.traffic(account_id, 2, status=500)
    principal = await env.admin_accounts.Authenticate(apb.AuthenticateRequest(key=key))
    assert principal.throttle_rpm == 7 and principal.throttle_until_ms > now_ms() + 250_000
    notices = [e for s, e in env.notifier.published if s == events.ACCOUNT_STATUS_SUBJECT]
    assert notices[-1].throttle_rpm == 7 and notices[-1].status == "active"


async def test_who_may_call_what(env) -> None:
    account_id, key = await env.account()
    other_id, _ = await env.account("other")
    user = env.risk_as(key)
    for call in (
        user.Act(pb.ActRequest(account_id=account_id, action="suspend", reason="x")),
        user.ListRules(pb.ListRulesRequest()),
        user.DecideReactivation(pb.DecideReactivationRequest(request_id=1, approve=True)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await user.ListRecords(pb.ListRecordsRequest(account_id=other_id))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await env.risk_as("tgk_not-a-real-key").GetStanding(pb.GetStandingRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await user.RequestReactivation(pb.RequestReactivationRequest(message="not suspended"))
    assert "not suspended" in (err.value.details() or "")
    record = await env.admin.Act(pb.ActRequest(account_id=account_id, action="warn", reason="manual check"))
    assert record.rule == "manual" and record.action == "warn"
    rules = await env.admin.ListRules(pb.ListRulesRequest())
    assert [r.kind for r in rules.rules] == ["sensitive_rpm", "error_rate"] and rules.deactivate_after == 2


async def test_tickets_keep_only_their_own_requests_metadata_for_a_bounded_time(env) -> None:
    account_id, key = await env.account()
    other_id, other_key = await env.account("other")
    at = now_ms()
    seen = events.UsageEvent(
        request_id="req-seen",
        occurred_at_ms=at,
        account_id=account_id,
        key_id="k",
        status=502,
        error_code="upstream_error",
        attempts=2,
        channel_id="ch-b",
        attempt_log=[events.AttemptNote(channel_id="ch-a", status=503, error="upstream_503")],
    )
    theirs = events.UsageEvent(request_id="req-theirs", occurred_at_ms=at, account_id=other_id, key_id="k")
    await env.engine.usage([seen, theirs])
    user = env.risk_as(key)
    ticket = await user.OpenTicket(pb.OpenTicketRequest(subject="502s", request_ids=["req-seen", "req-theirs", "req-later"]))
    by_id = {d.request_id: d for d in ticket.diagnostics}
    assert by_id["req-seen"].found and by_id["req-seen"].status == 502 and by_id["req-seen"].attempts == 2
    assert [(a.channel_id, a.status) for a in by_id["req-seen"].attempt_log] == [("ch-a", 503)]
    assert not by_id["req-theirs"].found and not by_id["req-later"].found
    await env.engine.usage(
        [
            events.UsageEvent(request_id="req-later", occurred_at_ms=at + 5, account_id=account_id, key_id="k", status=200),
            events.UsageEvent(request_id="req-theirs", occurred_at_ms=at + 5, account_id=other_id, key_id="k"),
        ]
    )
    again = await user.GetTicket(pb.GetTicketRequest(ticket_id=ticket.ticket_id))
    by_id = {d.request_id: d for d in again.diagnostics}
    assert by_id["req-later"].found and not by_id["req-theirs"].found
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await env.risk_as(other_key).GetTicket(pb.GetTicketRequest(ticket_id=ticket.ticket_id))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await user.OpenTicket(pb.OpenTicketRequest(subject="x", request_ids=["bad id with spaces"]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await env.risk_store.purge(ticket.keep_until_ms + 1) == 3
    after = await user.GetTicket(pb.GetTicketRequest(ticket_id=ticket.ticket_id))
    assert list(after.diagnostics) == []
    closed = await user.CloseTicket(pb.CloseTicketRequest(ticket_id=ticket.ticket_id))
    assert closed.status == "closed"
