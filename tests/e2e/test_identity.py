"""Identity end to end through the running stack (metering's console API in front of the
accounts process's Identity service): register -> verify from the outbox (free quota once) ->
log in (session cookies, CSRF) -> the console sees the account -> create a key and call the
edge with it -> invite a teammate who accepts as developer -> log out; login throttling (429
with retry-after); no password, session or invitation token in any log or in the database."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.identity_util import Session, link, mails, token_of
from tollgate import identity

API = "/console/api/identity"
PASSWORD = "e2e password " + secrets.token_hex(6)
FREE = 1_000_000  # TOLLGATE_FREE_QUOTA_MICROS in tests/conftest.py


def post(stack, path: str, body: dict, **kw) -> httpx.Response:
    return httpx.post(f"{stack.metering_url}{path}", json=body, timeout=30, **kw)


def sign_up(stack, email: str, password: str = PASSWORD) -> Session:
    outbox = stack.settings.outbox_path
    assert post(stack, f"{API}/register", {"email": email, "password": password, "name": "E2E"}).status_code == 201
    assert post(stack, f"{API}/verify", {"token": token_of(link(outbox, email, "verify"))}).status_code == 200
    r = post(stack, f"{API}/login", {"email": email, "password": password})
    assert r.status_code == 200, r.text
    return Session(stack.metering_url, r)


@pytest.fixture(scope="module")
def secrets_seen() -> list[str]:
    """Every password and token the tests handle, for the canary check at the end."""
    return []


def test_register_verify_login_console_key_and_invitation(stack, secrets_seen) -> None:
    outbox = stack.settings.outbox_path
    owner_email = f"owner-{secrets.token_hex(4)}@example.com"
    r = post(stack, f"{API}/register", {"email": owner_email, "password": PASSWORD, "name": "Owner", "org_name": "E2E Org"})
    assert r.status_code == 201, r.text
    registered = r.json()
    assert registered["verification_sent"] and registered["org_id"].startswith("org_")

    r = post(stack, f"{API}/login", {"email": owner_email, "password": PASSWORD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "email_not_verified"
    verify_url = link(outbox, owner_email, "verify")
    assert verify_url.startswith(f"{stack.metering_url}/console/verify?token=tge_")
    assert httpx.get(verify_url, timeout=30).status_code == 200  # the page the link opens
    r = post(stack, f"{API}/verify", {"token": token_of(verify_url)})
    assert r.status_code == 200 and r.json()["free_quota_micros"] == FREE
    assert post(stack, f"{API}/verify", {"token": token_of(verify_url)}).json()["error"]["code"] == "invalid_token"

    r = post(stack, f"{API}/login", {"email": owner_email.upper(), "password": PASSWORD})
    assert r.status_code == 200, r.text
    set_cookies = r.headers.get_list("set-cookie")
    session_cookie = next(c for c in set_cookies if c.startswith(identity.SESSION_COOKIE + "="))
    assert all(flag in session_cookie.lower() for flag in ("httponly", "secure", "samesite=lax", "path=/"))
    csrf_cookie = next(c for c in set_cookies if c.startswith(identity.CSRF_COOKIE + "="))
    assert "httponly" not in csrf_cookie.lower() and "samesite=strict" in csrf_cookie.lower()
    owner = Session(stack.metering_url, r)
    assert r.json()["csrf_token"] == owner.csrf
    secrets_seen += [PASSWORD, owner.token, owner.csrf, token_of(verify_url)]

    # The console sees the account: whoami, the account and its free quota, the usage API.
    who = owner.get("/v1/whoami").json()
    assert who == {
        "admin": False,
        "account_id": registered["account_id"],
        "user_id": registered["user_id"],
        "org_id": registered["org_id"],
        "role": "owner",
        "member_id": registered["member_id"],
    }
    account = owner.get("/v1/account").json()
    assert (account["account_id"], account["name"], account["balance_micros"]) == (registered["account_id"], "E2E Org", FREE)
    assert owner.get("/v1/usage").status_code == 200
    me = owner.get(f"{API}/session").json()
    assert (me["session"]["email"], me["session"]["role"], me["csrf_token"]) == (owner_email, "owner", owner.csrf)

    # Unsafe methods need the CSRF header; with it, a key is created and works at the edge.
    refused = owner.post("/v1/keys", {"name": "no csrf"}, csrf=False)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    refused = httpx.post(f"{stack.metering_url}/v1/keys", json={}, headers={**owner.headers(False), identity.CSRF_HEADER: "x" * 43})
    assert refused.status_code == 403
    created = owner.post("/v1/keys", {"name": "console key", "rpm_limit": -1})
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    client = openai.OpenAI(base_url=stack.edge_url, api_key=secret, max_retries=0, timeout=30)
    answer = client.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": "hello"}], max_tokens=3)
    assert answer.usage.completion_tokens == 3

    # Invite a teammate, who registers through the link and joins as developer.
    mate_email = f"mate-{secrets.token_hex(4)}@example.com"
    before = len(mails(outbox))
    assert owner.post(f"{API}/members/invite", {"email": mate_email, "role": "developer"}, csrf=False).status_code == 403
    r = owner.post(f"{API}/members/invite", {"email": mate_email, "role": "developer"})
    assert r.status_code == 201 and r.json()["role"] == "developer", r.text
    invite_url = link(outbox, mate_email, "invite", after=before)
    info = httpx.get(f"{stack.metering_url}{API}/invitation", params={"token": token_of(invite_url)}, timeout=30).json()
    assert (info["org_name"], info["email"], info["role"], info["user_exists"]) == ("E2E Org", mate_email, "developer", False)
    mate_password = "mate password " + secrets.token_hex(4)
    r = post(stack, f"{API}/invitation/accept", {"token": token_of(invite_url), "password": mate_password, "name": "Mate"})
    assert r.status_code == 200, r.text
    mate = Session(stack.metering_url, r)
    secrets_seen += [mate_password, mate.token, token_of(invite_url)]
    mate_who = mate.get("/v1/whoami").json()
    assert (mate_who["account_id"], mate_who["role"]) == (registered["account_id"], "developer")
    listed = owner.get(f"{API}/members").json()["members"]
    assert sorted((m["email"], m["role"]) for m in listed) == sorted([(owner_email, "owner"), (mate_email, "developer")])
    # a developer may create keys but not invite
    assert mate.post("/v1/keys", {"name": "mate key"}).status_code == 201
    r = mate.post(f"{API}/members/invite", {"email": "x@example.com", "role": "viewer"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_forbidden"

    # Teams: create, add the teammate, see it on the member.
    team = owner.post(f"{API}/teams", {"name": "Research"}).json()
    mate_member = next(m for m in listed if m["email"] == mate_email)
    assert owner.post(f"{API}/teams/{team['team_id']}/members", {"member_id": mate_member["member_id"]}).status_code == 200
    assert mate.get(f"{API}/session").json()["session"]["team_ids"] == [team["team_id"]]

    # Log out: the session ends at once, the cookies are cleared.
    r = owner.post(f"{API}/logout")
    assert r.status_code == 200 and any("max-age=0" in c.lower() for c in r.headers.get_list("set-cookie"))
    assert owner.get("/v1/whoami").status_code == 401
    assert owner.get("/v1/account").status_code == 401


def test_login_throttling_answers_429_with_retry_after(stack, secrets_seen) -> None:
    email = f"throttle-{secrets.token_hex(4)}@example.com"
    sign_up(stack, email)
    codes = [post(stack, f"{API}/login", {"email": email, "password": "wrong password " + str(i)}).status_code for i in range(5)]
    assert codes == [401] * 5
    r = post(stack, f"{API}/login", {"email": email, "password": PASSWORD})  # even the right one, for now
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "login_throttled" and r.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(r.headers["retry-after"]) <= 900


def test_a_signed_in_user_accepts_an_invitation_and_switches_organisations(stack) -> None:
    outbox = stack.settings.outbox_path
    host = sign_up(stack, f"host-{secrets.token_hex(4)}@example.com")
    guest_email = f"guest-{secrets.token_hex(4)}@example.com"
    guest = sign_up(stack, guest_email)
    home = guest.get(f"{API}/session").json()["session"]
    before = len(mails(outbox))
    assert host.post(f"{API}/members/invite", {"email": guest_email, "role": "viewer"}).status_code == 201
    token = token_of(link(outbox, guest_email, "invite", after=before))
    assert httpx.get(f"{stack.metering_url}{API}/invitation", params={"token": token}, timeout=30).json()["user_exists"]
    assert guest.post(f"{API}/invitation/accept", {"token": token}, csrf=False).status_code == 403  # the cookie session needs CSRF
    r = guest.post(f"{API}/invitation/accept", {"token": token})  # as the signed-in user: no password asked
    assert r.status_code == 200, r.text
    joined = Session(stack.metering_url, r)
    there = joined.get(f"{API}/session").json()["session"]
    assert (there["user_id"], there["role"]) == (home["user_id"], "viewer") and there["org_id"] != home["org_id"]
    orgs = joined.get(f"{API}/orgs").json()["orgs"]
    assert sorted(o["role"] for o in orgs) == ["owner", "viewer"]
    r = joined.post(f"{API}/switch", {"org_id": home["org_id"]})
    assert r.status_code == 200, r.text
    back = Session(stack.metering_url, r)
    assert back.get("/v1/whoami").json()["account_id"] == home["account_id"]
    assert joined.get("/v1/whoami").status_code == 401  # switching ended the previous session


def test_free_quota_once_per_verified_email(stack) -> None:
    email = f"again-{secrets.token_hex(4)}@example.com"
    first = sign_up(stack, email)
    assert first.get("/v1/account").json()["balance_micros"] == FREE
    assert first.post(f"{API}/user/delete").status_code == 200
    assert first.get("/v1/whoami").status_code == 401
    before = len(mails(stack.settings.outbox_path))
    again = post(stack, f"{API}/register", {"email": email, "password": PASSWORD})
    assert again.status_code == 201, again.text
    token = token_of(link(stack.settings.outbox_path, email, "verify", after=before))
    assert post(stack, f"{API}/verify", {"token": token}).json()["free_quota_micros"] == 0
    second = Session(stack.metering_url, post(stack, f"{API}/login", {"email": email, "password": PASSWORD}))
    account = second.get("/v1/account").json()
    assert account["account_id"] == again.json()["account_id"] and account["balance_micros"] == 0


def test_admin_lists_orgs_and_users(stack) -> None:
    email = f"listed-{secrets.token_hex(4)}@example.com"
    me = sign_up(stack, email).get(f"{API}/session").json()["session"]
    headers = stack.admin_headers
    users = httpx.get(f"{stack.metering_url}{API}/admin/users", params={"org_id": me["org_id"]}, headers=headers, timeout=30).json()
    assert [(u["email"], u["memberships"][0]["role"]) for u in users["users"]] == [(email, "owner")]
    orgs = httpx.get(f"{stack.metering_url}{API}/admin/orgs", params={"limit": 1000}, headers=headers, timeout=30).json()["orgs"]
    assert me["org_id"] in {o["org_id"] for o in orgs}
    owner = httpx.get(f"{stack.metering_url}{API}/admin/accounts/{me['account_id']}/org", headers=headers, timeout=30).json()
    assert owner["org_id"] == me["org_id"]
    r = httpx.get(f"{stack.metering_url}{API}/admin/orgs", timeout=30)
    assert r.status_code == 403 and r.json()["error"]["code"] == "admin_required"


def test_bad_input_gets_clear_errors(stack) -> None:
    r = post(stack, f"{API}/register", {"email": "nope", "password": PASSWORD})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_email"
    r = post(stack, f"{API}/register", {"email": "a@example.com", "password": "short"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "weak_password"
    r = httpx.post(f"{stack.metering_url}{API}/login", content=b"{not json", timeout=30)
    assert r.status_code == 400 and "invalid JSON" in r.json()["error"]["message"]
    r = post(stack, f"{API}/login", {"email": "a@example.com", "password": "x", "extra": 1})
    assert r.status_code == 400
    assert httpx.get(f"{stack.metering_url}{API}/members", timeout=30).json()["error"]["code"] == "not_signed_in"
    r = httpx.get(f"{stack.metering_url}/v1/whoami", headers={"cookie": f"{identity.SESSION_COOKIE}=tgs_{'x' * 43}"}, timeout=30)
    assert r.status_code == 401 and r.json()["error"]["code"] == "session_expired"


def _follow_sso(stack, org_id: str) -> tuple[httpx.Response, str]:
    """The browser's hops: start (verifier cookie) -> the provider -> the callback. Returns the callback's answer and its URL."""
    start = httpx.get(f"{stack.metering_url}{API}/oidc/start", params={"org_id": org_id}, timeout=30)
    assert start.status_code in (302, 303, 307), start.text
    verifier_cookie = next(c for c in start.headers.get_list("set-cookie") if c.startswith("tollgate_oidc="))
    assert "httponly" in verifier_cookie.lower() and f"path={API}/oidc" in verifier_cookie.lower()
    verifier = verifier_cookie.split("=", 1)[1].split(";", 1)[0]
    at_provider = httpx.get(start.headers["location"], timeout=30)
    assert at_provider.status_code == 302
    callback_url = at_provider.headers["location"]
    assert callback_url.startswith(f"{stack.metering_url}{API}/oidc/callback?")
    done = httpx.get(callback_url, headers={"cookie": f"tollgate_oidc={verifier}"}, timeout=30)
    return done, callback_url


def test_oidc_sign_in_for_an_organisation(stack, secrets_seen) -> None:
    from tests.fake_oidc import FakeOidcProvider

    provider = FakeOidcProvider(user={"sub": "u-42", "email": f"sso-{secrets.token_hex(3)}@corp.example", "email_verified": True})
    provider.start()
    try:
        owner = sign_up(stack, f"sso-owner-{secrets.token_hex(3)}@example.com")
        org_id = owner.get(f"{API}/session").json()["session"]["org_id"]
        r = owner.post(f"{API}/org/oidc", {"issuer": provider.issuer, "client_id": provider.client_id, "email_domain": "corp.example"})
        assert r.status_code == 200 and r.json()["oidc_issuer"] == provider.issuer, r.text

        done, callback_url = _follow_sso(stack, org_id)
        assert done.status_code in (302, 303, 307) and done.headers["location"] == "/dashboard", done.headers
        sso = Session(stack.metering_url, done)
        who = sso.get(f"{API}/session").json()["session"]
        assert (who["email"], who["org_id"], who["role"], who["via"]) == (provider.user["email"], org_id, "developer", "oidc")
        assert sso.get("/v1/whoami").json()["account_id"] == owner.get("/v1/whoami").json()["account_id"]
        secrets_seen.append(sso.token)

        replay = httpx.get(callback_url, timeout=30)  # the state is used up (and there is no verifier cookie)
        assert replay.headers["location"].startswith("/console/login?sso_error=")
        provider.tamper = "nonce"
        bad, _ = _follow_sso(stack, org_id)
        assert bad.headers["location"].startswith("/console/login?sso_error=") and "nonce" in bad.headers["location"]
        provider.tamper = ""
        provider.user = provider.user | {"email": "intruder@elsewhere.example"}
        other, _ = _follow_sso(stack, org_id)
        assert "corp.example" in httpx.URL(other.headers["location"]).params["sso_error"]
        # an organisation without single sign-on
        r = httpx.get(f"{stack.metering_url}{API}/oidc/start", params={"org_id": "org_nope"}, timeout=30)
        assert r.headers["location"].startswith("/console/login?sso_error=")
    finally:
        provider.stop()


def test_no_password_or_token_in_logs_or_database(stack, secrets_seen) -> None:
    """The canary check for identity: every password, session/CSRF token and mailed token the
    tests above used appears in no service log and in no accounts database file (only the
    outbox holds mailed links: a mail is how the link reaches its owner)."""
    assert len(secrets_seen) >= 7, "run with the tests above"
    data: Path = stack.data_dir
    files = [p for p in (data / "logs").glob("*.log")] + [p for p in data.glob("accounts.sqlite3*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files) and any(p.name.startswith("accounts.sqlite3") for p in files)
    contents = {p.name: p.read_bytes() for p in files}
    for value in secrets_seen:
        leaks = [name for name, blob in contents.items() if value.encode() in blob]
        assert not leaks, f"a secret ({value[:4]}…) was found in {leaks}"
