"""API keys, the SQLite ledger store and the Accounts gRPC servicer."""

from __future__ import annotations

import asyncio
import string
from pathlib import Path

import grpc
import pytest

from tollgate import keys
from services.accounts.store import SqlStore
from tollgate import events
from tollgate.rpc import accounts_pb2 as pb

BASE62 = set(string.ascii_letters + string.digits)


# -- keys ---------------------------------------------------------------------------


def test_new_key_format() -> None:
    generated = {keys.new_key() for _ in range(50)}
    assert len(generated) == 50, "keys must be random"
    for key in generated:
        assert key.startswith("sk-")
        assert len(key) == 3 + 48
        assert set(key[3:]) <= BASE62
        assert keys.looks_like_key(key)


@pytest.mark.parametrize(
    "candidate, ok",
    [
        ("sk-" + "a" * 48, True),
        ("sk-" + "Z9" * 20, True),  # 40 characters is the minimum accepted
        ("sk-" + "a" * 39, False),
        ("sk-" + "a" * 47 + "-", False),
        ("sk-" + "a" * 47 + "_", False),
        ("sk-" + "a" * 47 + "é", False),
        ("sk-" + "a" * 47 + " ", False),
        ("pk-" + "a" * 48, False),
        ("SK-" + "a" * 48, False),
        ("a" * 51, False),
        ("sk-", False),
        ("", False),
    ],
)
def test_looks_like_key(candidate: str, ok: bool) -> None:
    assert keys.looks_like_key(candidate) is ok


def test_hash_is_deterministic_and_pepper_dependent() -> None:
    key = keys.new_key()
    h = keys.hash_key(key, "pepper")
    assert h == keys.hash_key(key, "pepper")
    assert len(h) == 64 and set(h) <= set("0123456789abcdef")
    assert h != keys.hash_key(key, "other pepper")
    assert h != keys.hash_key(key)
    assert keys.hash_key(key) == keys.hash_key(key, "")
    assert keys.hash_key(keys.new_key(), "pepper") != h
    assert key not in h


def test_hash_known_value() -> None:
    # HMAC-SHA256(key=b"", msg=b"sk-test"), pinned so a change of algorithm is noticed:
    # it would invalidate every stored key.
    import hashlib
    import hmac

    assert keys.hash_key("sk-test") == hmac.new(b"", b"sk-test", hashlib.sha256).hexdigest()
    assert keys.hash_key("sk-test", "p") == hmac.new(b"p", b"sk-test", hashlib.sha256).hexdigest()


def test_display_prefix() -> None:
    key = "sk-AbCdEfGhIjKlMnOp" + "x" * 32
    assert keys.display_prefix(key) == "sk-AbCdEfG"
    assert len(keys.display_prefix(keys.new_key())) == 10


# -- store --------------------------------------------------------------------------


@pytest.fixture
def store(accounts_db: str):
    s = SqlStore(accounts_db)
    yield s
    s.close()


async def test_create_account_with_initial_balance(store: SqlStore) -> None:
    account = await store.create_account("acme", 1_500)
    assert account.id.startswith("acct_")
    assert (account.name, account.balance_micros) == ("acme", 1_500)
    assert account.created_at_ms > 1_600_000_000_000
    assert await store.ledger_sum(account.id) == 1_500
    assert await store.get_account(account.id) == account


async def test_create_account_zero_balance_has_no_ledger_rows(store: SqlStore) -> None:
    account = await store.create_account("empty", 0)
    assert account.balance_micros == 0
    assert await store.ledger_sum(account.id) == 0


async def test_apply_is_idempotent_per_reference(store: SqlStore) -> None:
    account = await store.create_account("acme", 1_000)
    assert await store.apply(account.id, "usage", -300, "usage:r1") == (True, 700)
    assert await store.apply(account.id, "usage", -300, "usage:r1") == (False, 700)
    # Same reference with a different amount is still a duplicate.
    assert await store.apply(account.id, "usage", -999, "usage:r1") == (False, 700)
    assert await store.apply(account.id, "topup", 50, "topup:r1") == (True, 750)
    assert (await store.get_account(account.id)).balance_micros == 750


async def test_balance_always_equals_ledger_sum(store: SqlStore) -> None:
    account = await store.create_account("acme", 10_000)
    amounts = [-1, -250, 5_000, -7, 0, -10_000, 3]
    for i, amount in enumerate(amounts):
        await store.apply(account.id, "usage" if amount < 0 else "topup", amount, f"ref:{i}")
        await store.apply(account.id, "usage", amount, f"ref:{i}")  # replay
        row = await store.get_account(account.id)
        assert row.balance_micros == await store.ledger_sum(account.id)
    assert (await store.get_account(account.id)).balance_micros == 10_000 + sum(amounts)


async def test_balance_can_go_negative(store: SqlStore) -> None:
    account = await store.create_account("acme", 10)
    assert await store.apply(account.id, "usage", -25, "usage:x") == (True, -15)


async def test_concurrent_duplicate_applies_debit_once(store: SqlStore) -> None:
    account = await store.create_account("acme", 1_000)
    results = await asyncio.gather(*(store.apply(account.id, "usage", -10, "usage:same") for _ in range(20)))
    assert sum(applied for applied, _ in results) == 1
    assert (await store.get_account(account.id)).balance_micros == 990
    assert await store.ledger_sum(account.id) == 990


async def test_unknown_account(store: SqlStore) -> None:
    assert await store.get_account("acct_nope") is None
    assert await store.apply("acct_nope", "topup", 5, "topup:nope") is None
    assert await store.ledger_sum("acct_nope") == 0


async def test_keys_lookup_and_revoke(store: SqlStore) -> None:
    account = await store.create_account("acme", 42)
    other = await store.create_account("other", 0)
    key = await store.create_key(account.id, "laptop", "sk-abcdefg", "hash-1")
    await store.create_key(other.id, "x", "sk-zzzzzzz", "hash-2")
    assert key.id.startswith("key_") and key.revoked_at_ms == 0

    principal = await store.principal_by_hash("hash-1")
    assert principal.key == key
    assert principal.account == account
    assert (await store.principal_by_hash("hash-2")).account.id == other.id
    assert await store.principal_by_hash("missing") is None

    revoked = await store.revoke_key(key.id)
    assert revoked.revoked_at_ms >= key.created_at_ms > 0
    assert (await store.principal_by_hash("hash-1")).key.revoked_at_ms == revoked.revoked_at_ms
    # Revoking again keeps the original timestamp.
    await asyncio.sleep(0.002)
    assert (await store.revoke_key(key.id)).revoked_at_ms == revoked.revoked_at_ms
    assert await store.revoke_key("key_nope") is None
    assert [k.id for k in await store.list_keys(account.id)] == [key.id]
    # The other account's key is untouched.
    assert (await store.principal_by_hash("hash-2")).key.revoked_at_ms == 0


async def test_duplicate_key_hash_is_rejected(store: SqlStore) -> None:
    from tollgate.errors import Conflict

    account = await store.create_account("acme", 0)
    await store.create_key(account.id, "a", "sk-1", "same-hash")
    with pytest.raises(Conflict):
        await store.create_key(account.id, "b", "sk-2", "same-hash")


async def test_store_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    s = SqlStore(path)
    account = await s.create_account("acme", 7)
    await s.apply(account.id, "topup", 3, "topup:a")
    s.close()
    s = SqlStore(path)
    try:
        assert (await s.get_account(account.id)).balance_micros == 10
        assert await s.apply(account.id, "topup", 3, "topup:a") == (False, 10)
    finally:
        s.close()


# -- gRPC servicer ------------------------------------------------------------------


from tests.unit.conftest import PEPPER  # noqa: E402


async def rpc_error(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def test_create_account_key_and_authenticate(svc) -> None:
    stub, _, store = svc
    account = await stub.CreateAccount(pb.CreateAccountRequest(name="  Acme  ", initial_balance_micros=2_000_000))
    assert account.name == "Acme"
    assert account.balance_micros == 2_000_000
    created = await stub.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, name="ci"))
    assert keys.looks_like_key(created.secret)
    assert created.key.prefix == created.secret[:10]
    assert (created.key.account_id, created.key.name, created.key.revoked_at_ms) == (account.account_id, "ci", 0)

    # Only the peppered hash is stored.
    row = await store.principal_by_hash(keys.hash_key(created.secret, PEPPER))
    assert row is not None and row.key.id == created.key.key_id
    assert await store.principal_by_hash(keys.hash_key(created.secret)) is None

    principal = await stub.Authenticate(pb.AuthenticateRequest(key=created.secret))
    assert principal == pb.Principal(
        account_id=account.account_id,
        key_id=created.key.key_id,
        key_prefix=created.secret[:10],
        balance_micros=2_000_000,
        account_name="Acme",
        rpm_limit=180,  # the default for a key created without a limit
        account_status="active",
        spend_day=principal.spend_day,
        spend_month=principal.spend_month,
    )
    assert principal.spend_day > 20_000 and principal.spend_month > 2026 * 12


async def test_create_key_default_name_and_listing(svc) -> None:
    stub, _, _ = svc
    account = await stub.CreateAccount(pb.CreateAccountRequest(name="a"))
    k1 = await stub.CreateKey(pb.CreateKeyRequest(account_id=account.account_id))
    k2 = await stub.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, name="second"))
    assert k1.key.name == "default"
    assert k1.secret != k2.secret
    listed = await stub.ListKeys(pb.ListKeysRequest(account_id=account.account_id))
    assert {k.key_id for k in listed.keys} == {k1.key.key_id, k2.key.key_id}
    assert all(k1.secret not in str(k) and k2.secret not in str(k) for k in listed.keys)


@pytest.mark.parametrize(
    "request_",
    [pb.CreateAccountRequest(name=""), pb.CreateAccountRequest(name="   "), pb.CreateAccountRequest(name="x", initial_balance_micros=-1)],
    ids=["empty-name", "blank-name", "negative-balance"],
)
async def test_create_account_invalid(svc, request_) -> None:
    stub, _, _ = svc
    err = await rpc_error(stub.CreateAccount(request_))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_create_key_unknown_account(svc) -> None:
    stub, _, _ = svc
    err = await rpc_error(stub.CreateKey(pb.CreateKeyRequest(account_id="acct_nope")))
    assert err.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("bad", ["", "not-a-key", "sk-short", "sk-" + "a" * 48, "Bearer sk-" + "a" * 48])
async def test_authenticate_bad_key(svc, bad: str) -> None:
    stub, _, _ = svc
    err = await rpc_error(stub.Authenticate(pb.AuthenticateRequest(key=bad)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.details() == "Incorrect API key provided."


async def test_authenticate_with_key_hashed_under_other_pepper(svc) -> None:
    stub, _, store = svc
    account = await store.create_account("a", 0)
    secret = keys.new_key()
    await store.create_key(account.id, "k", keys.display_prefix(secret), keys.hash_key(secret, "different"))
    err = await rpc_error(stub.Authenticate(pb.AuthenticateRequest(key=secret)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_revoke_key(svc) -> None:
    stub, notifier, _ = svc
    account = await stub.CreateAccount(pb.CreateAccountRequest(name="a", initial_balance_micros=1))
    keep = await stub.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, name="keep"))
    created = await stub.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, name="k"))
    await stub.Authenticate(pb.AuthenticateRequest(key=created.secret))

    info = await stub.RevokeKey(pb.RevokeKeyRequest(key_id=created.key.key_id))
    assert info.key_id == created.key.key_id
    assert info.revoked_at_ms > 0

    assert notifier.published == [
        (
            events.KEY_REVOKED_SUBJECT,
            events.KeyRevoked(key_id=created.key.key_id, key_hash=keys.hash_key(created.secret, PEPPER), account_id=account.account_id),
        )
    ]
    # The published event survives the wire format of its subject.
    subject, event = notifier.published[0]
    assert events.decode(subject, events.encode(event)) == event

    err = await rpc_error(stub.Authenticate(pb.AuthenticateRequest(key=created.secret)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    # Other keys of the account still work.
    assert (await stub.Authenticate(pb.AuthenticateRequest(key=keep.secret))).key_id == keep.key.key_id


async def test_revoke_unknown_key(svc) -> None:
    stub, notifier, _ = svc
    err = await rpc_error(stub.RevokeKey(pb.RevokeKeyRequest(key_id="key_nope")))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert notifier.published == []


async def test_top_up_same_reference_applies_once(svc) -> None:
    stub, notifier, store = svc
    account = await stub.CreateAccount(pb.CreateAccountRequest(name="a", initial_balance_micros=100))
    first = await stub.TopUp(pb.TopUpRequest(account_id=account.account_id, amount_micros=50, reference="invoice-1"))
    second = await stub.TopUp(pb.TopUpRequest(account_id=account.account_id, amount_micros=50, reference="invoice-1"))
    assert first == pb.Balance(account_id=account.account_id, balance_micros=150)
    assert second.balance_micros == 150
    assert (await stub.GetBalance(pb.GetBalanceRequest(account_id=account.account_id))).balance_micros == 150
    assert await store.ledger_sum(account.account_id) == 150
    assert notifier.balances[0] == (account.account_id, 150)
    assert all(balance == 150 for _, balance in notifier.balances)


async def test_top_up_without_reference_always_applies(svc) -> None:
    stub, notifier, _ = svc
    account = await stub.CreateAccount(pb.CreateAccountRequest(name="a"))
    for _ in range(3):
        await stub.TopUp(pb.TopUpRequest(account_id=account.account_id, amount_micros=10))
    assert (await stub.GetBalance(pb.GetBalanceRequest(account_id=account.account_id))).balance_micros == 30
    assert notifier.balances == [(account.account_id, 10), (account.account_id, 20), (account.account_id, 30)]


@pytest.mark.parametrize("amount", [0, -1, -1_000_000])
async def test_top_up_must_be_positive(svc, amount: int) -> None:
    stub, notifier, _ = svc
    account = await stub.CreateAccount(pb.CreateAccountRequest(name="a", initial_balance_micros=5))
    err = await rpc_error(stub.TopUp(pb.TopUpRequest(account_id=account.account_id, amount_micros=amount, reference="r")))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await stub.GetBalance(pb.GetBalanceRequest(account_id=account.account_id))).balance_micros == 5
    assert notifier.balances == []


async def test_top_up_unknown_account(svc) -> None:
    stub, notifier, _ = svc
    err = await rpc_error(stub.TopUp(pb.TopUpRequest(account_id="acct_nope", amount_micros=5)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert notifier.balances == []


async def test_get_balance_unknown_account(svc) -> None:
    stub, _, _ = svc
    err = await rpc_error(stub.GetBalance(pb.GetBalanceRequest(account_id="acct_nope")))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert "acct_nope" in err.details()


async def test_list_keys_unknown_account(svc) -> None:
    stub, _, _ = svc
    err = await rpc_error(stub.ListKeys(pb.ListKeysRequest(account_id="acct_nope")))
    assert err.code() == grpc.StatusCode.NOT_FOUND


async def test_top_up_reference_is_scoped_to_the_account(svc) -> None:
    stub, _, _ = svc
    a = await stub.CreateAccount(pb.CreateAccountRequest(name="a"))
    b = await stub.CreateAccount(pb.CreateAccountRequest(name="b"))
    await stub.TopUp(pb.TopUpRequest(account_id=a.account_id, amount_micros=100, reference="invoice-1"))
    resp = await stub.TopUp(pb.TopUpRequest(account_id=b.account_id, amount_micros=100, reference="invoice-1"))
    assert resp.balance_micros == 100
