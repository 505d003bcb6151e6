"""The risk console page in headless Chromium: a suspended user sees why, files a
reactivation request and opens a ticket whose diagnostics show; the admin sees the queue
and the records, and reactivates from the page; then the API serves the user again.
A screenshot of each side goes to tests/artifacts/risk-user.png and risk-admin.png."""

from __future__ import annotations

import httpx
import openai

from tests.e2e.test_dashboard import ARTIFACTS, Page, browser  # noqa: F401 (the browser fixture)
from tests.e2e.test_risk import ask, burst_until_refused, eventually, risk, rules  # noqa: F401 (fixtures)


def test_a_suspended_user_asks_for_reactivation_and_the_admin_grants_it_from_the_page(stack, new_account, admin_token, rules, browser):  # noqa: F811
    url = f"{stack.metering_url}/console/risk"
    served = httpx.get(url, timeout=10)
    assert served.status_code == 200 and "risk.js" in served.text and "script-src 'self'" in served.headers["content-security-policy"]

    account_id, key = new_account(name="risk-console")
    client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
    request_id = client.chat.completions.with_raw_response.create(
        model="sim-1", messages=[{"role": "user", "content": "hello"}], max_tokens=5
    ).headers["x-request-id"]
    burst_until_refused(client, "account_suspended")

    page = Page(browser)
    page.sign_in(url, key, forget_at=f"{stack.metering_url}/healthz")
    assert page.text("who") == account_id and page.text("banner") == ""
    assert page.text("standing-status") == "suspended" and "sensitive-burst" in page.text("standing-reason")
    assert [r[3] for r in page.rows("records")] == ["suspend"]
    page.find("reactivation-message").send_keys("A translation job looped on the wrong model; it is fixed.")
    page.find("reactivation-submit").click()
    page.wait(lambda: not page.find("reactivation-open").get_attribute("hidden"))
    assert "waiting for an operator" in page.text("reactivation-open")
    assert [r[3] for r in page.rows("my-requests")] == ["pending"]

    page.find("ticket-subject").send_keys("Why was I suspended?")
    page.find("ticket-requests").send_keys(request_id)
    page.find("ticket-submit").click()
    page.wait(lambda: len(page.rows("tickets")) == 1 and page.rows("diagnostics"))
    page.wait(lambda: page.rows("diagnostics")[0][3] == "sim-primary", timeout=15)  # the channel, once its metadata is kept
    assert page.rows("diagnostics")[0][0] == request_id and page.rows("diagnostics")[0][4] == "200"
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "risk-user.png"))

    page.sign_in(url, admin_token, forget_at=f"{stack.metering_url}/healthz")
    assert page.text("who") == "admin"
    queue = {row[1]: row for row in page.rows("queue")}
    assert account_id in queue and "sensitive-burst" in queue[account_id][2]
    assert any(r[1] == account_id and r[3] == "suspend" for r in page.rows("records"))
    assert [r[0] for r in page.rows("rules")] == ["sensitive-burst", "key-guessing"]
    browser.save_screenshot(str(ARTIFACTS / "risk-admin.png"))
    button = page.driver.find_element(page.By.CSS_SELECTOR, f'#queue tr[data-account="{account_id}"] button[data-approve]')
    button.click()
    page.wait(lambda: account_id not in {row[1] for row in page.rows("queue")})
    assert page.text("banner") == ""

    def served_again() -> bool:
        try:
            return bool(ask(client, model="sim-1").choices)
        except openai.PermissionDeniedError:
            return False

    assert eventually(served_again, 3.0), "the admin's reactivation did not reach the edge"
    assert not [e for e in page.errors() if "favicon" not in e]
