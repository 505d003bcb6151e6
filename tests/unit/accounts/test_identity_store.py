"""The identity tables (services/accounts/identity_store.py) on SQLite and PostgreSQL: what the
servicer tests do not reach directly: windows and expiries, one-use states, ownership rules."""

from __future__ import annotations

import pytest

from services.accounts import identity_store
from services.accounts.identity_store import IdentityStore
from services.accounts.store import SqlStore
from tollgate.errors import BadRequest, Conflict


@pytest.fixture
def ids(accounts_db: str):
    store = SqlStore(accounts_db)
    yield IdentityStore(store)
    store.close()


async def test_throttle_window(ids: IdentityStore, monkeypatch) -> None:
    clock = [1_000_000]
    monkeypatch.setattr(identity_store, "now_ms", lambda: clock[0])
    buckets = [("email:x", 2), ("addr:1.2.3.4", 3)]
    assert await ids.throttled(buckets, 60_000) == 0
    await ids.record_failure(["email:x", "addr:1.2.3.4"], 60_000)
    clock[0] += 10_000
    await ids.record_failure(["email:x", "addr:1.2.3.4"], 60_000)
    assert await ids.throttled(buckets, 60_000) == 50_000  # the email's window started 10 s ago
    clock[0] += 50_000
    assert await ids.throttled(buckets, 60_000) == 0  # a new window
    await ids.record_failure(["email:x"], 60_000)
    assert await ids.throttled(buckets, 60_000) == 0  # one failure in the new window
    await ids.record_failure(["email:x"], 60_000)
    assert await ids.throttled(buckets, 60_000) == 60_000
    await ids.clear_failures("email:x")
    assert await ids.throttled(buckets, 60_000) == 0


async def test_email_tokens_expire_and_are_used_once(ids: IdentityStore, monkeypatch) -> None:
    user, org, _ = await ids.register("ada@example.com", "Ada", "hash", "Ada's org")
    await ids.add_email_token(user.id, "verify", "h-verify", 1_000)
    await ids.add_email_token(user.id, "reset", "h-reset", 60_000)
    with pytest.raises(BadRequest):  # a reset token does not verify
        await ids.verify_email("h-reset", "", 5)
    clock = identity_store.now_ms() + 2_000
    monkeypatch.setattr(identity_store, "now_ms", lambda: clock)
    with pytest.raises(BadRequest):  # expired
        await ids.verify_email("h-verify", "", 5)
    assert (await ids.reset_password("h-reset", "new-hash")).id == user.id
    with pytest.raises(BadRequest):
        await ids.reset_password("h-reset", "other")
    assert (await ids.get_user(user.id)).password_hash == "new-hash"
    assert (await ids.get_user(user.id)).email_verified_at_ms > 0  # the reset link reached the mailbox
    assert (await ids.org_of_account(org.account_id)).id == org.id


async def test_oidc_state_is_used_once(ids: IdentityStore) -> None:
    _, org, _ = await ids.register("ada@example.com", "Ada", "hash", "org")
    await ids.save_oidc_state("state-hash", org.id, "nonce", "challenge", "http://cb", 60_000)
    assert await ids.take_oidc_state("state-hash") == (org.id, "nonce", "challenge", "http://cb")
    assert await ids.take_oidc_state("state-hash") is None


async def test_owners_and_deletion(ids: IdentityStore) -> None:
    ada, org, owner = await ids.register("ada@example.com", "Ada", "hash", "org")
    bob = await ids.create_user("bob@example.com", "Bob", "hash", verified=True)
    await ids.invite(org.id, "bob@example.com", "developer", "inv-hash", ada.id, 60_000)
    with pytest.raises(Conflict):  # an open invitation to a member-to-be is fine; a member cannot be invited
        await ids.invite(org.id, "ada@example.com", "viewer", "inv-2", ada.id, 60_000)
    member = await ids.accept_invitation("inv-hash", bob.id)
    assert (member.role, member.org_id) == ("developer", org.id)
    with pytest.raises(Conflict):  # the only owner of an org with other members stays
        await ids.delete_user(ada.id)
    with pytest.raises(Conflict):
        await ids.set_role(org.id, owner.id, "admin")
    await ids.set_role(org.id, member.id, "owner")
    await ids.set_role(org.id, owner.id, "admin")  # another owner now
    await ids.delete_user(ada.id)
    assert [m.email for m in await ids.list_members(org.id)] == ["bob@example.com"]
    assert await ids.user_by_email("ada@example.com") is None
