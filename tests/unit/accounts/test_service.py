"""The Accounts gRPC servicer (services.accounts.service) over a real gRPC server and store."""

from __future__ import annotations

import grpc
import pytest

from tests.unit.conftest import PEPPER
from tollgate import events, keys
from tollgate.rpc import accounts_pb2 as pb


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
        price_group="default",
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
