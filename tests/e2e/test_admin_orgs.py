"""The admin console's Organisations & users and Suspensions pages in headless Chromium: the
admin finds a newly registered organisation, lists its users, suspends it (its account: every
key of the organisation is refused, a suspension record with the admin's reason) and sees the
record under Suspensions with the organisation's name; the owner asks for reactivation and the
admin's approval serves the key again."""

from __future__ import annotations

import secrets

import httpx
import openai

from tests.e2e.identity_util import Session, link, token_of
from tests.e2e.test_console import nav_entries
from tests.e2e.test_dashboard import ARTIFACTS, Page, browser, eventually
from tests.e2e.test_risk import console
from tollgate.rpc import accounts_pb2 as pb

__all__ = ["browser"]
API = "/console/api/identity"


def test_the_admin_suspends_an_organisation_from_the_admin_console(stack, accounts, admin_token, browser) -> None:
    base, outbox, tag = stack.metering_url, stack.settings.outbox_path, secrets.token_hex(3)
    email, org_name, password = f"orgs-{tag}@example.com", f"Suspendable {tag}", "orgs password " + tag
    assert (
        httpx.post(f"{base}{API}/register", json={"email": email, "password": password, "org_name": org_name}, timeout=30).status_code
        == 201
    )
    assert httpx.post(f"{base}{API}/verify", json={"token": token_of(link(outbox, email, "verify"))}, timeout=30).status_code == 200
    owner = Session(base, httpx.post(f"{base}{API}/login", json={"email": email, "password": password}, timeout=30))
    account_id = owner.get("/v1/whoami").json()["account_id"]
    key = accounts.CreateKey(pb.CreateKeyRequest(account_id=account_id, name="org-key", rpm_limit=-1)).secret
    client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
    client.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": "hi"}], max_tokens=5)

    page = Page(browser)
    page.sign_in(f"{base}/dashboard", admin_token)
    assert {"admin-orgs", "admin-suspensions", "admin-risk"} <= set(nav_entries(page))
    page.nav("admin-orgs")
    page.find("orgs-filter").send_keys(org_name)
    page.wait(lambda: [r[0] for r in page.rows("orgs-table")] == [org_name])
    row = page.rows("orgs-table")[0]
    assert row[2] == account_id and row[3] == "active" and row[1].startswith("org_")
    button = f'#orgs-table tr[data-account-id="{account_id}"] button'
    page.driver.find_element(page.By.CSS_SELECTOR, f"{button}[data-users]").click()
    page.wait(lambda: page.rows("org-users-table") and page.rows("org-users-table")[0][0] == email)
    assert page.rows("org-users-table")[0][2:4] == ["yes", "owner"]

    page.driver.find_element(page.By.CSS_SELECTOR, f"{button}[data-suspend]").click()  # no reason yet: refused on the page
    page.wait(lambda: "reason" in page.text("banner"))
    page.find("orgs-reason").send_keys("chargeback under review")
    page.driver.find_element(page.By.CSS_SELECTOR, f"{button}[data-suspend]").click()
    page.wait(lambda: page.rows("orgs-table") and page.rows("orgs-table")[0][3].startswith("suspended"))
    assert "chargeback under review" in page.rows("orgs-table")[0][3]
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "admin-orgs.png"))

    def refused() -> bool:
        try:
            client.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": "hi"}], max_tokens=5)
        except openai.PermissionDeniedError as err:
            return err.body["code"] == "account_suspended"
        return False

    assert eventually(refused, 5.0)

    page.nav("admin-suspensions")
    page.wait(lambda: any(r[2] == account_id for r in page.rows("suspensions-table")))
    mine = [r for r in page.rows("suspensions-table") if r[2] == account_id]
    assert [(r[1], r[4], r[5]) for r in mine] == [(org_name, "suspend", "chargeback under review")]
    browser.save_screenshot(str(ARTIFACTS / "admin-suspensions.png"))

    # the owner asks (console session), the admin approves: served again
    asked = owner.post("/console/api/risk/reactivation", {"message": "The chargeback was withdrawn."})
    assert asked.status_code == 201, asked.text
    approved = console(stack, "POST", f"/console/api/risk/reactivations/{asked.json()['id']}/decide", admin_token, json={"approve": True})
    assert approved.status_code == 200, approved.text
    assert eventually(lambda: not refused(), 5.0)
