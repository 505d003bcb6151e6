// tollgate-console-module
// Admin: every account (balance, status), each one a click away from its pages. A page
// module as other branches write them: found by its first line, it builds its own content
// in the mount the shell gives it.

import { $, api, el, fillTable, usd, utc } from "./api.js";
import { registerPage } from "./console.js";

function open(accountId, slot) {
  const select = $("account-select");
  select.value = accountId;
  select.dispatchEvent(new Event("change"));
  window.location.hash = `#/${slot}`;
}

function build(mount) {
  mount.append(el("section", { class: "card" },
    el("div", { class: "card-head" }, el("h2", {}, "Accounts"), el("span", { class: "note" }, "every account of this installation"),
      el("input", { id: "accounts-filter", placeholder: "Filter by name or id", "aria-label": "Filter accounts" })),
    el("div", { class: "table-wrap" }, el("table", { class: "data", id: "accounts-table" },
      el("thead", {}, el("tr", {}, ["Name", "Account", "Balance", "Status", "Created (UTC)", ""].map((h) => el("th", {}, h)))),
      el("tbody")))));
}

class Listing {
  constructor() {
    this.accounts = [];
  }

  async load() {
    this.accounts = (await api("/v1/accounts", { params: { limit: 1000 } })).accounts;
    this.draw();
  }

  draw() {
    const needle = $("accounts-filter").value.trim().toLowerCase();
    const shown = this.accounts.filter((a) => !needle || a.name.toLowerCase().includes(needle) || a.account_id.includes(needle));
    fillTable($("accounts-table"), shown.map((a) => el("tr", { dataset: { accountId: a.account_id, status: a.status } },
      el("td", {}, a.name), el("td", { class: "mono" }, a.account_id), el("td", { class: "num" }, usd(a.balance_micros)),
      el("td", { class: "wrap" }, a.status === "active" ? "active" : `${a.status}: ${a.status_reason || ""}`), el("td", {}, utc(a.created_at_ms)),
      el("td", { class: "actions" },
        el("button", { type: "button", class: "secondary small", onclick: () => open(a.account_id, "billing") }, "Billing"),
        el("button", { type: "button", class: "secondary small", onclick: () => open(a.account_id, "statistics") }, "Usage")),
    )), "No accounts.");
  }
}

const listing = new Listing();

registerPage("admin-accounts", {
  init(_ctx, mount) {
    build(mount);
    $("accounts-filter").addEventListener("input", () => listing.draw());
  },
  load: () => listing.load(),
});
