"""The admin console's Groups page in headless Chromium: the catalog's pricing groups with
their multipliers and models, and moving an account into a group — which its key then sees
in /v1/models (only the group's models)."""

from __future__ import annotations

import httpx

from tests.e2e.test_console import nav_entries
from tests.e2e.test_dashboard import ARTIFACTS, Page, browser, eventually

__all__ = ["browser"]


def test_the_admin_moves_an_account_into_a_group_on_the_groups_page(stack, new_account, admin_token, browser) -> None:
    account_id, key = new_account(name="groups-page")
    page = Page(browser)
    page.sign_in(f"{stack.metering_url}/dashboard", admin_token)
    assert "admin-groups" in nav_entries(page)
    page.nav("admin-groups")
    groups = {row[0]: row for row in page.rows("groups-table")}
    assert groups["vip"][1] == "×2.5", groups["vip"]
    assert "sim-1" in groups["vip"][2]

    page.find("group-account").clear()
    page.find("group-account").send_keys(account_id)
    page.select("group-name", "vip")
    page.find("group-button").click()
    page.wait(lambda: page.text("group-result") == f"{account_id} is now in group vip.")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "admin-groups.png"))

    mine = httpx.get(f"{stack.metering_url}/console/api/groups", headers={"authorization": f"Bearer {key}"}, timeout=10).json()
    assert mine["group"] == "vip"

    def models() -> set[str]:
        listed = httpx.get(f"{stack.edge_url}/models", headers={"authorization": f"Bearer {key}"}, timeout=10)
        return {m["id"] for m in listed.json()["data"]}

    assert eventually(lambda: "sim-1" in models() and "sim-sensitive" not in models(), 5.0), models()

    # a group the catalog does not define is refused in the page's banner, and nothing changes
    page.driver.execute_script("document.getElementById('group-name').append(new Option('nope', 'nope'))")
    page.select("group-name", "nope")
    page.find("group-button").click()
    page.wait(lambda: "no group 'nope'" in page.text("banner"))
