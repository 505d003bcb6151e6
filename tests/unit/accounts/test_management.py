"""Accounts management over real gRPC: credentials, suspension, trial credit, rotation,
adjustments, the ledger listing and spend counters; on SQLite and PostgreSQL."""

from __future__ import annotations

import grpc
import pytest

from services.accounts.store import now_ms
from tests.unit.conftest import PEPPER, TRIAL
from tollgate import events, keys
from tollgate.periods import day_number, month_number
from tollgate.rpc import accounts_pb2 as pb


async def rpc_error(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def account_with_key(served, name: str = "a", balance: int = 1_000) -> tuple[pb.Account, pb.CreatedKey]:
    account = await served.stub.CreateAccount(pb.CreateAccountRequest(name=name, initial_balance_micros=balance, skip_trial_credit=True))
    key = await served.stub.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, name="k"))
    return account, key


# -- credentials ------------------------------------------------------------------


@pytest.mark.parametrize("credential", [None, "", "tga_wrong", "not a key at all"])
async def test_calls_without_a_valid_credential_are_refused(served, credential) -> None:
    stub = served.as_(credential)
    for call in (stub.ListAccounts(pb.ListAccountsRequest()), stub.Authenticate(pb.AuthenticateRequest(key="sk-x"))):
        err = await rpc_error(call)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_user_key_manages_only_its_own_account(served) -> None:
    mine, my_key = await account_with_key(served, "mine")
    theirs, their_key = await account_with_key(served, "theirs")
    user = served.as_(my_key.secret)

    listed = await user.ListKeys(pb.ListKeysRequest())  # account_id may be left out
    assert [k.key_id for k in listed.keys] == [my_key.key.key_id]
    assert (await user.GetBalance(pb.GetBalanceRequest())).balance_micros == 1_000
    created = await user.CreateKey(pb.CreateKeyRequest(name="second"))
    assert created.key.account_id == mine.account_id
    assert (await user.GetAccount(pb.GetAccountRequest(account_id=mine.account_id))).name == "mine"

    for call in (
        user.ListKeys(pb.ListKeysRequest(account_id=theirs.account_id)),
        user.RevokeKey(pb.RevokeKeyRequest(key_id=their_key.key.key_id)),
        user.RotateKey(pb.RotateKeyRequest(key_id=their_key.key.key_id)),
        user.ListLedger(pb.ListLedgerRequest(account_id=theirs.account_id)),
        user.GetBalance(pb.GetBalanceRequest(account_id=theirs.account_id)),
    ):
        assert (await rpc_error(call)).code() == grpc.StatusCode.PERMISSION_DENIED
    for call in (
        user.TopUp(pb.TopUpRequest(account_id=mine.account_id, amount_micros=5)),
        user.Adjust(pb.AdjustRequest(account_id=mine.account_id, amount_micros=5, reason="x")),
        user.CreateAccount(pb.CreateAccountRequest(name="x")),
        user.SetAccountStatus(pb.SetAccountStatusRequest(account_id=mine.account_id, status="active")),
        user.Authenticate(pb.AuthenticateRequest(key=their_key.secret)),
        user.AcquireLease(pb.AcquireLeaseRequest(account_id=mine.account_id, amount_micros=1)),
    ):
        err = await rpc_error(call)
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "admin" in err.details()
    assert (await served.stub.GetBalance(pb.GetBalanceRequest(account_id=mine.account_id))).balance_micros == 1_000

    # The user revokes its own second key; a revoked key opens nothing any more.
    await user.RevokeKey(pb.RevokeKeyRequest(key_id=created.key.key_id))
    await served.stub.RevokeKey(pb.RevokeKeyRequest(key_id=my_key.key.key_id))
    assert (await rpc_error(user.ListKeys(pb.ListKeysRequest()))).code() == grpc.StatusCode.UNAUTHENTICATED


async def test_admin_must_name_the_account(served) -> None:
    assert (await rpc_error(served.stub.ListKeys(pb.ListKeysRequest()))).code() == grpc.StatusCode.INVALID_ARGUMENT


# -- accounts ---------------------------------------------------------------------


async def test_new_accounts_get_the_trial_credit_once_in_the_ledger(served) -> None:
    account = await served.stub.CreateAccount(pb.CreateAccountRequest(name="new", initial_balance_micros=1_000))
    assert account.balance_micros == 1_000 + TRIAL and account.status == "active"
    ledger = await served.stub.ListLedger(pb.ListLedgerRequest(account_id=account.account_id))
    assert sorted((e.kind, e.amount_micros) for e in ledger.entries) == [("credit", 1_000), ("trial", TRIAL)]
    assert ledger.balance_micros == sum(e.amount_micros for e in ledger.entries)
    skipped = await served.stub.CreateAccount(pb.CreateAccountRequest(name="org", skip_trial_credit=True))
    assert skipped.balance_micros == 0


async def test_suspend_and_reactivate(served) -> None:
    account, key = await account_with_key(served)
    suspended = await served.stub.SetAccountStatus(
        pb.SetAccountStatusRequest(account_id=account.account_id, status="suspended", reason="provider policy notice")
    )
    assert (suspended.status, suspended.status_reason) == ("suspended", "provider policy notice")
    principal = await served.stub.Authenticate(pb.AuthenticateRequest(key=key.secret))
    assert (principal.account_status, principal.status_reason) == ("suspended", "provider policy notice")
    assert served.notifier.published[-1] == (
        events.ACCOUNT_STATUS_SUBJECT,
        events.AccountStatusChanged(account_id=account.account_id, status="suspended", reason="provider policy notice"),
    )
    # A suspended account's balance cannot be leased.
    lease = await served.stub.AcquireLease(pb.AcquireLeaseRequest(account_id=account.account_id, amount_micros=10))
    assert lease.granted_micros == 0

    active = await served.stub.SetAccountStatus(
        pb.SetAccountStatusRequest(account_id=account.account_id, status="active", reason="ignored")
    )
    assert (active.status, active.status_reason) == ("active", "")
    assert (await served.stub.Authenticate(pb.AuthenticateRequest(key=key.secret))).account_status == "active"
    err = await rpc_error(served.stub.SetAccountStatus(pb.SetAccountStatusRequest(account_id=account.account_id, status="frozen")))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_accounts_pages(served) -> None:
    made = {(await served.stub.CreateAccount(pb.CreateAccountRequest(name=f"n{i}"))).account_id for i in range(5)}
    seen, after = [], ""
    while True:
        page = await served.stub.ListAccounts(pb.ListAccountsRequest(limit=2, after_id=after))
        if not page.accounts:
            break
        seen += [a.account_id for a in page.accounts]
        after = page.accounts[-1].account_id
    assert made <= set(seen) and len(seen) == len(set(seen))


# -- keys ---------------------------------------------------------------------------


async def test_rotation_issues_a_new_key_and_keeps_the_old_one_for_the_grace(served) -> None:
    account, old = await account_with_key(served)
    before = now_ms()
    rotated = await served.stub.RotateKey(pb.RotateKeyRequest(key_id=old.key.key_id, grace_s=3600))
    new = rotated.new_key
    assert new.secret != old.secret and keys.looks_like_key(new.secret)
    assert (new.key.name, new.key.rpm_limit, new.key.account_id) == (old.key.name, old.key.rpm_limit, account.account_id)
    assert before + 3_600_000 <= rotated.old_key.expires_at_ms <= now_ms() + 3_600_000
    # Both work during the grace period; edges were told to re-read the old key.
    assert (await served.stub.Authenticate(pb.AuthenticateRequest(key=old.secret))).expires_at_ms == rotated.old_key.expires_at_ms
    assert (await served.stub.Authenticate(pb.AuthenticateRequest(key=new.secret))).key_id == new.key.key_id
    subject, event = served.notifier.published[-1]
    assert subject == events.KEY_UPDATED_SUBJECT and event.key_hash == keys.hash_key(old.secret, PEPPER)

    # Rotating again with no grace ends the (new) old key at once.
    again = await served.stub.RotateKey(pb.RotateKeyRequest(key_id=new.key.key_id, grace_s=-1))
    err = await rpc_error(served.stub.Authenticate(pb.AuthenticateRequest(key=new.secret)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED and "expired" in err.details()
    assert (await served.stub.Authenticate(pb.AuthenticateRequest(key=again.new_key.secret))).account_id == account.account_id
    err = await rpc_error(served.stub.RotateKey(pb.RotateKeyRequest(key_id=new.key.key_id)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_spend_caps_and_counters(served) -> None:
    account = await served.stub.CreateAccount(pb.CreateAccountRequest(name="a", initial_balance_micros=10_000, skip_trial_credit=True))
    key = await served.stub.CreateKey(
        pb.CreateKeyRequest(account_id=account.account_id, spend_cap_day_micros=500, spend_cap_month_micros=2_000)
    )
    assert (key.key.spend_cap_day_micros, key.key.spend_cap_month_micros) == (500, 2_000)
    now = now_ms()
    await served.store.apply(account.account_id, "usage", -120, "usage:r1", now, key_id=key.key.key_id)
    await served.store.apply(account.account_id, "usage", -120, "usage:r1", now, key_id=key.key.key_id)  # duplicate: no effect
    await served.store.apply(account.account_id, "usage", -30, "usage:r0", now - 40 * 86_400_000, key_id=key.key.key_id)  # another month
    principal = await served.stub.Authenticate(pb.AuthenticateRequest(key=key.secret))
    assert (principal.spend_cap_day_micros, principal.spend_cap_month_micros) == (500, 2_000)
    assert (principal.spent_day_micros, principal.spent_month_micros) == (120, 120)
    assert (principal.spend_day, principal.spend_month) == (day_number(now), month_number(now))
    listed = (await served.stub.ListKeys(pb.ListKeysRequest(account_id=account.account_id))).keys[0]
    assert listed.last_used_at_ms == now
    err = await rpc_error(served.stub.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, spend_cap_day_micros=-1)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- money ----------------------------------------------------------------------------


async def test_adjustments_carry_a_reason_and_apply_once(served) -> None:
    account, _ = await account_with_key(served, balance=1_000)
    refund = pb.AdjustRequest(account_id=account.account_id, amount_micros=250, reason="refund for outage", reference="case-7")
    assert (await served.stub.Adjust(refund)).balance_micros == 1_250
    assert (await served.stub.Adjust(refund)).balance_micros == 1_250  # same reference
    charge = pb.AdjustRequest(account_id=account.account_id, amount_micros=-2_000, reason="chargeback")
    assert (await served.stub.Adjust(charge)).balance_micros == -750
    for bad in (
        pb.AdjustRequest(account_id=account.account_id, amount_micros=5),
        pb.AdjustRequest(account_id=account.account_id, reason="x"),
    ):
        assert (await rpc_error(served.stub.Adjust(bad))).code() == grpc.StatusCode.INVALID_ARGUMENT
    ledger = await served.stub.ListLedger(pb.ListLedgerRequest(account_id=account.account_id))
    assert [(e.kind, e.amount_micros, e.note) for e in ledger.entries] == [
        ("adjustment", -2_000, "chargeback"),
        ("adjustment", 250, "refund for outage"),
        ("credit", 1_000, ""),
    ]
    assert ledger.balance_micros == -750 == sum(e.amount_micros for e in ledger.entries)


async def test_ledger_pages_newest_first(served) -> None:
    account, _ = await account_with_key(served, balance=0)
    for i in range(7):
        await served.stub.TopUp(pb.TopUpRequest(account_id=account.account_id, amount_micros=i + 1))
    pages, before = [], 0
    while True:
        page = await served.stub.ListLedger(pb.ListLedgerRequest(account_id=account.account_id, limit=3, before_id=before))
        if not page.entries:
            break
        pages.append([e.amount_micros for e in page.entries])
        before = page.entries[-1].id
    assert pages == [[7, 6, 5], [4, 3, 2], [1]]


async def test_a_user_key_creates_keys_no_broader_than_itself(served) -> None:
    account = await served.stub.CreateAccount(pb.CreateAccountRequest(name="a", initial_balance_micros=1_000, skip_trial_credit=True))
    expiry = now_ms() + 3_600_000
    own = await served.stub.CreateKey(
        pb.CreateKeyRequest(
            account_id=account.account_id,
            allowed_models=["sim-*"],
            expires_at_ms=expiry,
            rpm_limit=10,
            tpm_limit=1_000,
            spend_cap_day_micros=500,
            require_zdr=True,
        )
    )
    user = served.as_(own.secret)
    inherited = (await user.CreateKey(pb.CreateKeyRequest(name="child"))).key
    assert (inherited.allowed_models, inherited.expires_at_ms, inherited.rpm_limit, inherited.tpm_limit) == (["sim-*"], expiry, 10, 1_000)
    assert (inherited.spend_cap_day_micros, inherited.require_zdr) == (500, True)
    narrower = (await user.CreateKey(pb.CreateKeyRequest(allowed_models=["sim-1"], rpm_limit=5, spend_cap_day_micros=100))).key
    assert (narrower.allowed_models, narrower.rpm_limit, narrower.spend_cap_day_micros) == (["sim-1"], 5, 100)
    for broader in (
        pb.CreateKeyRequest(allowed_models=["gpt-4o"]),
        pb.CreateKeyRequest(rpm_limit=11),
        pb.CreateKeyRequest(rpm_limit=-1),
        pb.CreateKeyRequest(tpm_limit=1_001),
        pb.CreateKeyRequest(spend_cap_day_micros=501),
        pb.CreateKeyRequest(expires_at_ms=expiry + 1),
    ):
        assert (await rpc_error(user.CreateKey(broader))).code() == grpc.StatusCode.PERMISSION_DENIED, broader


async def test_a_suspended_accounts_keys_cannot_manage_it(served) -> None:
    account, key = await account_with_key(served)
    user = served.as_(key.secret)
    await user.ListKeys(pb.ListKeysRequest())
    await served.stub.SetAccountStatus(pb.SetAccountStatusRequest(account_id=account.account_id, status="suspended", reason="x"))
    for call in (
        user.ListKeys(pb.ListKeysRequest()),
        user.CreateKey(pb.CreateKeyRequest()),
        user.RotateKey(pb.RotateKeyRequest(key_id=key.key.key_id)),
    ):
        err = await rpc_error(call)
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "suspended" in err.details()
