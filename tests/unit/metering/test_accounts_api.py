"""The dashboard's account endpoints over a real accounts gRPC server: the caller's own
credential is what the accounts service sees, so a user key reaches only its account."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from services.metering.accounts_api import AccountsApi
from tests.unit.conftest import ADMIN
from tollgate.rpc import accounts_pb2 as pb

pytestmark = pytest.mark.parametrize("accounts_db", ["sqlite"], indirect=True)


@pytest.fixture
async def client(served):
    # httpx's ASGI transport runs the app on this loop, beside the gRPC server (Litestar's
    # test clients run it on a thread of their own and block this loop meanwhile).
    api = AccountsApi(served.addr)
    app = Litestar(route_handlers=api.handlers())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://metering") as client:
            yield client
    finally:
        await api.close()


def auth(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def account_with_key(served, name: str, balance: int = 1_500_000) -> tuple[str, pb.CreatedKey]:
    account = await served.stub.CreateAccount(pb.CreateAccountRequest(name=name, initial_balance_micros=balance, skip_trial_credit=True))
    key = await served.stub.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, name="first"))
    return account.account_id, key


async def test_a_user_key_sees_and_manages_its_own_account(served, client) -> None:
    account_id, key = await account_with_key(served, "mine")
    me = auth(key.secret)

    account = (await client.get("/v1/account", headers=me)).json()
    assert account["account_id"] == account_id and account["balance_micros"] == 1_500_000 and account["status"] == "active"

    ledger = (await client.get("/v1/ledger", headers=me)).json()
    assert ledger["balance_micros"] == 1_500_000
    assert [(e["kind"], e["amount_micros"]) for e in ledger["entries"]] == [("credit", 1_500_000)]

    created = await client.post("/v1/keys", headers=me, json={"name": "ci"})
    assert created.status_code == 201
    new = created.json()
    assert new["secret"].startswith("sk-") and new["key"]["name"] == "ci" and new["key"]["account_id"] == account_id
    listed = (await client.get("/v1/keys", headers=me)).json()["keys"]
    assert {k["name"] for k in listed} == {"first", "ci"}
    assert all("secret" not in k and "key_hash" not in k for k in listed)

    rotated = (await client.post(f"/v1/keys/{new['key']['key_id']}/rotate", headers=me, json={"grace_s": 60})).json()
    assert rotated["new_key"]["secret"].startswith("sk-") and rotated["old_key"]["expires_at_ms"] > 0
    revoked = (await client.post(f"/v1/keys/{rotated['new_key']['key']['key_id']}/revoke", headers=me)).json()
    assert revoked["revoked_at_ms"] > 0

    # The new key works through the API too; the revoked one does not.
    assert (await client.get("/v1/account", headers=auth(new["secret"]))).status_code == 200
    gone = await client.get("/v1/account", headers=auth(rotated["new_key"]["secret"]))
    assert gone.status_code == 401 and gone.json()["error"]["type"] == "invalid_request_error"


async def test_a_user_key_cannot_reach_another_account(served, client) -> None:
    _, key = await account_with_key(served, "mine")
    theirs, their_key = await account_with_key(served, "theirs")
    me = auth(key.secret)
    for response in (
        await client.get("/v1/account", headers=me, params={"account_id": theirs}),
        await client.get("/v1/ledger", headers=me, params={"account_id": theirs}),
        await client.get("/v1/keys", headers=me, params={"account_id": theirs}),
        await client.post("/v1/keys", headers=me, params={"account_id": theirs}, json={"name": "x"}),
        await client.post(f"/v1/keys/{their_key.key.key_id}/revoke", headers=me),
        await client.post(f"/v1/keys/{their_key.key.key_id}/rotate", headers=me, json={}),
    ):
        assert response.status_code == 403, response.text
        assert response.json()["error"] == {
            "message": "This API key can only manage its own account.",
            "type": "permission_error",
            "code": "forbidden",
        }
    admin_only = await client.get("/v1/accounts", headers=me)
    assert admin_only.status_code == 403 and admin_only.json()["error"]["code"] == "admin_required"
    assert (await served.stub.ListKeys(pb.ListKeysRequest(account_id=theirs))).keys[0].revoked_at_ms == 0


async def test_the_admin_names_the_account(served, client) -> None:
    account_id, _ = await account_with_key(served, "acme")
    admin = auth(ADMIN)
    missing = await client.get("/v1/keys", headers=admin)
    assert missing.status_code == 400 and missing.json()["error"]["message"] == "account_id is required"
    keys = (await client.get("/v1/keys", headers=admin, params={"account_id": account_id})).json()["keys"]
    assert [k["name"] for k in keys] == ["first"]
    created = await client.post("/v1/keys", headers=admin, params={"account_id": account_id}, json={"name": "ops", "rpm_limit": 60})
    assert created.status_code == 201 and created.json()["key"]["rpm_limit"] == 60
    accounts = (await client.get("/v1/accounts", headers=admin)).json()["accounts"]
    assert account_id in {a["account_id"] for a in accounts}
    unknown = await client.get("/v1/account", headers=admin, params={"account_id": "acct_nope"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}, auth("tga_wrong")])
async def test_without_a_valid_credential_nothing_is_reached(served, client, headers) -> None:
    response = await client.get("/v1/keys", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"missing_credential", "invalid_credential"}


async def test_bad_bodies_are_400s(served, client) -> None:
    _, key = await account_with_key(served, "mine")
    me = auth(key.secret)
    for body in (b"{not json", b'{"name": 5}', b'{"nme": "typo"}', b'{"name": "x", "rpm_limit": 99999999999}'):
        response = await client.post("/v1/keys", headers={**me, "content-type": "application/json"}, content=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["type"] == "invalid_request_error"
    rotate = await client.post(f"/v1/keys/{key.key.key_id}/rotate", headers=me, json={"grace_s": -5})
    assert rotate.status_code == 400
