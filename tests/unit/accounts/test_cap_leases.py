"""Spend caps reserved through leases (docs/balance-leases.md, "Spend caps per key"): the
store's cap-aware grant, child and rotated keys counting against the caps above them, and
the edge's LeaseBook on a capped key (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
import structlog

from services.accounts.store import now_ms
from services.edge.leases import LeaseBook
from tollgate.errors import InsufficientQuota
from tollgate.rpc import accounts_pb2 as pb

LOG = structlog.get_logger()


async def capped(served, balance: int = 100_000, day: int = 0, month: int = 0) -> tuple[str, pb.CreatedKey]:
    account = await served.stub.CreateAccount(pb.CreateAccountRequest(name="caps", initial_balance_micros=balance, skip_trial_credit=True))
    key = await served.stub.CreateKey(
        pb.CreateKeyRequest(account_id=account.account_id, rpm_limit=-1, spend_cap_day_micros=day, spend_cap_month_micros=month)
    )
    return account.account_id, key


async def spent(served, key: pb.CreatedKey) -> tuple[int, int]:
    p = await served.stub.Authenticate(pb.AuthenticateRequest(key=key.secret))
    return p.spent_day_micros, p.spent_month_micros


async def test_a_capped_keys_leases_together_never_exceed_its_cap(served) -> None:
    store = served.store
    account, key = await capped(served, balance=100_000, day=1_000)
    k = key.key.key_id
    a = await store.acquire_lease(account, "", 600, 1, "edge-a", k)
    assert (a.granted_now, a.key_id, a.limited_by) == (600, k, "")
    b = await store.acquire_lease(account, "", 600, 1, "edge-b", k)
    assert (b.granted_now, b.limited_by) == (400, "spend_cap")
    c = await store.acquire_lease(account, "", 600, 1, "edge-c", k)
    assert (c.granted_now, c.limited_by) == (0, "spend_cap")
    # "needed" refuses a grant too small to use; extending an open lease adds to it.
    assert (await store.acquire_lease(account, a.id, 100, 100, "edge-a", k)).granted_now == 0
    # The key's leases reserve balance too: the account's own lease gets the rest of it.
    assert (await store.acquire_lease(account, "", 10**9, 1, "edge-a")).granted_now == 100_000 - 1_000
    # Another key's lease id is not this key's: a new lease (granted nothing, the cap is full).
    renewed = await store.acquire_lease(account, a.id, 0, 0, "edge-a", "")
    assert renewed.id != a.id


async def test_debits_count_against_the_cap_once_and_returns_free_the_rest(served) -> None:
    store = served.store
    account, key = await capped(served, day=1_000)
    k = key.key.key_id
    lease = await store.acquire_lease(account, "", 800, 1, "edge-a", k)
    now = now_ms()
    await store.apply(account, "usage", -300, "usage:c1", now, key_id=k, lease_id=lease.id)
    await store.apply(account, "usage", -300, "usage:c1", now, key_id=k, lease_id=lease.id)  # redelivered: once
    assert await spent(served, key) == (300, 300)
    # spent 300 + still reserved 500 = 800: 200 left under the cap.
    assert (await store.acquire_lease(account, "", 1_000, 1, "edge-b", k)).granted_now == 200
    # Returned having spent 450: 150 not yet debited stays reserved, the rest frees up.
    await store.return_lease(lease.id, 450)
    assert (await store.acquire_lease(account, "", 1_000, 1, "edge-c", k)).granted_now == 1_000 - 300 - 150 - 200
    await store.apply(account, "usage", -150, "usage:c2", now, key_id=k, lease_id=lease.id)
    assert (await store.acquire_lease(account, "", 1_000, 1, "edge-d", k)).granted_now == 0  # 450 spent + 550 reserved


async def test_the_month_cap_and_the_balance_both_limit_the_grant(served) -> None:
    store = served.store
    account, key = await capped(served, balance=5_000, month=2_000)
    k = key.key.key_id
    await store.apply(account, "usage", -1_500, "usage:m1", now_ms(), key_id=k)
    lease = await store.acquire_lease(account, "", 1_000, 1, "edge-a", k)
    assert (lease.granted_now, lease.limited_by) == (500, "spend_cap")
    # With less balance than cap room, the balance limits it.
    account2, key2 = await capped(served, balance=300, day=2_000)
    lease2 = await store.acquire_lease(account2, "", 1_000, 1, "edge-a", key2.key.key_id)
    assert (lease2.granted_now, lease2.limited_by) == (300, "balance")


async def test_a_key_of_another_account_is_refused(served) -> None:
    account, _ = await capped(served, day=1_000)
    _, other = await capped(served, day=1_000)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await served.stub.AcquireLease(pb.AcquireLeaseRequest(account_id=account, amount_micros=10, key_id=other.key.key_id, holder="e"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_child_keys_spend_counts_against_the_parents_cap(served) -> None:
    store = served.store
    account, parent = await capped(served, day=1_000)
    as_parent = served.as_(parent.secret)
    # Children inherit the parent's cap (or a lower one), and can never get past the parent's.
    children = [await as_parent.CreateKey(pb.CreateKeyRequest(name=f"c{i}")) for i in range(3)]
    assert all(c.key.spend_cap_day_micros == 1_000 for c in children)
    grandchild = await served.as_(children[0].secret).CreateKey(pb.CreateKeyRequest(name="g", spend_cap_day_micros=800))
    grants = []
    for i, key in enumerate((parent, *children, grandchild) * 2):
        grants.append((await store.acquire_lease(account, "", 300, 1, f"edge-{i}", key.key.key_id)).granted_now)
    assert sum(grants) == 1_000  # the parent's cap, shared by the whole tree
    # A child's debit counts for the child, its parent and every capped key above it.
    lease = await store.acquire_lease(account, "", 0, 0, "edge-x", grandchild.key.key_id)
    await store.apply(account, "usage", -250, "usage:g1", now_ms(), key_id=grandchild.key.key_id, lease_id=lease.id)
    assert [(await spent(served, k))[0] for k in (grandchild, children[0], parent, children[1])] == [250, 250, 250, 0]


async def test_child_of_a_capped_key_cannot_pass_its_cap_by_spending_without_leases(served) -> None:
    """Spend already debited (e.g. before a restart) counts too: the parent's room is what
    is left after every descendant's debits."""
    store = served.store
    account, parent = await capped(served, day=1_000)
    child = await served.as_(parent.secret).CreateKey(pb.CreateKeyRequest(name="c"))
    await store.apply(account, "usage", -900, "usage:c-old", now_ms(), key_id=child.key.key_id)
    assert (await store.acquire_lease(account, "", 500, 1, "edge-a", parent.key.key_id)).granted_now == 100
    other_child = await served.as_(parent.secret).CreateKey(pb.CreateKeyRequest(name="d"))
    assert (await store.acquire_lease(account, "", 500, 1, "edge-b", other_child.key.key_id)).granted_now == 0


async def test_a_rotated_keys_spend_counts_against_the_old_keys_cap(served) -> None:
    store = served.store
    account, old = await capped(served, day=1_000)
    await store.apply(account, "usage", -700, "usage:o1", now_ms(), key_id=old.key.key_id)
    rotated = await served.stub.RotateKey(pb.RotateKeyRequest(key_id=old.key.key_id, grace_s=3600))
    new = rotated.new_key
    assert (await store.acquire_lease(account, "", 1_000, 1, "edge-a", new.key.key_id)).granted_now == 300


async def test_concurrent_holds_on_two_books_stay_within_the_cap(served) -> None:
    account, key = await capped(served, balance=1_000_000, day=10_000)
    books = [LeaseBook(served.stub, LOG, holder=f"edge-{i}", slice_micros=1_000_000, idle_s=60) for i in range(2)]

    async def one(i: int):
        try:
            return await books[i % 2].hold(account, 700, 1_000_000, key_id=key.key.key_id, cap_hint=10_000)
        except InsufficientQuota as err:
            assert err.code == "spend_cap_exceeded"
            return None

    results = await asyncio.gather(*(one(i) for i in range(40)))
    admitted = [h for h in results if h is not None]
    assert sum(h.amount for h in admitted) <= 10_000
    assert len(admitted) >= 10_000 // 700 - 2  # slices left unused on either book: at most one hold each
    for hold in admitted:
        hold.settle(hold.amount)
    for book in books:
        await book.tend(closing=True)
    assert await served.store.reserved(account) == sum(h.amount for h in admitted)


async def test_a_capped_keys_lease_is_renewed_as_itself(served) -> None:
    account, key = await capped(served, day=10_000)
    book = LeaseBook(served.stub, LOG, holder="edge-r", slice_micros=1_000_000, idle_s=60)
    hold = await book.hold(account, 500, 1_000_000, key_id=key.key.key_id, cap_hint=10_000)
    lease = hold.lease
    lease.expires_at_ms = 0  # due for renewal
    await book.tend()
    assert not lease.closed and lease.expires_at_ms > now_ms()  # the same lease, renewed (not a new, empty one)
    assert (await book.hold(account, 500, 1_000_000, key_id=key.key.key_id, cap_hint=10_000)).lease is lease
    # The account's lease is another one; the key's does not stand in for it.
    assert (await book.hold(account, 500, 1_000_000)).lease is not lease
