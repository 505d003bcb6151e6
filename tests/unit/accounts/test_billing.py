"""Redemption codes and payment credits (services.accounts.billing_store and the Billing
servicer) on SQLite and PostgreSQL: minted once and stored hashed, redeemed once and
atomically, guesses limited, payments credited once per event."""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest

from services.accounts.access import Access
from services.accounts.billing import BillingService
from services.accounts.billing_store import BillingStore, hash_code, new_code, normalize
from services.accounts.store import SqlStore, now_ms
from tests.unit.conftest import ADMIN, PEPPER, FakeNotifier
from tollgate import credentials, keys
from tollgate.rpc import billing_pb2 as pb
from tollgate.rpc import billing_pb2_grpc as pb_grpc


@pytest.fixture
def store(accounts_db: str):
    s = SqlStore(accounts_db)
    yield s
    s.close()


def test_codes_are_100_bit_and_normalized() -> None:
    code = new_code()
    assert code.startswith("TGC-") and len(code) == 4 + 5 * 5 - 1
    assert normalize(code.lower().replace("-", " ")) == code.replace("-", "")
    assert normalize("TGC-1234") is None and normalize("sk-" + "a" * 48) is None and normalize("") is None
    assert hash_code(code, "p") == hash_code(code.lower(), "p") != hash_code(code, "q")
    assert len({new_code() for _ in range(200)}) == 200


async def test_codes_are_stored_hashed_and_listed(store: SqlStore) -> None:
    billing = BillingStore(store)
    minted = await billing.create_codes(3, 2_000_000, 0, "launch", PEPPER)
    assert len(minted) == 3 and len({s for s, _ in minted}) == 3
    secret, row = minted[0]
    assert row.prefix == secret[:8] and row.amount_micros == 2_000_000 and row.note == "launch"
    stored = store._db.execute("SELECT code_hash, prefix FROM redemption_codes WHERE id = ?", (row.id,)).fetchone()
    assert stored[0] == hash_code(secret, PEPPER) and secret not in stored  # the secret itself is nowhere
    listed = await billing.list_codes(10)
    assert {c.id for c in listed} == {r.id for _, r in minted}
    assert {c.status(now_ms()) for c in listed} == {"active"}
    assert await billing.list_codes(10, "redeemed") == []


async def test_a_code_redeems_once(store: SqlStore) -> None:
    billing = BillingStore(store)
    a = await store.create_account("a", 100)
    b = await store.create_account("b", 0)
    [(secret, row)] = await billing.create_codes(1, 5_000_000, 0, "", PEPPER)
    done = await billing.redeem(a.id, hash_code(secret, PEPPER))
    assert done is not None and done.outcome == "ok" and done.balance_micros == 5_000_100
    assert done.code is not None and done.code.redeemed_by == a.id
    again = await billing.redeem(b.id, hash_code(secret, PEPPER))
    assert again is not None and again.outcome == "redeemed"
    assert (await store.get_account(b.id)).balance_micros == 0  # type: ignore[union-attr]
    assert await store.ledger_sum(a.id) == 5_000_100
    entries, _ = await store.ledger(a.id, 10)  # type: ignore[misc]
    assert (entries[0].kind, entries[0].amount_micros, entries[0].reference) == ("redemption", 5_000_000, f"code:{row.id}")
    assert [c.id for c in await billing.list_codes(10, "redeemed")] == [row.id]
    assert await billing.redeem("acct_nobody", hash_code(secret, PEPPER)) is None


async def test_expired_and_revoked_codes_do_not_redeem(store: SqlStore) -> None:
    billing = BillingStore(store)
    a = await store.create_account("a", 0)
    [(soon, soon_row)] = await billing.create_codes(1, 1_000, now_ms() + 50, "", PEPPER)
    [(revoked, revoked_row)] = await billing.create_codes(1, 1_000, 0, "", PEPPER)
    revoked_now = await billing.revoke_code(revoked_row.id)
    assert revoked_now is not None and revoked_now.status(now_ms()) == "revoked"
    await asyncio.sleep(0.1)
    assert (await billing.redeem(a.id, hash_code(soon, PEPPER))).outcome == "expired"  # type: ignore[union-attr]
    assert (await billing.redeem(a.id, hash_code(revoked, PEPPER))).outcome == "revoked"  # type: ignore[union-attr]
    assert [c.id for c in await billing.list_codes(10, "expired")] == [soon_row.id]
    assert (await store.get_account(a.id)).balance_micros == 0  # type: ignore[union-attr]


async def test_wrong_guesses_are_throttled_per_account(store: SqlStore) -> None:
    billing = BillingStore(store, max_failures=3, window_s=60)
    a = await store.create_account("a", 0)
    b = await store.create_account("b", 0)
    [(secret, _)] = await billing.create_codes(1, 1_000, 0, "", PEPPER)
    for guess in (None, hash_code(new_code(), PEPPER), hash_code(new_code(), PEPPER)):
        assert (await billing.redeem(a.id, guess)).outcome == "invalid"  # type: ignore[union-attr]
    throttled = await billing.redeem(a.id, hash_code(secret, PEPPER))  # even the right code, while throttled
    assert throttled is not None and throttled.outcome == "throttled" and 1 <= throttled.retry_after_s <= 60
    assert (await billing.redeem(b.id, hash_code(secret, PEPPER))).outcome == "ok"  # type: ignore[union-attr]


def test_concurrent_redemptions_credit_once(accounts_db: str) -> None:
    """Two stores (two accounts replicas) race for one code from eight threads: one credit."""
    stores = [SqlStore(accounts_db), SqlStore(accounts_db)]
    try:
        billing = [BillingStore(s) for s in stores]
        accounts = [asyncio.run(stores[0].create_account(f"r{i}", 0)) for i in range(8)]
        [(secret, _)] = asyncio.run(billing[0].create_codes(1, 7_000, 0, "", PEPPER))
        outcomes: list[str] = []
        start = threading.Barrier(len(accounts))

        def race(i: int) -> None:
            start.wait()
            done = asyncio.run(billing[i % 2].redeem(accounts[i].id, hash_code(secret, PEPPER)))
            outcomes.append(done.outcome if done else "none")

        threads = [threading.Thread(target=race, args=(i,)) for i in range(len(accounts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["ok"] + ["redeemed"] * 7
        balances = [asyncio.run(stores[0].get_account(a.id)).balance_micros for a in accounts]  # type: ignore[union-attr]
        assert sorted(balances) == [0] * 7 + [7_000]
    finally:
        for s in stores:
            s.close()


async def test_payments_credit_once_per_event(store: SqlStore) -> None:
    billing = BillingStore(store)
    a = await store.create_account("a", 0)
    assert await billing.credit_payment("stripe", "evt_1", a.id, 10_000_000, "checkout") == (True, 10_000_000)
    assert await billing.credit_payment("stripe", "evt_1", a.id, 10_000_000, "checkout") == (False, 10_000_000)
    assert await billing.credit_payment("stripe", "evt_2", a.id, 1, "") == (True, 10_000_001)
    assert await billing.credit_payment("stripe", "evt_3", "acct_nobody", 1, "") is None


# -- the servicer over gRPC ------------------------------------------------------------------


@pytest.fixture
async def billing_rpc(accounts_db: str):
    store = SqlStore(accounts_db)
    notifier = FakeNotifier()
    server = grpc.aio.server()
    access = Access(ADMIN, store, PEPPER)
    pb_grpc.add_BillingServicer_to_server(BillingService(BillingStore(store, max_failures=2), notifier, access, pepper=PEPPER), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channels: list[grpc.aio.Channel] = []

    def stub(credential: str) -> pb_grpc.BillingStub:
        channels.append(credentials.aio_channel(f"127.0.0.1:{port}", credential))
        return pb_grpc.BillingStub(channels[-1])

    try:
        yield store, notifier, stub
    finally:
        for c in channels:
            await c.close()
        await server.stop(None)
        store.close()


async def _user_key(store: SqlStore, account_id: str) -> str:
    secret = keys.new_key()
    await store.create_key(account_id, "k", keys.display_prefix(secret), keys.hash_key(secret, PEPPER))
    return secret


async def test_service_mints_for_admin_and_redeems_for_a_key(billing_rpc) -> None:
    store, notifier, stub = billing_rpc
    admin = stub(ADMIN)
    account = await store.create_account("a", 0)
    user = stub(await _user_key(store, account.id))
    minted = await admin.CreateCodes(pb.CreateCodesRequest(count=2, amount_micros=3_000_000, note="promo"))
    assert [c.code.status for c in minted.codes] == ["active", "active"]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await user.CreateCodes(pb.CreateCodesRequest(count=1, amount_micros=1))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await user.ListCodes(pb.ListCodesRequest())
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    done = await user.RedeemCode(pb.RedeemCodeRequest(code=minted.codes[0].secret.lower()))
    assert (done.account_id, done.amount_micros, done.balance_micros) == (account.id, 3_000_000, 3_000_000)
    assert notifier.balances == [(account.id, 3_000_000)]
    with pytest.raises(grpc.aio.AioRpcError) as used:
        await user.RedeemCode(pb.RedeemCodeRequest(code=minted.codes[0].secret))
    assert used.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await user.RedeemCode(pb.RedeemCodeRequest(account_id="acct_other", code=minted.codes[1].secret))
    assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await user.RedeemCode(pb.RedeemCodeRequest(code="TGC-AAAA-AAAA-AAAA-AAAA-AAAA"))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as throttled:
        await user.RedeemCode(pb.RedeemCodeRequest(code=minted.codes[1].secret))
    assert throttled.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "try again" in (throttled.value.details() or "")
    listed = await admin.ListCodes(pb.ListCodesRequest(status="redeemed"))
    assert [(c.code_id, c.redeemed_by) for c in listed.codes] == [(minted.codes[0].code.code_id, account.id)]
    revoked = await admin.RevokeCode(pb.RevokeCodeRequest(code_id=minted.codes[1].code.code_id))
    assert revoked.status == "revoked"
    for bad_request in (pb.CreateCodesRequest(count=0, amount_micros=1), pb.CreateCodesRequest(count=1, amount_micros=0)):
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await admin.CreateCodes(bad_request)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_service_credits_payments_for_the_admin_only(billing_rpc) -> None:
    store, notifier, stub = billing_rpc
    admin = stub(ADMIN)
    account = await store.create_account("a", 0)
    user = stub(await _user_key(store, account.id))
    request = pb.CreditPaymentRequest(provider="stripe", event_id="evt_9", account_id=account.id, amount_micros=5_000_000)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await user.CreditPayment(request)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    first = await admin.CreditPayment(request)
    second = await admin.CreditPayment(request)
    assert (first.applied, first.balance_micros, second.applied, second.balance_micros) == (True, 5_000_000, False, 5_000_000)
    assert notifier.balances == [(account.id, 5_000_000)]
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await admin.CreditPayment(pb.CreditPaymentRequest(provider="stripe", event_id="evt_x", account_id="acct_no", amount_micros=1))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
