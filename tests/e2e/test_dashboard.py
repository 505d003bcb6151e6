"""The dashboard in headless Chromium (Debian's chromium and chromedriver, driven by
Selenium) against the running stack: real traffic, then the page's figures checked against
metering's JSON API, keys created, rotated and revoked from the page, and a screenshot in
tests/artifacts/dashboard.png."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import httpx
import openai
import pytest

from tollgate.rpc import accounts_pb2 as pb

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1440,1000",
)
FAILING_MODEL = "openai-openai-error-400"  # a channel of its own that answers 400 (says nothing about channel health)


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium; skipped, with the reason, only when none is installed."""
    binary = next((path for path in CHROMIUM if Path(path).exists()), None) or shutil.which("chromium")
    driver_path = CHROMEDRIVER if Path(CHROMEDRIVER).exists() else shutil.which("chromedriver")
    if not binary or not driver_path:
        pytest.skip("no headless browser: Debian's chromium and chromium-driver are not installed (`make browser` installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.TemporaryDirectory(prefix="tollgate-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile.name}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()
        profile.cleanup()


# -- helpers ---------------------------------------------------------------------------


def api(stack, path: str, credential: str, **params) -> dict:
    response = httpx.get(f"{stack.metering_url}{path}", params=params, headers={"authorization": f"Bearer {credential}"}, timeout=30)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    return response.json()


def usd(micros: int) -> str:
    """The page's money format (dashboard/static/api.js)."""
    return f"{'-' if micros < 0 else ''}${abs(micros) / 1e6:.6f}"


def eventually(check, timeout: float = 15.0, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        else:
            if result is not False:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout}s: {check}")
        time.sleep(step)


def send_traffic(stack, key: str) -> tuple[list[str], str]:
    """Seven successful requests over three models and upstream protocols (one streamed),
    and one that the upstream refuses with a 400: their request ids."""
    client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
    ok = []
    for model, stream in (
        ("sim-1", False),
        ("sim-1", False),
        ("sim-1", True),
        ("contract-anthropic", False),
        ("contract-anthropic", True),
        ("contract-gemini", False),
        ("contract-gemini", False),
    ):
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": "Hello from the dashboard test"}], max_tokens=8, stream=stream
        )
        if stream:
            for _ in raw.parse():
                pass
        ok.append(raw.headers["x-request-id"])
    with pytest.raises(openai.BadRequestError) as failed:
        client.chat.completions.create(model=FAILING_MODEL, messages=[{"role": "user", "content": "Hello"}], max_tokens=8)
    return ok, failed.value.response.headers["x-request-id"]


def wait_until_settled(stack, accounts, account_id: str, key: str, requests: int) -> dict:
    """Until metering holds every request and the ledger has debited their whole cost."""

    def settled():
        rows = api(stack, "/v1/usage", key, bucket="none")["data"]
        assert rows and rows[0]["requests"] >= requests, rows
        entries = accounts.ListLedger(pb.ListLedgerRequest(account_id=account_id, limit=1000)).entries
        debited = -sum(e.amount_micros for e in entries if e.kind == "usage")
        assert debited == rows[0]["cost_micros"], (debited, rows[0]["cost_micros"])
        return rows[0]

    return eventually(settled, timeout=30)


class Page:
    """The dashboard as a person sees it: element texts by id and table rows."""

    def __init__(self, driver):
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select, WebDriverWait

        self.driver, self.By, self.Select, self.Wait = driver, By, Select, WebDriverWait
        self.stale = StaleElementReferenceException

    def wait(self, condition, timeout: float = 20.0):
        """Until ``condition()`` is true (an element replaced while read counts as not yet)."""
        return self.Wait(self.driver, timeout, poll_frequency=0.1, ignored_exceptions=(self.stale,)).until(lambda _d: condition())

    def find(self, element_id: str):
        return self.driver.find_element(self.By.ID, element_id)

    def text(self, element_id: str) -> str:
        return self.find(element_id).text.strip()

    def state(self) -> str:
        return self.driver.find_element(self.By.TAG_NAME, "body").get_attribute("data-state") or ""

    def rows(self, table_id: str) -> list[list[str]]:
        """The rendered cell texts (read in one script: panels replace their rows when they reload)."""
        script = "return [...document.querySelectorAll(arguments[0])].map(tr => [...tr.cells].map(td => td.innerText.trim()))"
        return self.driver.execute_script(script, f"#{table_id} tbody tr:not(.empty)")

    def attrs(self, table_id: str, name: str) -> list[str]:
        script = "return [...document.querySelectorAll(arguments[0])].map(tr => tr.getAttribute(arguments[1]))"
        return self.driver.execute_script(script, f"#{table_id} tbody tr[{name}]", name)

    def key_row(self, key_id: str):
        return self.driver.find_element(self.By.CSS_SELECTOR, f'#keys-table tr[data-key-id="{key_id}"]')

    def key_state(self, key_id: str) -> str | None:
        script = "const tr = document.querySelector(`#keys-table tr[data-key-id='${arguments[0]}']`); return tr && tr.dataset.state"
        return self.driver.execute_script(script, key_id)

    def click_twice(self, key_id: str, label: str) -> None:
        """A key's Rotate/Revoke button asks once more: click, then confirm."""
        button = self.key_row(key_id).find_element(self.By.XPATH, f".//button[starts-with(normalize-space(.), '{label}')]")
        button.click()
        self.wait(lambda: "Confirm" in button.text)
        button.click()

    def select(self, element_id: str, value: str) -> None:
        self.Select(self.find(element_id)).select_by_value(value)

    def nav(self, slot: str) -> None:
        """Open a console page from the navigation."""
        self.find(f"nav-{slot}").click()
        self.wait(lambda: self.driver.find_element(self.By.TAG_NAME, "body").get_attribute("data-page") == slot and self.state() == "ready")

    def sign_in(self, url: str, credential: str, forget_at: str = "") -> None:
        """Sign in afresh at ``url`` (the dashboard or a console page) with a key or the admin token:
        the last sign-in (kept in sessionStorage) is forgotten first, on the current page or, with
        ``forget_at``, on that page of the same origin (one that runs no script: on a console page, the
        old credential's requests could still be in flight and fail once it is gone)."""
        from selenium.webdriver.common.keys import Keys

        if forget_at:
            self.driver.get(forget_at)
        self.driver.execute_script("try { sessionStorage.clear() } catch (e) {}")  # a new browser's blank page has none
        self.driver.get(url)
        self.wait(lambda: self.state() == "signed-out")
        self.find("credential").send_keys(credential, Keys.ENTER)
        self.wait(lambda: self.state() == "ready")

    def errors(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]


# -- the test ----------------------------------------------------------------------------


def test_dashboard_shows_the_api_figures_and_manages_keys(stack, new_account, accounts, admin_token, browser):
    from selenium.webdriver.common.keys import Keys

    page_url = f"{stack.metering_url}/dashboard"
    served = httpx.get(page_url, timeout=10)
    assert served.status_code == 200 and "plotly.min.js" in served.text, f"metering does not serve the dashboard ({served.status_code})"
    assert "script-src 'self'" in served.headers["content-security-policy"]
    assert (
        httpx.get(f"{stack.metering_url}/dashboard/static/plotly.min.js", timeout=10).headers["content-type"].startswith("text/javascript")
    )
    assert httpx.get(f"{stack.metering_url}/dashboard/static/__init__.py", timeout=10).status_code == 404  # only the page's own files

    account_id, key = new_account(balance_micros=5_000_000, name="dashboard")
    ok_ids, failed_id = send_traffic(stack, key)
    totals = wait_until_settled(stack, accounts, account_id, key, requests=len(ok_ids) + 1)
    assert totals["requests"] == len(ok_ids) + 1 and totals["errors"] == 1 and totals["cost_micros"] > 0

    page = Page(browser)
    browser.get(page_url)
    page.wait(lambda: page.state() == "signed-out")
    page.find("credential").send_keys("sk-" + "0" * 48)
    page.find("signin-button").click()
    page.wait(lambda: page.text("signin-error").startswith("Not accepted"))
    page.errors()  # drops the console's report of that 401
    page.find("credential").clear()
    page.find("credential").send_keys(key, Keys.ENTER)
    page.wait(lambda: page.state() == "ready")
    assert page.text("banner") == ""
    assert page.text("who") == account_id

    # The cards and the per-model table: the same figures as /v1/usage.
    assert page.text("stat-requests") == f"{totals['requests']:,}"
    assert page.text("stat-errors") == "1"
    assert page.text("stat-tokens") == f"{totals['prompt_tokens'] + totals['completion_tokens']:,}"
    assert page.text("stat-cost") == usd(totals["cost_micros"])
    by_model = {r["model"]: r for r in api(stack, "/v1/usage", key, bucket="none", group_by="model")["data"]}
    assert set(by_model) == {"sim-1", "contract-anthropic", "contract-gemini", FAILING_MODEL}
    shown = {row[0]: row for row in page.rows("models-table")}
    assert set(shown) == set(by_model)
    for model, row in by_model.items():
        assert shown[model][1:5] == [
            str(row["requests"]),
            str(row["errors"]),
            f"{row['prompt_tokens'] + row['completion_tokens']:,}",
            usd(row["cost_micros"]),
        ]
    # The charts drew Plotly figures (one trace per model, the same sums per model).
    usage_traces = browser.execute_script(
        "return document.getElementById('chart-usage').data.map(t => [t.name, t.y.reduce((a, b) => a + b, 0)])"
    )
    assert {name: total for name, total in usage_traces} == {m: r["requests"] for m, r in by_model.items()}
    cost_traces = browser.execute_script(
        "return document.getElementById('chart-cost').data.map(t => [t.name, t.y.reduce((a, b) => a + b, 0)])"
    )
    assert {name: round(total * 1e6) for name, total in cost_traces} == {m: r["cost_micros"] for m, r in by_model.items()}
    assert browser.execute_script("return document.getElementById('chart-latency').data.length") == 6

    # Balance, statement and ledger: the accounts service's and metering's figures.
    account = accounts.GetAccount(pb.GetAccountRequest(account_id=account_id))
    stat_balance = page.text("stat-balance")
    page.nav("billing")
    assert stat_balance == page.text("balance") == usd(account.balance_micros) == usd(5_000_000 - totals["cost_micros"])
    statement = api(stack, "/v1/statement", key)
    assert page.text("statement-total") == usd(statement["total_cost_micros"]) == usd(totals["cost_micros"])
    ledger = accounts.ListLedger(pb.ListLedgerRequest(account_id=account_id, limit=20)).entries
    assert [int(i) for i in page.attrs("ledger-table", "data-entry-id")] == [e.id for e in ledger]
    assert [row[3] for row in page.rows("ledger-table")] == [usd(e.amount_micros) for e in ledger]

    page.nav("statistics")

    # Rankings: the table is /v1/rankings (global, so compared on a fresh read until both agree).
    def rankings_match():
        ranked = api(stack, "/v1/rankings", key, window="7d", by="tokens")["models"]
        expected = [[str(i + 1), m["model"], f"{m['tokens']:,}", f"{m['requests']:,}", f"{m['accounts']:,}"] for i, m in enumerate(ranked)]
        if [row[:5] for row in page.rows("rankings-models")] == expected:  # then units beyond tokens (test_dashboard_units.py)
            return True
        page.select("rank-by", "requests")
        page.select("rank-by", "tokens")  # reloads the table
        return False

    eventually(rankings_match)
    assert "sim-1" in [row[1] for row in page.rows("rankings-models")]

    # The request log: newest first, the API's rows; filters by status, model and key.
    log = api(stack, "/v1/requests", key, limit=50)["data"]
    assert page.attrs("requests-table", "data-request-id") == [r["request_id"] for r in log]
    assert set(page.attrs("requests-table", "data-request-id")) == {*ok_ids, failed_id}
    page.select("filter-status", "400")
    page.wait(lambda: page.attrs("requests-table", "data-request-id") == [failed_id])
    page.select("filter-status", "")
    page.find("filter-model").send_keys("sim-1", Keys.ENTER)
    page.wait(lambda: set(page.attrs("requests-table", "data-request-id")) == set(ok_ids[:3]))
    page.find("filter-model").clear()
    key_id = accounts.ListKeys(pb.ListKeysRequest(account_id=account_id)).keys[0].key_id
    page.select("filter-key", key_id)
    page.wait(lambda: len(page.attrs("requests-table", "data-request-id")) == len(ok_ids) + 1)
    # One request's metadata, as GET /v1/requests/{id} has it.
    one = api(stack, f"/v1/requests/{ok_ids[0]}", key)
    browser.find_element(page.By.CSS_SELECTOR, f'#requests-table tr[data-request-id="{ok_ids[0]}"]').click()
    page.wait(lambda: page.find("request-detail").is_displayed())
    detail = {dd.get_attribute("data-field"): dd.text for dd in browser.find_elements(page.By.CSS_SELECTOR, "#request-detail dd")}
    assert detail["request_id"] == ok_ids[0] and detail["model_served"] == one["model_served"] == "sim-1"
    assert detail["cost_micros"] == usd(one["cost_micros"]) and detail["prompt_tokens"] == f"{one['prompt_tokens']:,}"

    # Keys: create one from the page, rotate it, revoke the replacement.
    page.nav("tokens")
    page.find("new-key-name").send_keys("from-dashboard")
    page.find("create-key-button").click()
    page.wait(lambda: page.find("secret-box").is_displayed())
    secret = page.text("new-key-secret")
    assert secret.startswith("sk-")
    created = next(k for k in accounts.ListKeys(pb.ListKeysRequest(account_id=account_id)).keys if k.name == "from-dashboard")
    assert api(stack, "/v1/whoami", secret) == {"admin": False, "account_id": account_id}
    page.wait(lambda: page.key_state(created.key_id) == "active")
    page.select("rotate-grace", "-1")
    page.click_twice(created.key_id, "Rotate")
    page.wait(lambda: page.text("new-key-secret") not in ("", secret))
    replacement_secret = page.text("new-key-secret")
    keys = {k.key_id: k for k in accounts.ListKeys(pb.ListKeysRequest(account_id=account_id)).keys}
    replacement = next(k for k in keys.values() if k.name == "from-dashboard" and k.key_id != created.key_id)
    assert replacement.prefix == replacement_secret[:10] and keys[created.key_id].expires_at_ms > 0
    page.wait(lambda: page.key_state(created.key_id) in ("expired", "expiring"))
    page.click_twice(replacement.key_id, "Revoke")
    page.wait(lambda: page.key_state(replacement.key_id) == "revoked")
    revoked = {k.key_id: k for k in accounts.ListKeys(pb.ListKeysRequest(account_id=account_id)).keys}[replacement.key_id]
    assert revoked.revoked_at_ms > 0
    assert (
        httpx.get(f"{stack.metering_url}/v1/keys", headers={"authorization": f"Bearer {replacement_secret}"}, timeout=10).status_code == 401
    )
    page.find("dismiss-secret").click()
    assert page.text("new-key-secret") == ""

    # The screenshot: the statistics page, filters cleared, after a fresh load of every panel.
    page.nav("statistics")
    page.select("filter-key", "")
    page.find("refresh").click()
    page.wait(lambda: page.state() == "ready")
    for _ in range(3):  # the charts redraw at the new size, which may change the height again
        height = browser.execute_script("return document.documentElement.scrollHeight")
        if browser.execute_script("return window.innerHeight") >= height:
            break
        browser.set_window_size(1440, min(height + 200, 8000))
        time.sleep(0.5)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 20_000
    assert page.errors() == [], page.errors()

    # The admin credential sees every account, then this one when picked.
    browser.execute_script("sessionStorage.clear()")
    browser.get(page_url)
    page.wait(lambda: page.state() == "signed-out")
    page.find("credential").send_keys(admin_token, Keys.ENTER)
    page.wait(lambda: page.state() == "ready")
    assert page.text("who") == "admin" and page.find("account-picker").is_displayed()
    page.select("account-select", account_id)
    page.wait(lambda: page.state() == "ready" and page.text("stat-requests") == f"{totals['requests']:,}")
    page.nav("billing")
    page.wait(lambda: page.text("balance") == usd(account.balance_micros))
    page.nav("tokens")
    assert {row[0] for row in page.rows("keys-table")} == {"k", "from-dashboard"}
