"""The console in headless Chromium against the running stack: an admin mints a redemption
code, a user redeems it on the Billing page and sees the balance change, chats in the
Playground; an admin disables a channel on the Channels page and routing skips it, tests
channels, and enables it again. Screenshots in tests/artifacts/console-*.png."""

from __future__ import annotations

import grpc
import httpx
import openai

from tests.e2e.test_dashboard import ARTIFACTS, Page, browser, eventually, usd
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import router_pb2 as rpb
from tollgate.rpc import router_pb2_grpc as rpb_grpc

__all__ = ["browser"]  # the fixture, shared with the dashboard test


def nav_entries(page: Page) -> list[str]:
    return page.driver.execute_script("return [...document.querySelectorAll('#nav a')].filter(a => a.offsetParent).map(a => a.dataset.nav)")


def test_a_code_minted_by_the_admin_is_redeemed_on_the_billing_page(stack, new_account, accounts, admin_token, browser, tmp_path) -> None:
    url = f"{stack.metering_url}/dashboard"
    account_id, key = new_account(balance_micros=1_000_000, name="console-billing")
    page = Page(browser)

    # The admin mints a $3 code: shown once, listed as active.
    page.sign_in(url, admin_token)
    assert {"admin-codes", "admin-channels", "statistics", "billing"} <= set(nav_entries(page))
    page.nav("admin-codes")
    for field, value in (("codes-count", "1"), ("codes-amount", "3"), ("codes-days", "7")):
        page.find(field).clear()
        page.find(field).send_keys(value)
    page.find("codes-note").send_keys("browser test")
    page.find("codes-create").click()
    page.wait(lambda: page.find("codes-secrets").is_displayed())
    code = page.text("codes-secret-list")
    assert code.startswith("TGC-") and len(code) == 28
    page.wait(lambda: any(row[0] == f"{code[:8]}…" and row[2] == "active" for row in page.rows("codes-table")))

    # The Accounts page (a module the shell found by itself) opens an account's Billing page.
    page.nav("admin-accounts")
    page.find("accounts-filter").send_keys(account_id)
    page.wait(lambda: [r[1] for r in page.rows("accounts-table")] == [account_id])
    browser.find_element(page.By.CSS_SELECTOR, f'#accounts-table tr[data-account-id="{account_id}"] button').click()
    page.wait(lambda: browser.execute_script("return document.body.dataset.page") == "billing" and page.text("balance") == usd(1_000_000))
    assert page.find("account-select").get_attribute("value") == account_id

    # The user: the nav has no admin pages; Billing shows the balance; a wrong code is refused; the code redeems.
    page.sign_in(url, key)
    entries = nav_entries(page)
    assert entries[:3] == ["statistics", "tokens", "billing"] and "playground" in entries
    assert not any(e.startswith("admin-") for e in entries)
    page.nav("billing")
    page.wait(lambda: page.text("balance") == usd(1_000_000))
    page.find("redeem-code").send_keys("TGC-AAAA-BBBB-CCCC-DDDD-EEEE")
    page.find("redeem-button").click()
    page.wait(lambda: "not valid" in page.text("redeem-result"))
    page.find("redeem-code").clear()
    page.find("redeem-code").send_keys(code.lower())
    page.find("redeem-button").click()
    page.wait(lambda: page.text("redeem-result") == f"Redeemed {usd(3_000_000)}. Balance {usd(4_000_000)}.")
    page.wait(lambda: page.text("balance") == usd(4_000_000))
    assert accounts.GetAccount(pb.GetAccountRequest(account_id=account_id)).balance_micros == 4_000_000
    page.wait(lambda: page.rows("ledger-table") and page.rows("ledger-table")[0][2:4] == ["redemption", usd(3_000_000)])
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "console-billing.png"))

    # The statement as CSV, downloaded by the browser.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    page.find("statement-csv").click()
    month = page.find("statement-month").get_attribute("value")
    saved = eventually(lambda: (downloads / f"statement-{month}.csv").exists() and (downloads / f"statement-{month}.csv"))
    assert (
        saved.read_text()
        == httpx.get(
            f"{stack.metering_url}/v1/statement", params={"format": "csv", "month": month}, headers={"authorization": f"Bearer {key}"}
        ).text
    )

    # Tokens: a key created with limits.
    page.nav("tokens")
    browser.find_element(page.By.CSS_SELECTOR, "#new-key-limits summary").click()
    for field, value in (
        ("new-key-name", "limited"),
        ("new-key-models", "sim-1, console-*"),
        ("new-key-rpm", "30"),
        ("new-key-month-cap", "2.5"),
    ):
        page.find(field).send_keys(value)
    page.find("create-key-button").click()
    page.wait(lambda: page.find("secret-box").is_displayed())
    limited = next(k for k in accounts.ListKeys(pb.ListKeysRequest(account_id=account_id)).keys if k.name == "limited")
    assert (list(limited.allowed_models), limited.rpm_limit, limited.spend_cap_month_micros) == (["sim-1", "console-*"], 30, 2_500_000)
    page.wait(lambda: any(r[0].startswith("limited") and "30 RPM" in r[4] for r in page.rows("keys-table")))

    # The Playground: a streamed answer from the model, as this account.
    page.nav("playground")
    page.wait(lambda: "sim-1" in [o.get_attribute("value") for o in page.find("pg-model").find_elements(page.By.TAG_NAME, "option")])
    page.select("pg-model", "sim-1")
    page.find("pg-input").send_keys("Hello from the console playground")
    page.find("pg-send").click()
    answer = page.wait(lambda: browser.find_elements(page.By.CSS_SELECTOR, "#pg-log .msg.assistant[data-state]"))[-1]
    assert answer.get_attribute("data-state") == "done", answer.text
    assert answer.find_element(page.By.CLASS_NAME, "text").text.strip()
    request_id = answer.get_attribute("data-request-id")
    found = eventually(
        lambda: (
            (r := httpx.get(f"{stack.metering_url}/v1/requests/{request_id}", headers={"authorization": f"Bearer {key}"}, timeout=10))
            and r.status_code == 200
            and r.json()
        )
    )
    assert found["account_id"] == account_id and found["model_served"] == "sim-1"
    browser.save_screenshot(str(ARTIFACTS / "console-playground.png"))
    errors = page.errors()  # the browser reports the refused wrong code's 400, nothing else
    assert all("/console/api/billing/redeem" in e and "400" in e for e in errors), errors


def _set_enabled(stack, channel_id: str, enabled: bool) -> None:
    with grpc.insecure_channel(stack.settings.router_addr) as ch:
        rpb_grpc.RouterStub(ch).SetChannelEnabled(rpb.SetChannelEnabledRequest(channel_id=channel_id, enabled=enabled, reason="test"))


def served_by(client: openai.OpenAI, n: int = 6) -> set[str]:
    channels = set()
    for _ in range(n):
        raw = client.chat.completions.with_raw_response.create(
            model="console-two", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
        channels.add(raw.headers["x-tollgate-channel"])
    return channels


def test_an_admin_disables_a_channel_and_routing_skips_it(stack, new_account, admin_token, browser) -> None:
    url = f"{stack.metering_url}/dashboard"
    account_id, key = new_account(balance_micros=5_000_000, name="console-channels")
    client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
    assert served_by(client) == {"console-a"}  # the higher priority
    page = Page(browser)

    def row(channel: str) -> list[str]:
        return next(r for r in page.rows("channels-table") if r[0] == channel)

    def click(channel: str, label: str) -> None:
        tr = browser.find_element(page.By.CSS_SELECTOR, f'#channels-table tr[data-channel="{channel}"]')
        tr.find_element(page.By.XPATH, f".//button[normalize-space(.)='{label}']").click()

    try:
        page.sign_in(url, admin_token)
        page.select("account-select", account_id)  # the test requests are billed to it
        page.wait(lambda: page.state() == "ready")
        page.nav("admin-models")  # the catalog: console-two on both channels, at its catalog price
        page.wait(lambda: any(r[0] == "console-two" for r in page.rows("models-catalog")))
        catalog = next(r for r in page.rows("models-catalog") if r[0] == "console-two")
        assert catalog[2:4] == [usd(3_000_000), usd(7_000_000)] and "console-a (closed)" in catalog[7] and "console-b" in catalog[7]
        page.nav("admin-channels")
        page.wait(lambda: row("console-a")[2] in ("closed", "half_open"))
        page.find("channel-reason").send_keys("maintenance window")
        click("console-a", "Disable")
        page.wait(lambda: row("console-a")[2] == "disabled" and row("console-a")[7] == "maintenance window")
        eventually(lambda: served_by(client) == {"console-b"}, timeout=15)

        click("console-b", "Test")
        page.wait(lambda: page.find("channel-test").get_attribute("data-state") == "ok")
        assert "console-b answered console-two" in page.text("channel-test")
        click("console-a", "Test")  # out of routing: the pinned request finds no channel
        page.wait(lambda: page.find("channel-test").get_attribute("data-state") == "failed")
        assert "503" in page.text("channel-test")
        browser.save_screenshot(str(ARTIFACTS / "console-channels.png"))

        click("console-a", "Enable")
        page.wait(lambda: row("console-a")[2] != "disabled")
        eventually(lambda: served_by(client) == {"console-a"}, timeout=15)
    finally:
        _set_enabled(stack, "console-a", True)
    # A user key cannot reach the admin's channel endpoints.
    listed = httpx.get(f"{stack.metering_url}/console/api/admin/channels", headers={"authorization": f"Bearer {key}"}, timeout=10)
    assert listed.status_code == 403
