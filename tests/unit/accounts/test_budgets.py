"""Budgets per member and per team (services/accounts/budgets.py): reserved through the
same leases as key caps, counted by debits, set and listed over gRPC, and the account's
pricing group (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
import structlog

from services.accounts.store import now_ms
from services.edge.leases import LeaseBook
from tests.unit.conftest import ADMIN
from tollgate import events
from tollgate.errors import InsufficientQuota
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import budgets_pb2 as bpb

LOG = structlog.get_logger()


async def setup(served, balance: int = 1_000_000):
    account = await served.stub.CreateAccount(pb.CreateAccountRequest(name="org", initial_balance_micros=balance, skip_trial_credit=True))
    a = account.account_id

    async def key(member: str = "", team: str = "", **kw) -> pb.CreatedKey:
        return await served.stub.CreateKey(pb.CreateKeyRequest(account_id=a, rpm_limit=-1, member_id=member, team_id=team, **kw))

    return a, key, served.budgets_as(ADMIN)


async def test_a_member_budget_bounds_the_leases_of_all_their_keys(served) -> None:
    store = served.store
    a, key, budgets = await setup(served)
    k1, k2, other = await key("mem_1"), await key("mem_1"), await key("mem_2")
    assert (k1.key.member_id, k1.key.team_id) == ("mem_1", "")
    before = (await served.stub.Authenticate(pb.AuthenticateRequest(key=k1.secret))).budgeted
    assert before is False
    await budgets.SetBudget(bpb.SetBudgetRequest(account_id=a, scope="member", subject_id="mem_1", day_micros=1_000))
    p = await served.stub.Authenticate(pb.AuthenticateRequest(key=k1.secret))
    assert (p.budgeted, p.budget_room_micros, p.member_id, p.price_group) == (True, 1_000, "mem_1", "default")
    # The member's keys were announced as changed: edges drop them and ask again.
    updated = {e.key_id for s, e in served.notifier.published if s == events.KEY_UPDATED_SUBJECT}
    assert {k1.key.key_id, k2.key.key_id} <= updated and other.key.key_id not in updated
    x = await store.acquire_lease(a, "", 700, 1, "edge-a", k1.key.key_id)
    assert (x.granted_now, x.limited_by) == (700, "")
    y = await store.acquire_lease(a, "", 700, 1, "edge-b", k2.key.key_id)  # another key of the same member
    assert (y.granted_now, y.limited_by) == (300, "budget")
    z = await store.acquire_lease(a, "", 700, 1, "edge-b", k2.key.key_id)
    assert (z.granted_now, z.limited_by) == (0, "budget")
    # Another member is not bound by it.
    assert (await store.acquire_lease(a, "", 700, 1, "edge-a", other.key.key_id)).granted_now == 700
    # Debits count against the budget; what a returned lease did not spend frees up.
    await store.apply(a, "usage", -250, "usage:b1", now_ms(), key_id=k1.key.key_id, lease_id=x.id)
    await store.return_lease(x.id, 250)
    listed = (await budgets.ListBudgets(bpb.ListBudgetsRequest(account_id=a))).budgets
    assert [(b.scope, b.subject_id, b.day_micros, b.spent_day_micros, b.spent_month_micros, b.reserved_micros) for b in listed] == [
        ("member", "mem_1", 1_000, 250, 250, 300)
    ]
    again = await store.acquire_lease(a, "", 1_000, 1, "edge-a", k1.key.key_id)
    assert (again.granted_now, again.limited_by) == (1_000 - 250 - 300, "budget")


async def test_team_budgets_key_caps_and_the_tightest_wins(served) -> None:
    store = served.store
    a, key, budgets = await setup(served)
    capped = await key("mem_1", "team_x", spend_cap_month_micros=400)
    free = await key("mem_2", "team_x")
    await budgets.SetBudget(bpb.SetBudgetRequest(account_id=a, scope="team", subject_id="team_x", month_micros=1_000))
    first = await store.acquire_lease(a, "", 600, 1, "edge-a", capped.key.key_id)
    assert (first.granted_now, first.limited_by) == (400, "spend_cap")  # the key's own cap is the tighter
    second = await store.acquire_lease(a, "", 900, 1, "edge-a", free.key.key_id)
    assert (second.granted_now, second.limited_by) == (600, "budget")
    # A child key made by a member's key belongs to the same member and team, and counts there.
    child = await served.as_(free.secret).CreateKey(pb.CreateKeyRequest(name="child"))
    assert (child.key.member_id, child.key.team_id) == ("mem_2", "team_x")
    assert (await store.acquire_lease(a, "", 10, 1, "edge-a", child.key.key_id)).granted_now == 0
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await served.as_(free.secret).CreateKey(pb.CreateKeyRequest(name="escape", member_id="mem_9"))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Removing the budget (both amounts 0) lifts it.
    await budgets.SetBudget(bpb.SetBudgetRequest(account_id=a, scope="team", subject_id="team_x"))
    assert (await budgets.ListBudgets(bpb.ListBudgetsRequest(account_id=a))).budgets == []
    assert (await served.stub.Authenticate(pb.AuthenticateRequest(key=free.secret))).budgeted is False


async def test_budget_and_group_calls_check_their_input_and_caller(served) -> None:
    a, key, budgets = await setup(served)
    user = await key("mem_1")
    as_user = served.budgets_as(user.secret)
    for bad in (
        bpb.SetBudgetRequest(account_id=a, scope="org", subject_id="x", day_micros=1),
        bpb.SetBudgetRequest(account_id=a, scope="member", subject_id="", day_micros=1),
        bpb.SetBudgetRequest(account_id=a, scope="member", subject_id="a:b", day_micros=1),
        bpb.SetBudgetRequest(account_id=a, scope="member", subject_id="m", day_micros=-1),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await budgets.SetBudget(bad)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await budgets.SetBudget(bpb.SetBudgetRequest(account_id="acct_none", scope="member", subject_id="m", day_micros=1))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await as_user.SetBudget(bpb.SetBudgetRequest(scope="member", subject_id="mem_1", day_micros=10**9))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await budgets.SetBudget(bpb.SetBudgetRequest(account_id=a, scope="member", subject_id="mem_1", day_micros=5))
    assert [b.subject_id for b in (await as_user.ListBudgets(bpb.ListBudgetsRequest())).budgets] == ["mem_1"]
    # Groups: an admin sets the account's group; its keys learn it at the next Authenticate.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await budgets.SetAccountGroup(bpb.SetAccountGroupRequest(account_id=a, group="bad group"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await as_user.SetAccountGroup(bpb.SetAccountGroupRequest(group="vip"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await budgets.SetAccountGroup(bpb.SetAccountGroupRequest(account_id=a, group="vip"))).group == "vip"
    assert (await served.stub.Authenticate(pb.AuthenticateRequest(key=user.secret))).price_group == "vip"
    assert (await served.stub.GetAccount(pb.GetAccountRequest(account_id=a))).price_group == "vip"


async def test_a_budget_set_mid_period_counts_what_was_spent_before_it(served) -> None:
    store = served.store
    a, key, budgets = await setup(served)
    k = await key("mem_1", "team_y")
    await store.apply(a, "usage", -600, "usage:early", now_ms(), key_id=k.key.key_id)
    await budgets.SetBudget(bpb.SetBudgetRequest(account_id=a, scope="team", subject_id="team_y", day_micros=1_000))
    (listed,) = (await budgets.ListBudgets(bpb.ListBudgetsRequest(account_id=a))).budgets
    assert (listed.spent_day_micros, listed.spent_month_micros) == (600, 600)
    assert (await served.stub.Authenticate(pb.AuthenticateRequest(key=k.secret))).budget_room_micros == 400
    lease = await store.acquire_lease(a, "", 1_000, 1, "edge-a", k.key.key_id)
    assert (lease.granted_now, lease.limited_by) == (400, "budget")


async def test_two_edges_lease_books_share_a_member_budget_and_refuse_with_budget_exceeded(served) -> None:
    a, key, budgets = await setup(served)
    keys = [await key("mem_9"), await key("mem_9")]
    await budgets.SetBudget(bpb.SetBudgetRequest(account_id=a, scope="member", subject_id="mem_9", day_micros=10_000))
    books = [LeaseBook(served.stub, LOG, holder=f"edge-{i}", slice_micros=1_000_000, idle_s=60) for i in range(2)]
    refusals: list[str] = []

    async def one(i: int):
        try:
            return await books[i % 2].hold(a, 700, 1_000_000, key_id=keys[i // 2 % 2].key.key_id, cap_hint=10_000)
        except InsufficientQuota as err:
            refusals.append(err.code or "")
            return None

    held = [h for h in await asyncio.gather(*(one(i) for i in range(40))) if h is not None]
    assert sum(h.amount for h in held) <= 10_000 and len(held) >= 10_000 // 700 - 4  # at most one unused slice per lease
    assert refusals and set(refusals) == {"budget_exceeded"}
    for hold in held:
        hold.settle(hold.amount)
    for book in books:
        await book.close()
