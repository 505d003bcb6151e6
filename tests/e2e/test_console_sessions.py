"""A console session (cookie) on the risk-control and budgets endpoints, through the running
stack: it acts on its organisation's account only, as its role allows (an owner asks for
reactivation and sets members' budgets; a developer reads them; the queue's decisions, manual
actions, rules and pricing groups stay the platform admin's), never on another account, and
unsafe calls need the CSRF header."""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests.e2e.identity_util import Session, link, token_of
from tests.e2e.test_risk import console

API = "/console/api/identity"


def org_with_developer(stack) -> tuple[Session, Session, str]:
    """(the owner's session, a developer's session, the organisation's account id)."""
    base, outbox, tag = stack.metering_url, stack.settings.outbox_path, secrets.token_hex(3)
    owner, mate, password = f"sess-owner-{tag}@example.com", f"sess-dev-{tag}@example.com", "session password " + tag
    assert httpx.post(f"{base}{API}/register", json={"email": owner, "password": password}, timeout=30).status_code == 201
    assert httpx.post(f"{base}{API}/verify", json={"token": token_of(link(outbox, owner, "verify"))}, timeout=30).status_code == 200
    owner_session = Session(base, httpx.post(f"{base}{API}/login", json={"email": owner, "password": password}, timeout=30))
    assert owner_session.post(f"{API}/members/invite", {"email": mate, "role": "developer"}).status_code == 201
    accepted = httpx.post(
        f"{base}{API}/invitation/accept", json={"token": token_of(link(outbox, mate, "invite")), "password": password}, timeout=30
    )
    who = owner_session.get("/v1/whoami").json()
    return owner_session, Session(base, accepted), who["account_id"]


def put(session: Session, path: str, body: dict, csrf: bool = True) -> httpx.Response:
    return httpx.put(f"{session.base}{path}", headers=session.headers(csrf), json=body, timeout=30)


@pytest.fixture(scope="module")
def org(stack):
    return org_with_developer(stack)


def test_risk_endpoints_for_a_session_are_its_own_account_and_role_checked(stack, org, new_account, admin_token) -> None:
    owner, developer, account_id = org
    other_account, _other_key = new_account(name="someone-else")
    warned = console(
        stack, "POST", "/console/api/risk/act", admin_token, json={"account_id": other_account, "action": "warn", "reason": "x"}
    )
    assert warned.status_code == 201, warned.text

    standing = owner.get("/console/api/risk/standing")
    assert standing.status_code == 200 and (standing.json()["account_id"], standing.json()["status"]) == (account_id, "active")
    assert developer.get("/console/api/risk/standing").json()["account_id"] == account_id
    # naming another account does not reach it: the session's own account is what is asked
    assert owner.get("/console/api/risk/records", params={"account_id": other_account}).json()["records"] == []
    assert owner.get("/console/api/risk/standing", params={"account_id": other_account}).json()["account_id"] == account_id

    for method, path in (
        ("POST", "/console/api/risk/reactivations/1/decide"),
        ("POST", "/console/api/risk/act"),
        ("GET", "/console/api/risk/rules"),
    ):
        body = {"approve": True} if path.endswith("decide") else {"account_id": account_id, "action": "warn", "reason": "x"}
        answer = owner.post(path, body) if method == "POST" else owner.get(path)
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "admin_required"), answer.text

    # suspended by the admin: the developer may not ask for reactivation, the owner may (with the CSRF header)
    suspended = console(
        stack, "POST", "/console/api/risk/act", admin_token, json={"account_id": account_id, "action": "suspend", "reason": "test"}
    )
    assert suspended.status_code == 201, suspended.text
    asked = {"message": "Please look again."}
    refused = developer.post("/console/api/risk/reactivation", asked)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "role_forbidden")
    no_csrf = owner.post("/console/api/risk/reactivation", asked, csrf=False)
    assert (no_csrf.status_code, no_csrf.json()["error"]["code"]) == (403, "csrf_failed")
    filed = owner.post("/console/api/risk/reactivation", asked)
    assert filed.status_code == 201 and filed.json()["account_id"] == account_id, filed.text
    mine = developer.get("/console/api/risk/reactivations").json()["requests"]
    assert [(r["id"], r["status"]) for r in mine] == [(filed.json()["id"], "pending")]
    decided = console(stack, "POST", f"/console/api/risk/reactivations/{filed.json()['id']}/decide", admin_token, json={"approve": True})
    assert decided.status_code == 200 and owner.get("/console/api/risk/standing").json()["status"] == "active"


def test_tickets_of_a_session_are_its_organisations(stack, org) -> None:
    owner, developer, account_id = org
    opened = developer.post("/console/api/tickets", {"subject": "slow answers"})
    assert opened.status_code == 201 and opened.json()["account_id"] == account_id, opened.text
    ticket_id = opened.json()["ticket_id"]
    assert owner.get(f"/console/api/tickets/{ticket_id}").json()["subject"] == "slow answers"
    assert ticket_id in [t["ticket_id"] for t in owner.get("/console/api/tickets").json()["tickets"]]

    stranger, _dev, _account = org_with_developer(stack)  # another organisation
    assert stranger.get(f"/console/api/tickets/{ticket_id}").status_code == 404
    assert stranger.post(f"/console/api/tickets/{ticket_id}/close").status_code == 404
    assert ticket_id not in [t["ticket_id"] for t in stranger.get("/console/api/tickets").json()["tickets"]]
    closed = owner.post(f"/console/api/tickets/{ticket_id}/close")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


def test_an_owner_sets_members_budgets_a_developer_reads_them(stack, org, new_account) -> None:
    owner, developer, account_id = org
    other_account, _key = new_account(name="not-theirs")
    dev_member = developer.get(f"{API}/session").json()["session"]["member_id"]
    body = {"account_id": other_account, "scope": "member", "subject_id": dev_member, "day_micros": 50_000}
    saved = put(owner, "/console/api/budgets", body)  # the account named is ignored: the session's own is used
    assert saved.status_code == 200, saved.text
    assert (saved.json()["account_id"], saved.json()["day_micros"]) == (account_id, 50_000)
    listed = developer.get("/console/api/budgets").json()["budgets"]
    assert [(b["scope"], b["subject_id"], b["day_micros"]) for b in listed] == [("member", dev_member, 50_000)]
    assert owner.get("/console/api/budgets", params={"account_id": other_account}).json()["budgets"] == listed

    refused = put(developer, "/console/api/budgets", {"scope": "member", "subject_id": dev_member, "day_micros": 10**9})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "role_forbidden")
    no_csrf = put(owner, "/console/api/budgets", {"scope": "member", "subject_id": dev_member}, csrf=False)
    assert (no_csrf.status_code, no_csrf.json()["error"]["code"]) == (403, "csrf_failed")
    group = put(owner, f"/console/api/accounts/{account_id}/group", {"group": "vip"})
    assert (group.status_code, group.json()["error"]["code"]) == (403, "admin_required")
    assert owner.get("/console/api/groups").json()["group"] == "default"
    removed = put(owner, "/console/api/budgets", {"scope": "member", "subject_id": dev_member})
    assert removed.status_code == 200 and developer.get("/console/api/budgets").json()["budgets"] == []


def test_redeeming_needs_a_billing_role_the_playground_a_developer(stack, org) -> None:
    owner, developer, _account_id = org
    refused = developer.post("/console/api/billing/redeem", {"code": "TGC-AAAA-BBBB-CCCC-DDDD-EEEE"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "role_forbidden")
    wrong = owner.post("/console/api/billing/redeem", {"code": "TGC-AAAA-BBBB-CCCC-DDDD-EEEE"})
    assert wrong.status_code == 400, wrong.text  # the owner may redeem: this code is just not valid
    models = developer.get("/console/api/playground/models")
    assert models.status_code == 200 and "sim-1" in str(models.json()), models.text
