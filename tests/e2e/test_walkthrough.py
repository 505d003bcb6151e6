"""Issue 17's "Done when": a new person walks through the product in headless Chromium, in the
console's pages wherever they offer it, with three people in three browsers of their own.

register -> verify (the outbox's link) -> log in -> create a key (Tokens) -> the openai SDK
with that key -> the request in Statistics -> redeem a code the admin minted in the admin
console (Billing) -> invite a teammate who joins as developer (Members & roles) -> the owner
sets the teammate's member budget (Members & roles) and the teammate's own key, created in
their own session, is stopped with 402 -> synthetic traffic on a high-sensitivity model trips
a risk rule that suspends the organisation's account -> the owner files a reactivation
request (Tickets -> risk & tickets page) -> the admin reactivates from the risk queue -> the
owner's key works again. Screenshots in tests/artifacts/walkthrough-*.png."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.conftest import contract_catalog, stack_env
from tests.e2e.identity_util import link, mails
from tests.e2e.test_dashboard import ARTIFACTS, CHROME_FLAGS, CHROMEDRIVER, CHROMIUM, Page, usd
from tests.e2e.test_risk import eventually
from tools.stack import Ports, Stack

SENSITIVE = "sim-sensitive"  # sensitivity = "high" in tests/data/catalog.toml
THRESHOLD = 5
RULES = f"""
[deactivation]
records = 5
period_s = 3600

[[rules]]
name = "walkthrough-sensitive-burst"
kind = "sensitive_rpm"
threshold = {THRESHOLD}
window_s = 60
action = "suspend"
cooldown_s = 0
"""


@contextlib.contextmanager
def chromium() -> Iterator:
    """A headless Chromium of its own (its own cookies and storage: one person's browser)."""
    binary = next((path for path in CHROMIUM if Path(path).exists()), None) or shutil.which("chromium")
    driver_path = CHROMEDRIVER if Path(CHROMEDRIVER).exists() else shutil.which("chromedriver")
    if not binary or not driver_path:
        pytest.skip("no headless browser: Debian's chromium and chromium-driver are not installed (`make browser` installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="tollgate-walk-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
        try:
            yield driver
        finally:
            driver.quit()


class Person(Page):
    """One person's browser on the console: pages by path, forms by field id, screenshots."""

    def __init__(self, driver, base: str, name: str):
        super().__init__(driver)
        self.base, self.name = base, name

    def open(self, path: str) -> None:
        self.driver.get(path if path.startswith("http") else f"{self.base}{path}")

    def type(self, element_id: str, text: str) -> None:
        field = self.wait(lambda: self.find(element_id))
        field.clear()
        field.send_keys(text)

    def click(self, element_id: str) -> None:
        self.wait(lambda: self.find(element_id).is_displayed())
        self.find(element_id).click()

    def until_path(self, path: str) -> None:
        self.wait(lambda: self.driver.current_url.split("?")[0].split("#")[0].endswith(path))

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.driver.save_screenshot(str(ARTIFACTS / f"walkthrough-{name}.png"))

    def log_in(self, email: str, password: str) -> None:
        self.open("/console/login")
        self.wait(lambda: self.state() == "ready")
        self.type("login-email", email)
        self.type("login-password", password)
        self.click("login-button")
        self.until_path("/dashboard")
        self.wait(lambda: self.state() == "ready")

    def create_key(self, name: str) -> str:
        """Tokens page: a new key, its secret shown once."""
        self.nav("tokens")
        self.type("new-key-name", name)
        self.click("create-key-button")
        self.wait(lambda: self.find("secret-box").is_displayed() and self.text("new-key-secret").startswith("sk-"))
        secret = self.text("new-key-secret")
        self.wait(lambda: any(row[0].startswith(name) for row in self.rows("keys-table")))
        self.click("dismiss-secret")
        return secret

    def refresh_until(self, condition, timeout: float = 20.0) -> None:
        """Refresh the console (not too often: a session is held to the web limit) until ``condition()``."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"{self.name}: not seen after {timeout} s"
            time.sleep(1.5)
            self.click("refresh")
            self.wait(lambda: self.state() == "ready")


def sdk(stack, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)


def chat(client: openai.OpenAI, model: str = "sim-1"):
    messages = [{"role": "user", "content": "translate this"}]
    return client.chat.completions.with_raw_response.create(model=model, messages=messages, max_tokens=5)


@pytest.fixture(scope="module")
def postgres_stack(tmp_path_factory, postgres_dsn) -> Iterator[Stack]:
    """A second stack whose accounts service keeps its data in PostgreSQL (a schema of its own)."""
    import psycopg

    schema = f"tollgate_walk_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_dsn, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        data_dir = tmp_path_factory.mktemp("walk-postgres")
        catalog = data_dir / "catalog.toml"
        catalog.write_text(contract_catalog())
        separator = "&" if "?" in postgres_dsn else "?"
        env = {**stack_env(), "TOLLGATE_ACCOUNTS_DB": f"{postgres_dsn}{separator}options=-csearch_path%3D{schema}"}
        second = Stack(data_dir=data_dir, ports=Ports.free(), catalog=catalog, extra_env=env, log_to_files=True)
        second.start()
        try:
            yield second
        finally:
            second.stop()
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def walk_stack(request) -> Iterator[Stack]:
    """The stack the walk runs on (accounts in SQLite: the suite's; in PostgreSQL: a second one),
    with the walk's risk rule in its risk.toml (hot-reloaded), removed afterwards."""
    chosen: Stack = request.getfixturevalue("stack" if request.param == "sqlite" else "postgres_stack")
    path = Path(chosen.settings.data_dir) / "risk.toml"
    path.write_text(RULES)
    yield chosen
    path.unlink(missing_ok=True)


def test_a_new_person_walks_through_the_console(walk_stack) -> None:
    stack, admin_token = walk_stack, walk_stack.settings.admin_credential
    outbox, base = stack.settings.outbox_path, stack.metering_url
    tag = secrets.token_hex(3)
    owner_email, mate_email = f"walk-owner-{tag}@example.com", f"walk-mate-{tag}@example.com"
    password = "walk password " + secrets.token_hex(4)

    with chromium() as owner_driver, chromium() as admin_driver, chromium() as mate_driver:
        owner = Person(owner_driver, base, "owner")
        admin = Person(admin_driver, base, "admin")
        mate = Person(mate_driver, base, "teammate")

        # 1. Register, verify from the outbox, log in.
        owner.open("/console/register")
        owner.wait(lambda: owner.state() == "ready")
        owner.type("register-email", owner_email)
        owner.type("register-name", "Ada")
        owner.type("register-org", f"Walk Org {tag}")
        owner.type("register-password", password)
        owner.click("register-button")
        owner.wait(lambda: "Almost done" in owner.text("message"))
        owner.open(link(outbox, owner_email, "verify"))
        owner.wait(lambda: "confirmed" in owner.text("message"))
        owner.log_in(owner_email, password)
        who = owner.text("who")
        assert who.startswith("owner · acct_"), who
        account_id = who.split(" · ")[1]
        owner.shot("1-dashboard")

        # 2. A key from the Tokens page; the openai SDK with it.
        owner_key = owner.create_key("walk-owner-key")
        client = sdk(stack, owner_key)
        raw = chat(client)
        request_id = raw.headers["x-request-id"]
        assert raw.parse().choices[0].message.content

        # 3. The request in Statistics.
        owner.nav("statistics")
        owner.refresh_until(lambda: any(row[1] == request_id for row in owner.rows("requests-table")))
        row = next(r for r in owner.rows("requests-table") if r[1] == request_id)
        assert row[2] == "walk-owner-key" and row[3] == "sim-1" and row[5] == "200", row
        owner.shot("2-statistics")

        # 4. The admin mints a code in the admin console; the owner redeems it on Billing.
        admin.open("/dashboard")
        admin.wait(lambda: admin.state() == "signed-out")
        admin.type("credential", admin_token)
        admin.click("signin-button")
        admin.wait(lambda: admin.state() == "ready" and admin.text("who") == "admin")
        admin.nav("admin-codes")
        for field, value in (("codes-count", "1"), ("codes-amount", "2"), ("codes-days", "7")):
            admin.type(field, value)
        admin.type("codes-note", f"walk-through {tag}")
        admin.click("codes-create")
        admin.wait(lambda: admin.find("codes-secrets").is_displayed())
        code = admin.text("codes-secret-list")
        assert code.startswith("TGC-") and "\n" not in code
        admin.shot("3-admin-codes")

        owner.nav("billing")
        before = owner.text("balance")
        owner.type("redeem-code", code)
        owner.click("redeem-button")
        owner.wait(lambda: owner.text("redeem-result").startswith(f"Redeemed {usd(2_000_000)}."))
        owner.wait(lambda: owner.text("balance") != before)
        owner.wait(lambda: owner.rows("ledger-table") and owner.rows("ledger-table")[0][2:4] == ["redemption", usd(2_000_000)])
        owner.shot("4-billing")

        # 5. Members & roles (from the navigation): invite a teammate, who joins as developer in their own browser.
        owner.nav("members")
        assert owner.text("members-org") == f"Walk Org {tag}"
        owner.click("members-open")
        owner.until_path("/console/members")
        owner.wait(lambda: owner.state() == "ready")
        sent = len(mails(outbox))
        owner.type("invite-email", mate_email)
        owner.Select(owner.find("invite-role")).select_by_value("developer")
        owner.click("invite-button")
        owner.wait(lambda: any(mate_email in " ".join(r) and "developer" in r for r in owner.rows("invitations-table")))

        mate.open(link(outbox, mate_email, "invite", after=sent))
        mate.wait(lambda: mate.state() == "ready")
        assert "developer" in mate.text("invite-text")
        mate.type("invite-name", "Grace")
        mate.type("invite-password", "mate password " + secrets.token_hex(4))
        mate.click("invite-button")
        mate.until_path("/console/members")
        mate.wait(lambda: mate.state() == "ready" and mate.text("my-role") == "developer")
        mate.wait(lambda: mate.find("budgets-card").get_attribute("data-state") == "ready")
        assert not mate.find("budget-form").is_displayed()  # a developer sees budgets, does not set them
        mate.shot("5-teammate-joined")

        # The teammate's own key (their session: the key is theirs) and a first answer.
        mate.open("/dashboard")
        mate.wait(lambda: mate.state() == "ready")
        assert mate.text("who") == f"developer · {account_id}"
        mate_client = sdk(stack, mate.create_key("walk-mate-key"))
        assert chat(mate_client).parse().choices

        # 6. The owner sets the teammate's member budget on Members & roles; the teammate gets 402.
        owner.open("/console/members")
        owner.wait(lambda: owner.find("budgets-card").get_attribute("data-state") == "ready" and owner.find("budget-form").is_displayed())
        owner.wait(lambda: mate_email in [o.text for o in owner.find("budget-subject").find_elements(owner.By.TAG_NAME, "option")])
        owner.select("budget-scope", "member")
        owner.Select(owner.find("budget-subject")).select_by_visible_text(mate_email)
        owner.type("budget-day", "0.0001")  # 100 micro-USD a day
        owner.click("budget-button")
        owner.wait(lambda: owner.text("budget-result").startswith("Saved:"))
        owner.wait(lambda: any(r[:3] == ["member", mate_email, usd(100)] for r in owner.rows("budgets-table")))
        owner.shot("6-budget")

        def refused_by_budget() -> openai.APIStatusError | None:
            try:
                chat(mate_client)
            except openai.APIStatusError as err:
                return err
            return None

        refusal = eventually(refused_by_budget, 30.0, 0.2)
        assert refusal is not None and refusal.status_code == 402, refusal
        assert refusal.body["code"] == "budget_exceeded", refusal.body
        assert chat(client).parse().choices  # the owner's key is not bound by the teammate's budget

        # 7. Synthetic traffic on the high-sensitivity model: the rule suspends the organisation's account.
        sent_sensitive = 0
        suspended: openai.PermissionDeniedError | None = None
        deadline = time.monotonic() + 20
        while suspended is None and time.monotonic() < deadline:
            try:
                chat(client, SENSITIVE)
                sent_sensitive += 1
                time.sleep(0.02 if sent_sensitive <= THRESHOLD else 0.1)
            except openai.PermissionDeniedError as err:
                suspended = err
        assert suspended is not None and suspended.body["code"] == "account_suspended", suspended
        assert sent_sensitive > THRESHOLD
        with pytest.raises(openai.PermissionDeniedError):  # the whole organisation: the teammate's key too
            mate_client.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": "hi"}], max_tokens=5)

        # 8. The teammate sees the suspension but leaves the request to the owner; the owner files it.
        mate.open("/console/risk")
        mate.wait(lambda: mate.state() == "ready" and mate.text("standing-status") == "suspended")
        assert "owner or an admin" in mate.text("reactivation-open") and not mate.find("reactivation").is_displayed()
        owner.open("/dashboard#/tickets")
        owner.wait(lambda: owner.state() == "ready")
        owner.wait(lambda: owner.text("tickets-status") == "suspended")
        owner.click("tickets-open")
        owner.until_path("/console/risk")
        owner.wait(lambda: owner.state() == "ready" and owner.text("standing-status") == "suspended")
        assert "walkthrough-sensitive-burst" in owner.text("standing-reason")
        owner.type("reactivation-message", "A translation job looped on the reasoning model; it is fixed now.")
        owner.click("reactivation-submit")
        owner.wait(lambda: "waiting for an operator" in owner.text("reactivation-open"))
        owner.shot("7-reactivation-request")

        # 9. The admin reactivates from the risk queue.
        admin.nav("admin-risk")
        admin.wait(lambda: "1 reactivation" in admin.text("risk-summary") or "reactivation request" in admin.text("risk-summary"))
        admin.click("risk-open")
        admin.until_path("/console/risk")
        admin.wait(lambda: admin.state() == "ready" and admin.text("who") == "admin")
        admin.wait(lambda: account_id in {row[1] for row in admin.rows("queue")})
        assert any(r[1] == account_id and r[3] == "suspend" for r in admin.rows("records"))
        admin.shot("8-risk-queue")
        admin.driver.find_element(admin.By.CSS_SELECTOR, f'#queue tr[data-account="{account_id}"] button[data-approve]').click()
        admin.wait(lambda: account_id not in {row[1] for row in admin.rows("queue")})

        if "TOLLGATE_ACCOUNTS_DB" in stack.extra_env:  # the walk's data is in PostgreSQL
            import psycopg

            with psycopg.connect(stack.extra_env["TOLLGATE_ACCOUNTS_DB"], connect_timeout=3) as db:
                users = db.execute("SELECT count(*) FROM users WHERE email IN (%s, %s)", (owner_email, mate_email)).fetchone()
                budgets = db.execute("SELECT count(*) FROM budgets WHERE account_id = %s", (account_id,)).fetchone()
            assert (users, budgets) == ((2,), (1,)), (users, budgets)

        # 10. The owner's key works again; the console says so.
        def served_again() -> bool:
            try:
                return bool(chat(client).parse().choices)
            except openai.PermissionDeniedError:
                return False

        assert eventually(served_again, 5.0), "the admin's reactivation did not reach the edge"
        owner.click("refresh")
        owner.wait(lambda: owner.state() == "ready" and owner.text("standing-status") == "active")
        assert owner.rows("my-requests")[0][3] == "approved"
        owner.shot("9-reactivated")
        for person in (owner, admin, mate):
            assert not [e for e in person.errors() if "favicon" not in e and " 402 " not in e and " 403 " not in e], person.name
        sessions = [driver.get_cookie("tollgate_session")["value"] for driver in (owner_driver, mate_driver)]

    # Nothing of what the walk typed or was shown is in a log or a store (the outbox holds the mailed links only).
    walked = {"password": password, "owner's key": owner_key, "redemption code": code, "owner's session": sessions[0]}
    walked["teammate's session"] = sessions[1]
    files = [p for p in Path(stack.settings.data_dir).rglob("*") if p.is_file() and p.name not in ("catalog.toml", "risk.toml")]
    assert any(p.suffix == ".log" for p in files)
    for path in files:
        data = path.read_bytes()
        found = [what for what, value in walked.items() if value.encode() in data]
        assert not found, f"{found} found in {path}"
