// tollgate-console-module
// Admin: organisations and their users, each organisation with its account's standing; an
// organisation is suspended by suspending its account (a manual risk action: a suspension
// record with the admin's reason). Endpoints: /console/api/identity/admin/orgs and /users
// (services/metering/console/identity.py), /v1/accounts, /console/api/risk/act (risk.py).

import { $, api, el, fillTable, utc } from "./api.js";
import { registerPage } from "./console.js";

const state = { orgs: [], accounts: new Map(), chosen: "" };

function build(ctx, mount) {
  mount.append(
    el("section", { class: "card" },
      el("div", { class: "card-head" }, el("h2", {}, "Organisations"),
        el("span", { class: "note" }, "an organisation owns one account: suspending it stops every key of the organisation"),
        el("input", { id: "orgs-filter", placeholder: "Filter by name or id", "aria-label": "Filter organisations",
          oninput: () => draw(ctx) })),
      el("p", { class: "filters" },
        el("input", { id: "orgs-reason", placeholder: "Reason for a suspension (shown to the organisation)", size: 48, maxlength: 500,
          "aria-label": "Suspension reason" })),
      el("div", { class: "table-wrap" }, el("table", { class: "data", id: "orgs-table" },
        el("thead", {}, el("tr", {}, ["Organisation", "Org id", "Account", "Status", "Created (UTC)", ""].map((h) => el("th", {}, h)))),
        el("tbody")))),
    el("section", { class: "card" },
      el("div", { class: "card-head" }, el("h2", { id: "org-users-title" }, "Users"),
        el("span", { class: "note" }, "choose an organisation's Users to list its members")),
      el("div", { class: "table-wrap" }, el("table", { class: "data", id: "org-users-table" },
        el("thead", {}, el("tr", {}, ["Email", "Name", "Verified", "Role here", "Created (UTC)"].map((h) => el("th", {}, h)))),
        el("tbody")))));
}

async function suspend(ctx, org) {
  const reason = $("orgs-reason").value.trim();
  if (!reason) throw new Error("Give a reason for the suspension first.");
  await api("/console/api/risk/act", { method: "POST", body: { account_id: org.account_id, action: "suspend", reason } });
  $("orgs-reason").value = "";
  await load(ctx);
}

async function showUsers(org) {
  state.chosen = org.org_id;
  const listed = await api("/console/api/identity/admin/users", { params: { org_id: org.org_id, limit: 1000 } });
  $("org-users-title").textContent = `Users of ${org.name}`;
  fillTable($("org-users-table"), listed.users.map((u) => {
    const here = (u.memberships || []).find((m) => m.org_id === org.org_id);
    return el("tr", { dataset: { userId: u.user_id } }, el("td", {}, u.email), el("td", {}, u.name || "—"),
      el("td", {}, u.email_verified ? "yes" : "no"), el("td", {}, here ? here.role : "—"), el("td", {}, utc(u.created_at_ms)));
  }), "No users.");
}

function draw(ctx) {
  const needle = $("orgs-filter").value.trim().toLowerCase();
  const shown = state.orgs.filter((o) => !needle || o.name.toLowerCase().includes(needle) || o.org_id.includes(needle) || o.account_id.includes(needle));
  fillTable($("orgs-table"), shown.map((o) => {
    const account = state.accounts.get(o.account_id);
    const status = account ? account.status : "—";
    return el("tr", { dataset: { orgId: o.org_id, accountId: o.account_id, status } },
      el("td", {}, o.name), el("td", { class: "mono" }, o.org_id), el("td", { class: "mono" }, o.account_id),
      el("td", { class: "wrap" }, account && status !== "active" ? `${status}: ${account.status_reason || ""}` : status),
      el("td", {}, utc(o.created_at_ms)),
      el("td", { class: "actions" },
        el("button", { type: "button", class: "secondary small", dataset: { users: o.org_id }, onclick: () => ctx.run("orgs", () => showUsers(o)) }, "Users"),
        status === "active" ? el("button", { type: "button", class: "small", dataset: { suspend: o.org_id },
          onclick: () => ctx.run("orgs", () => suspend(ctx, o)) }, "Suspend") : null));
  }), "No organisations yet.");
}

async function load(ctx) {
  const [orgs, accounts] = await Promise.all([
    api("/console/api/identity/admin/orgs", { params: { limit: 1000 } }), api("/v1/accounts", { params: { limit: 1000 } }),
  ]);
  state.orgs = orgs.orgs;
  state.accounts = new Map(accounts.accounts.map((a) => [a.account_id, a]));
  draw(ctx);
  const chosen = state.orgs.find((o) => o.org_id === state.chosen);
  if (chosen) await showUsers(chosen);
}

registerPage("admin-orgs", { init: (ctx, mount) => build(ctx, mount), load });
