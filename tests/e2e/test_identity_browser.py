"""A new person in headless Chromium against the running stack: register -> verify from the
outbox -> log in (cookie session) -> the console (dashboard) shows their account and free
quota -> Members & roles: invite a teammate -> sign out -> the teammate opens the mailed
link, registers through it and lands in the organisation as developer. Screenshots in
tests/artifacts/identity-*.png."""

from __future__ import annotations

import secrets
import time

from tests.e2e.identity_util import link, mails
from tests.e2e.test_dashboard import ARTIFACTS, browser, usd  # noqa: F401 - the headless Chromium fixture

FREE = 1_000_000  # TOLLGATE_FREE_QUOTA_MICROS in tests/conftest.py


class Browser:
    def __init__(self, driver, base: str):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select, WebDriverWait

        self.driver, self.base, self.By, self.Select = driver, base, By, Select
        self.wait = WebDriverWait(driver, 20)

    def open(self, path: str) -> None:
        self.driver.get(path if path.startswith("http") else f"{self.base}{path}")

    def el(self, element_id: str):
        return self.wait.until(lambda d: d.find_element(self.By.ID, element_id))

    def type(self, element_id: str, text: str) -> None:
        field = self.el(element_id)
        field.clear()
        field.send_keys(text)

    def text(self, element_id: str) -> str:
        return self.el(element_id).text

    def until_text(self, element_id: str, contains: str) -> str:
        self.wait.until(lambda d: contains in d.find_element(self.By.ID, element_id).text)
        return self.text(element_id)

    def until_state(self, state: str) -> None:
        self.wait.until(lambda d: d.find_element(self.By.TAG_NAME, "body").get_attribute("data-state") == state)

    def until_path(self, path: str) -> None:
        self.wait.until(lambda d: d.current_url.split("?")[0].endswith(path))

    def rows(self, table_id: str) -> list[str]:
        """The table's rows' text, read in one script (a table redrawn between reads leaves no stale row behind)."""
        script = "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr'), row => row.innerText);"
        return list(self.driver.execute_script(script, table_id))

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.driver.save_screenshot(str(ARTIFACTS / f"identity-{name}.png"))


def test_register_verify_login_console_and_invite_a_developer(stack, browser) -> None:  # noqa: F811
    outbox = stack.settings.outbox_path
    page = Browser(browser, stack.metering_url)
    owner, mate = f"ada-{secrets.token_hex(3)}@example.com", f"grace-{secrets.token_hex(3)}@example.com"
    password = "browser password " + secrets.token_hex(3)

    # Register.
    page.open("/console/register")
    page.until_state("ready")
    page.type("register-email", owner)
    page.type("register-name", "Ada")
    page.type("register-org", "Analytical Engines")
    page.type("register-password", password)
    page.el("register-button").click()
    assert owner in page.until_text("message", "Almost done")
    page.shot("registered")

    # Logging in before verifying says so, and offers the link again.
    page.open("/console/login")
    page.until_state("ready")
    page.type("login-email", owner)
    page.type("login-password", password)
    page.el("login-button").click()
    assert "Confirm your email address" in page.until_text("error", "Confirm")
    first_link = link(outbox, owner, "verify")
    page.el("resend-button").click()
    page.until_text("message", "new confirmation link")
    page.wait.until(lambda _: link(outbox, owner, "verify") != first_link)

    # Verify from the outbox (the newest link; the first one works too until used).
    page.open(link(outbox, owner, "verify"))
    assert usd(FREE)[:5] in page.until_text("message", "confirmed")  # "$1.00" free quota
    page.el("to-login").click()
    page.until_path("/console/login")

    # Log in: the dashboard opens on the cookie session and shows the account.
    page.until_state("ready")
    page.type("login-email", owner)
    page.type("login-password", password)
    page.el("login-button").click()
    page.until_path("/dashboard")
    page.until_state("ready")
    assert "owner" in page.until_text("who", "acct_")
    assert page.until_text("stat-balance", usd(FREE)) == usd(FREE)
    cookies = {c["name"]: c for c in browser.get_cookies()}
    assert cookies["tollgate_session"]["httpOnly"] and cookies["tollgate_session"]["secure"]
    assert cookies["tollgate_session"]["sameSite"] == "Lax" and not cookies["tollgate_csrf"]["httpOnly"]
    assert "tollgate_session" not in browser.execute_script("return document.cookie")  # HttpOnly: no script reads it
    page.shot("dashboard")

    # Members & roles: invite a teammate as developer.
    page.el("members-link").click()
    page.until_path("/console/members")
    page.until_state("ready")
    assert page.text("org-name") == "Analytical Engines" and page.text("my-role") == "owner"
    assert any(owner in row and "owner" in row for row in page.rows("members-table"))
    before = len(mails(outbox))
    page.type("invite-email", mate)
    page.Select(page.el("invite-role")).select_by_value("developer")
    page.el("invite-button").click()
    page.wait.until(lambda _: any(mate in row and "developer" in row for row in page.rows("invitations-table")))
    page.type("team-name", "Difference Engine")
    page.el("team-button").click()
    page.wait.until(lambda _: any("Difference Engine" in row for row in page.rows("teams-table")))
    page.shot("members-owner")
    page.el("sign-out").click()
    page.until_path("/console/login")
    assert "tollgate_session" not in {c["name"] for c in browser.get_cookies()}

    # The teammate accepts through the mailed link, choosing a password, and joins as developer.
    page.open(link(outbox, mate, "invite", after=before))
    page.until_state("ready")
    assert "developer" in page.text("invite-text") and page.text("invite-title") == "Join Analytical Engines"
    page.type("invite-name", "Grace")
    page.type("invite-password", "grace password " + secrets.token_hex(3))
    page.el("invite-button").click()
    page.until_path("/console/members")
    page.until_state("ready")
    assert page.text("my-role") == "developer" and mate in page.text("who")
    rows = page.rows("members-table")
    assert any(owner in row and "owner" in row for row in rows) and any(mate in row and "developer" in row for row in rows)
    assert not page.el("invite-form").is_displayed()  # a developer does not invite
    page.shot("members-developer")

    # The developer's dashboard shows the same account.
    page.open("/dashboard")
    page.until_state("ready")
    assert "developer" in page.until_text("who", "acct_")
    time.sleep(0.1)


def test_single_sign_on_in_the_browser(stack, browser) -> None:  # noqa: F811
    """An owner turns on single sign-on on Members & roles; a colleague signs in through the
    organisation's OpenID Connect provider and lands on the dashboard as developer."""
    import httpx

    from tests.fake_oidc import FakeOidcProvider

    outbox = stack.settings.outbox_path
    owner, password = f"oidc-owner-{secrets.token_hex(3)}@example.com", "owner password " + secrets.token_hex(3)
    api = f"{stack.metering_url}/console/api/identity"
    assert httpx.post(f"{api}/register", json={"email": owner, "password": password, "org_name": "SSO Org"}, timeout=30).status_code == 201
    assert httpx.post(f"{api}/verify", json={"token": link(outbox, owner, "verify").split("token=")[1]}, timeout=30).status_code == 200
    provider = FakeOidcProvider(user={"sub": "c-1", "email": f"colleague-{secrets.token_hex(3)}@corp.example", "email_verified": True})
    provider.start()
    page = Browser(browser, stack.metering_url)
    try:
        browser.delete_all_cookies()
        page.open("/console/login")
        page.until_state("ready")
        page.type("login-email", owner)
        page.type("login-password", password)
        page.el("login-button").click()
        page.until_path("/dashboard")
        page.open("/console/members")
        page.until_state("ready")
        org_id = page.text("org-id")
        assert org_id.startswith("org_") and page.text("oidc-status") == "off"
        page.type("oidc-issuer", provider.issuer)
        page.type("oidc-client", provider.client_id)
        page.type("oidc-domain", "corp.example")
        page.el("oidc-button").click()
        page.until_text("oidc-status", "on")
        page.shot("sso-settings")
        page.el("sign-out").click()
        page.until_path("/console/login")

        # The colleague: organisation id, then the provider, then back on the dashboard.
        page.until_state("ready")
        browser.find_element(page.By.CSS_SELECTOR, "details summary").click()
        page.type("sso-org", org_id)
        page.el("sso-button").click()
        page.until_path("/dashboard")
        page.until_state("ready")
        assert "developer" in page.until_text("who", "acct_")
        assert {"/.well-known/openid-configuration", "/authorize", "/token", "/jwks"} <= set(provider.requests)
        session = {c["name"]: c["value"] for c in browser.get_cookies()}
        who = httpx.get(f"{api}/session", headers={"cookie": f"tollgate_session={session['tollgate_session']}"}, timeout=30).json()[
            "session"
        ]
        assert (who["email"], who["org_name"], who["role"], who["via"]) == (provider.user["email"], "SSO Org", "developer", "oidc")
    finally:
        provider.stop()
