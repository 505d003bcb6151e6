"""Balance leases: the store's reservation arithmetic and the edge's LeaseBook against a
real accounts servicer (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from services.edge.leases import LeaseBook
from tollgate.errors import InsufficientQuota
from tollgate.rpc import accounts_pb2 as pb

LOG = structlog.get_logger()


async def funded(served, balance: int) -> str:
    account = await served.stub.CreateAccount(pb.CreateAccountRequest(name="lease", initial_balance_micros=balance, skip_trial_credit=True))
    return account.account_id


async def test_grants_never_exceed_the_unreserved_balance(served) -> None:
    store = served.store
    account = await funded(served, 1_000)
    a = await store.acquire_lease(account, "", 600, 1, "edge-a")
    assert (a.granted_now, a.available) == (600, 400)
    b = await store.acquire_lease(account, "", 600, 1, "edge-b")
    assert (b.granted_now, b.available) == (400, 0)
    c = await store.acquire_lease(account, "", 600, 1, "edge-c")
    assert c.granted_now == 0
    # Extending a lease adds to it; "needed" refuses a grant too small to use.
    assert (await store.acquire_lease(account, a.id, 100, 100, "edge-a")).granted_now == 0
    await served.stub.TopUp(pb.TopUpRequest(account_id=account, amount_micros=150))
    assert (await store.acquire_lease(account, a.id, 100, 100, "edge-a")).total_granted == 700
    assert await store.reserved(account) == 1_100


async def test_debits_and_returns_release_reservations(served) -> None:
    store = served.store
    account = await funded(served, 1_000)
    lease = await store.acquire_lease(account, "", 800, 1, "edge-a")
    # 300 spent and debited under the lease: the balance drops, the reservation with it.
    await store.apply(account, "usage", -300, "usage:r1", lease_id=lease.id)
    await store.apply(account, "usage", -300, "usage:r1", lease_id=lease.id)  # redelivered: once
    assert await store.reserved(account) == 500
    assert (await store.get_account(account)).balance_micros == 700
    # Returned having spent 450: 150 of it not debited yet stays reserved.
    returned = await store.return_lease(lease.id, 450)
    assert returned.available == 700 - 150
    await store.apply(account, "usage", -150, "usage:r2", lease_id=lease.id)
    assert await store.reserved(account) == 0
    assert (await store.acquire_lease(account, "", 10_000, 1, "edge-b")).granted_now == 550


async def test_a_lapsed_lease_stops_reserving(served, accounts_db) -> None:
    from services.accounts.store import SqlStore

    store = SqlStore(accounts_db, lease_ttl_s=0.05)
    try:
        account = await funded(served, 1_000)
        lease = await store.acquire_lease(account, "", 1_000, 1, "edge-a")
        assert await store.reserved(account) == 1_000
        await asyncio.sleep(0.1)
        assert await store.reserved(account) == 0
        renewed = await store.acquire_lease(account, lease.id, 5, 1, "edge-a")
        assert renewed.id != lease.id  # a lapsed lease is not revived
    finally:
        store.close()


async def test_lease_book_admits_locally_and_refuses_what_it_cannot_cover(served) -> None:
    account = await funded(served, 1_000)
    book = LeaseBook(served.stub, LOG, holder="edge-t", slice_micros=10_000, idle_s=60)
    holds = [await book.hold(account, 300, 1_000) for _ in range(3)]
    with pytest.raises(InsufficientQuota):
        await book.hold(account, 300, 1_000)
    # One request finished cheaper than its hold: its rest covers another.
    lease_id = holds[0].settle(100)
    assert lease_id and holds[0].settle(999) == lease_id  # settles once
    fourth = await book.hold(account, 300, 1_000)
    assert await served.store.reserved(account) == 1_000
    for hold in (*holds[1:], fourth):
        hold.settle(0)
    await book.tend(closing=True)  # returns the lease: only the unspent 100 stays reserved until debited
    assert await served.store.reserved(account) == 100
    await served.store.apply(account, "usage", -100, "usage:x", lease_id=lease_id)
    assert await served.store.reserved(account) == 0


async def test_concurrent_holds_on_two_books_never_overcommit(served) -> None:
    account = await funded(served, 10_000)
    books = [LeaseBook(served.stub, LOG, holder=f"edge-{i}", slice_micros=10_000, idle_s=60) for i in range(2)]

    async def one(i: int):
        try:
            return await books[i % 2].hold(account, 700, 10_000)
        except InsufficientQuota:
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
