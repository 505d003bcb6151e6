"""The ledger store (services.accounts.store.SqlStore) on SQLite and PostgreSQL: accounts, the
idempotent ledger, keys, and persistence."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.accounts.store import SqlStore


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
